"""Masks: white = regenerate. Pixel masks in any form -> the latent cells to regenerate.

A mask may be a PIL image (L, 1, RGB; RGBA uses its alpha when it has transparency, so a
painted layer works), a NumPy array or a torch tensor (bool, or numbers in [0, 1] / [0, 255]).
Soft masks are thresholded at one half. A mask of another size but the same shape as the image is
scaled to it; any other size is refused.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image

from ..errors import InputError
from ..images import Placement


def mask_array(mask, size: tuple[int, int]) -> np.ndarray:
    """Any mask form -> bool array [height, width]; `size` is the image's (width, height)."""
    if mask is None:
        raise InputError("no mask given: paint the region to regenerate")
    if isinstance(mask, Image.Image):
        if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
            rgba = mask.convert("RGBA")
            alpha = np.asarray(rgba.getchannel("A"))
            # A painted layer: the paint is where the layer is opaque.
            arr = alpha if alpha.min() < 255 else np.asarray(rgba.convert("L"))
        else:
            arr = np.asarray(mask.convert("L"))
        arr = arr.astype(np.float32) / 255.0
    elif isinstance(mask, (np.ndarray, torch.Tensor)):
        arr = mask.detach().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
        if arr.ndim == 3 and arr.shape[-1] in (1, 3, 4):
            arr = arr[..., -1] if arr.shape[-1] == 4 else arr.mean(-1)
        if arr.ndim != 2:
            raise InputError(f"a mask must be 2-D (height x width), got shape {arr.shape}")
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).all():
            raise InputError("the mask holds NaN or infinite values")
        if arr.max(initial=0) > 1.0:
            arr = arr / 255.0
    else:
        raise InputError(f"a mask must be an image or an array, got {type(mask).__name__}")
    if arr.shape != (size[1], size[0]):
        arr = rescale_mask(arr, size)
    return arr >= 0.5


def rescale_mask(arr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A mask of another size but the image's shape (a preview-sized or upscaled mask) is resized to fit;
    a mask of a different shape would be a guess, so it is refused."""
    (h, w), (width, height) = arr.shape, size
    if min(h, w) < 1 or abs((w / h) / (width / height) - 1.0) > 0.01:
        raise InputError(f"mask size {w}x{h} does not match the image size {width}x{height} "
                         "(and has a different shape, so it cannot be scaled to fit)")
    return cv2.resize(arr.astype(np.float32), (width, height), interpolation=cv2.INTER_AREA)


def fit_mask(mask: np.ndarray, place: Placement, resolution: int) -> np.ndarray:
    """Apply an image's crop/letterbox placement to its mask -> float coverage at model resolution."""
    left, top, right, bottom = place.box
    side = int(round(right - left))
    square = np.zeros((side, side), np.float32)
    x0, y0 = int(round(left)), int(round(top))
    src = mask.astype(np.float32)
    ys, xs = max(0, -y0), max(0, -x0)
    ye, xe = min(side, src.shape[0] - y0), min(side, src.shape[1] - x0)
    square[ys:ye, xs:xe] = src[y0 + ys : y0 + ye, x0 + xs : x0 + xe]
    return cv2.resize(square, (resolution, resolution), interpolation=cv2.INTER_AREA)


def token_mask(mask: np.ndarray, grid: int, threshold: float = 0.0, grow: int = 0) -> np.ndarray:
    """Model-resolution coverage [R, R] -> cells to regenerate [grid, grid] (bool).

    A cell is regenerated when the share of it covered by the mask exceeds `threshold`
    (0: any covered pixel). `grow` > 0 dilates, < 0 erodes, by that many cells.
    """
    if not 0.0 <= threshold < 1.0:
        raise InputError(f"coverage threshold must be in [0, 1), got {threshold}")
    r = mask.shape[0]
    if r % grid:
        raise InputError(f"mask resolution {r} is not a multiple of the {grid}-cell grid")
    coverage = mask.reshape(grid, r // grid, grid, r // grid).mean(axis=(1, 3))
    cells = (coverage > threshold + 1e-6).astype(np.uint8)
    if grow:
        kernel = np.ones((3, 3), np.uint8)
        op = cv2.dilate if grow > 0 else cv2.erode
        cells = op(cells, kernel, iterations=abs(int(grow)), borderType=cv2.BORDER_REPLICATE)
    return cells.astype(bool)


def cells_to_pixels(cells: np.ndarray, place: Placement) -> np.ndarray:
    """Cells [grid, grid] -> bool mask at the original image size (what the model can repaint)."""
    left, top, right, bottom = place.box
    side = int(round(right - left))
    square = cv2.resize(cells.astype(np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)
    w, h = place.size
    out = np.zeros((h, w), bool)
    x0, y0 = int(round(left)), int(round(top))
    ys, xs = max(0, -y0), max(0, -x0)
    ye, xe = min(side, h - y0), min(side, w - x0)
    out[y0 + ys : y0 + ye, x0 + xs : x0 + xe] = square[ys:ye, xs:xe] > 0
    return out
