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

from .errors import InputError

FEATURE_KINDS = ("bigr", "bits", "pixels")
POOLINGS = ("avg", "cls")


def pool_tokens(hidden: torch.Tensor, pooling: str) -> torch.Tensor:
    """[B, 1 + N, D] (class token first) -> [B, D]."""
    if pooling == "avg":
        return hidden[:, 1:].float().mean(1)
    if pooling == "cls":
        return hidden[:, 0].float()
    raise InputError(f"pooling must be one of {POOLINGS}, got {pooling!r}")


class FeaturesMixin:
    """Engine methods for representations (mixed into `Engine`)."""

    @property
    def feature_layer(self) -> int:
        """The layer recorded by the probe in the model's config, else the middle layer."""
        cfg = self._require_bigr().cfg
        return cfg.feature_layer if cfg.feature_layer is not None else cfg.n_layer // 2

    def _check_layer(self, layer: int | None) -> int:
        n = self._require_bigr().cfg.n_layer
        layer = self.feature_layer if layer is None else layer
        if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)) or not 0 <= layer < n:
            raise InputError(f"layer must be an integer in [0, {n - 1}], got {layer!r}")
        return int(layer)

    def _unmasked_inputs(self, images, fit_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Deterministic bits [B, N, K] and the null-class condition [B, D]."""
        bits = self.encode(images, fit_mode)
        b = bits.shape[0]
        return bits.reshape(b, -1, self.bits).float(), self._require_bigr().backbone.null_condition(b)

    @torch.inference_mode()
    def layer_features(self, images: Image.Image | Iterable[Image.Image] | torch.Tensor, pooling: str = "avg",
                       fit_mode: str = "crop") -> np.ndarray:
        """Pooled hidden states of every layer in one pass: float32 [B, layers, D]."""
        bits, null = self._unmasked_inputs(images, fit_mode)
        with self._autocast():
            states = self.bigr.backbone.layer_states(bits, None, null)
            pooled = [pool_tokens(h, pooling) for h in states]
        return torch.stack(pooled, 1).cpu().numpy()

    @torch.inference_mode()
    def features(self, images: Image.Image | Iterable[Image.Image] | torch.Tensor, layer: int | None = None,
                 pooling: str = "avg", fit_mode: str = "crop") -> np.ndarray:
        """BiGR features: float32 [B, D] from `layer` (default: the model's best layer)."""
        layer = self._check_layer(layer)
        bits, null = self._unmasked_inputs(images, fit_mode)
        with self._autocast():
            hidden = self.bigr.backbone.hidden_states(bits, None, null, layer)
            return pool_tokens(hidden, pooling).cpu().numpy()

    def bit_features(self, images, fit_mode: str = "crop") -> np.ndarray:
        """The tokenizer's deterministic bits, flattened: float32 [B, h * w * K] in {0, 1}."""
        bits = self.encode(images, fit_mode)
        return bits.reshape(bits.shape[0], -1).float().cpu().numpy()

    def pixel_features(self, images, fit_mode: str = "crop") -> np.ndarray:
        """The model-resolution RGB pixels, flattened: float32 [B, 3 * H * W] in [0, 1]."""
        x = self.images_to_tensor(images, fit_mode)
        return x.reshape(x.shape[0], -1).cpu().numpy()

    def features_of_kind(self, kind: str, images, fit_mode: str = "crop") -> np.ndarray:
        """'bigr' -> [B, layers, D] (every layer); 'bits' / 'pixels' -> [B, 1, F]."""
        if kind == "bigr":
            return self.layer_features(images, fit_mode=fit_mode)
        if kind == "bits":
            return self.bit_features(images, fit_mode)[:, None]
        if kind == "pixels":
            return self.pixel_features(images, fit_mode)[:, None]
        raise InputError(f"feature kind must be one of {FEATURE_KINDS}, got {kind!r}")
