"""Linear probes on frozen features: standardised features, multinomial logistic regression."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import InputError
from ..model.folder import update_config


@dataclass(frozen=True)
class ProbeResult:
    top1: float
    top5: float
    train_size: int
    test_size: int


def _check(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise InputError(f"{what}: expected features [N, D] and labels [N], got {x.shape} and {y.shape}")
    if not np.isfinite(x).all():
        raise InputError(f"{what}: features contain NaN or infinity")


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                 c: float = 1.0, max_iter: int = 2000) -> ProbeResult:
    """Fit on the training features, report top-1 / top-5 accuracy on the test features."""
    _check(train_x, train_y, "training set")
    _check(test_x, test_y, "test set")
    if train_x.shape[1] != test_x.shape[1]:
        raise InputError(f"training features have {train_x.shape[1]} dims, test features {test_x.shape[1]}")
    classes = np.unique(train_y)
    if len(classes) < 2:
        raise InputError("a probe needs at least two classes in the training set")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter))
    probe.fit(train_x, train_y)
    ranked = classes[np.argsort(-probe.predict_proba(test_x), axis=1)]  # test labels unseen in training never match
    top1 = float(np.mean(ranked[:, 0] == test_y))
    top5 = float(np.mean((ranked[:, :5] == test_y[:, None]).any(1)))
    return ProbeResult(top1, top5, len(train_y), len(test_y))


def layer_sweep(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                layers: list[int], c: float = 1.0) -> dict[int, ProbeResult]:
    """Probe each layer of [N, L, D] features; keys are the layer numbers given."""
    if train_x.ndim != 3 or test_x.ndim != 3:
        raise InputError("a layer sweep needs features of shape [N, layers, D]")
    return {layer: linear_probe(train_x[:, i], train_y, test_x[:, i], test_y, c) for i, layer in enumerate(layers)}


def best_layer(results: dict[int, ProbeResult]) -> int:
    return max(results, key=lambda layer: (results[layer].top1, results[layer].top5))


def align_labels(train: dict, test: dict) -> np.ndarray:
    """Test labels renumbered into the training set's class list (unknown classes -> -1)."""
    train_classes, test_classes = json.loads(str(train["classes"])), json.loads(str(test["classes"]))
    lookup = np.array([train_classes.index(c) if c in train_classes else -1 for c in test_classes])
    return lookup[test["labels"]]


def record_feature_layer(folder: Path, layer: int) -> Path:
    """Store the probe's best layer in a weights folder's config.json (used when layer=None)."""
    return update_config(folder, {"bigr": {"feature_layer": int(layer)}})
