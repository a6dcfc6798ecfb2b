"""Putting a generated picture back into the original: hard, feathered or Poisson blending."""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from ..checks import one_of, real_number

BLEND_MODES = ("none", "feather", "poisson")


def feather_alpha(mask: np.ndarray, radius: float) -> np.ndarray:
    """1 deep inside the mask, ramping to 0 at its edge over `radius` pixels, 0 outside."""
    if radius <= 0:
        return mask.astype(np.float32)
    inside = np.pad(mask.astype(np.uint8), 1, constant_values=1)  # the picture's border is no edge
    dist = cv2.distanceTransform(inside, cv2.DIST_L2, 5)[1:-1, 1:-1]
    # clip before dividing: a mask with no edge has distances near float32's limit, and radii can be tiny
    return np.minimum(dist, radius) / radius * mask


def poisson_blend(original: np.ndarray, generated: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """cv2.seamlessClone of the masked generated pixels into the original (uint8 RGB arrays)."""
    pad = 2  # seamlessClone needs the masked region clear of the border
    src = cv2.copyMakeBorder(generated, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    dst = cv2.copyMakeBorder(original, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    m = np.pad(mask.astype(np.uint8) * 255, pad)
    x, y, w, h = cv2.boundingRect(m)
    if min(w, h) < 3:  # seamlessClone cannot solve a region this thin; nothing to smooth anyway
        return np.where(mask[..., None], generated, original)
    # Make the box even-sized so that the clone lands exactly where it came from.
    if w % 2:
        m[y : y + h, x + w] = np.maximum(m[y : y + h, x + w], m[y : y + h, x + w - 1])
        w += 1
    if h % 2:
        m[y + h, x : x + w] = np.maximum(m[y + h, x : x + w], m[y + h - 1, x : x + w])
        h += 1
    out = cv2.seamlessClone(src, dst, m, (x + w // 2, y + h // 2), cv2.NORMAL_CLONE)
    return out[pad:-pad, pad:-pad]


def check_blend(mode: str, radius: float) -> None:
    one_of("blend", mode, BLEND_MODES)
    real_number("feather radius", radius, 0.0)


def blend(original: Image.Image, generated: Image.Image, mask: np.ndarray, mode: str = "feather",
          radius: float = 4.0) -> Image.Image:
    """Composite `generated` over `original` (same size) inside the bool pixel `mask`.

    With 'none' and 'feather' the pixels outside the mask are the original's, unchanged.
    """
    check_blend(mode, radius)
    orig = np.asarray(original.convert("RGB"))
    gen = np.asarray(generated.convert("RGB"))
    if not mask.any():
        return original.convert("RGB").copy()
    if mode == "poisson" and (~mask).any():
        return Image.fromarray(poisson_blend(orig, gen, mask))
    alpha = feather_alpha(mask, radius if mode == "feather" else 0.0)[..., None]
    out = orig.astype(np.float32) * (1 - alpha) + gen.astype(np.float32) * alpha
    return Image.fromarray(np.where(mask[..., None], out.round(), orig).astype(np.uint8))
