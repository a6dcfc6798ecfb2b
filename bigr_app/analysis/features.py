"""Image features: BiGR's average-pooled hidden states, and the two baselines it is compared with.

BiGR reads the full, unmasked token sequence with the null class; the hidden states of an
intermediate layer, averaged over the image tokens, are the representation (paper, Sec. 4.3).
The baselines are the tokenizer's bits (flattened) and the raw pixels.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
from PIL import Image

from ..pipeline import Pipeline
from ..checks import one_of, whole_number


Images = Image.Image | Iterable[Image.Image] | torch.Tensor

FEATURE_KINDS = ("bigr", "bits", "pixels")
POOLINGS = ("avg", "cls")


def pool_tokens(hidden: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, 1 + N, D] (class token first) -> [B, D]."""
    one_of("pooling", pooling, POOLINGS)
    return hidden[:, 1:].float().mean(1) if pooling == "avg" else hidden[:, 0].float()


def check_layer(engine: Pipeline, layer: int | None) -> int:
    """The layer to read (None: the model's `feature_layer`), checked against the model's depth."""
    n = engine.require_bigr().cfg.n_layer
    return whole_number("layer", engine.feature_layer if layer is None else layer, 0, n - 1)


def unmasked_inputs(engine: Pipeline, images, fit_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Deterministic bits as tokens [B, N, K] and the null-class condition [B, D]."""
    bits = engine.encode(images, fit_mode)
    b = bits.shape[0]
    return bits.reshape(b, -1, engine.bits).float(), engine.require_bigr().backbone.null_condition(b)


@torch.inference_mode()
def layer_features(engine: Pipeline, images: Images, pooling: str = "avg", fit_mode: str = "crop") -> np.ndarray:
    """Pooled hidden states of every layer in one pass: float32 [B, layers, D]."""
    tokens, null = unmasked_inputs(engine, images, fit_mode)
    with engine.autocast():
        states = engine.bigr.backbone.layer_states(tokens, None, null)
        pooled = [pool_tokens(h, pooling) for h in states]
    return torch.stack(pooled, 1).cpu().numpy()


@torch.inference_mode()
def features(engine: Pipeline, images: Images, layer: int | None = None, pooling: str = "avg",
             fit_mode: str = "crop") -> np.ndarray:
    """BiGR features: float32 [B, D] from `layer` (default: the model's best layer)."""
    layer = check_layer(engine, layer)
    tokens, null = unmasked_inputs(engine, images, fit_mode)
    with engine.autocast():
        hidden = engine.bigr.backbone.hidden_states(tokens, None, null, layer)
        return pool_tokens(hidden, pooling).cpu().numpy()


def bit_features(engine: Pipeline, images: Images, fit_mode: str = "crop") -> np.ndarray:
    """The tokenizer's deterministic bits, flattened: float32 [B, h * w * K] in {0, 1}."""
    bits = engine.encode(images, fit_mode)
    return bits.reshape(bits.shape[0], -1).float().cpu().numpy()


def pixel_features(engine: Pipeline, images: Images, fit_mode: str = "crop") -> np.ndarray:
    """The model-resolution RGB pixels, flattened: float32 [B, 3 * H * W] in [0, 1]."""
    x = engine.images_to_tensor(images, fit_mode)
    return x.reshape(x.shape[0], -1).cpu().numpy()


def features_of_kind(engine: Pipeline, kind: str, images: Images, fit_mode: str = "crop") -> np.ndarray:
    """'bigr' -> [B, layers, D] (every layer); 'bits' / 'pixels' -> [B, 1, F]."""
    one_of("feature kind", kind, FEATURE_KINDS)
    if kind == "bigr":
        return layer_features(engine, images, fit_mode=fit_mode)
    if kind == "bits":
        return bit_features(engine, images, fit_mode)[:, None]
    return pixel_features(engine, images, fit_mode)[:, None]
