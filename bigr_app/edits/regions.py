"""The region a masked edit regenerates: the mask's neighbourhood at the model's full resolution (or the whole
frame), fitted to the model, and the latent cells to regenerate in it (the page draws it: `app.edit_previews`).

A mask is `mask` from the moment `masks.mask_array` reads it (bool, picture-sized) until `masks.token_mask`
turns it into `cells`, the latent cells to regenerate.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from PIL import Image

from ..pipeline import Pipeline
from ..checks import one_of, whole_number
from ..errors import InputError
from ..images import Placement, to_rgb
from ..images import fit as fit_square
from .masks import fit_mask, mask_array, token_mask


REGIONS = ("auto", "masked", "whole")
Box = tuple[int, int, int, int]  # (left, top, right, bottom)


class Region(NamedTuple):
    """A masked edit's inputs: the picture, the box regenerated (None: the whole frame), that part of the picture
    and of the mask, the part fitted to the model (`fitted`, `place`), and the cells to regenerate in it."""
    picture: Image.Image
    box: Box | None
    part: Image.Image
    mask: np.ndarray  # over `part`
    fitted: Image.Image
    place: Placement
    cells: np.ndarray
    fit: str  # the fit the part got


def region_padding(engine: Pipeline, padding: int | None) -> int:
    """Pixels at the model's scale around a masked region; None: an eighth of the model's resolution."""
    if padding is None:
        return engine.resolution // 8
    return whole_number("padding", padding, 0, engine.resolution // 2 - 1)


def region_box(engine: Pipeline, size: tuple[int, int], mask: np.ndarray, region: str = "auto",
               padding: int | None = None) -> Box | None:
    """The part of a picture of `size` (width, height) that a masked edit regenerates, as a box
    (left, top, right, bottom), or None for the whole frame.

    masked: the mask's bounding box plus `padding` pixels at the model's scale on every side, grown to
    a square around its centre and moved inside the picture (a square wider than the picture's short
    side is cut to the picture). auto: masked when that box is smaller than the frame, else whole."""
    one_of("region", region, REGIONS)
    padding = region_padding(engine, padding)
    if region == "whole":
        return None
    ys, xs = np.nonzero(mask)
    if not len(ys):
        raise InputError("nothing to regenerate: the mask is empty")
    width, height = size
    # padding P model pixels around a box of side s: s = extent / (1 - 2 P / R)
    extent = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())
    side = math.ceil(extent / (1 - 2 * padding / engine.resolution))
    box_w, box_h = min(side, width), min(side, height)
    left = int(np.clip(round((xs.min() + xs.max() + 1 - box_w) / 2), 0, width - box_w))
    top = int(np.clip(round((ys.min() + ys.max() + 1 - box_h) / 2), 0, height - box_h))
    if region == "auto" and (box_w, box_h) == (width, height):
        return None
    return left, top, left + box_w, top + box_h


def prepare_region(engine: Pipeline, image: Image.Image, mask, fit_mode: str, threshold: float = 0.0, grow: int = 0,
                   region: str = "whole", padding: int | None = None) -> Region:
    """`mask` (any form `mask_array` reads, white = regenerate) on `image` -> the region to regenerate."""
    picture = to_rgb(image)
    mask = mask_array(mask, picture.size)
    box = region_box(engine, picture.size, mask, region, padding)
    if box is None:
        part = picture
        if region == "auto" and picture.width != picture.height:
            fit_mode = "letterbox"  # the whole frame, so nothing is left out of the edit
    else:
        part, mask = picture.crop(box), mask[box[1] : box[3], box[0] : box[2]]
        fit_mode = "letterbox"  # a box cut to a narrow picture is not square: keep all of it
    fitted, place = fit_square(part, engine.resolution, fit_mode)
    cells = token_mask(fit_mask(mask, place, engine.resolution), engine.grid, threshold, grow)
    return Region(picture, box, part, mask, fitted, place, cells, fit_mode)


def mask_cells(engine: Pipeline, image: Image.Image, mask, fit: str = "crop", threshold: float = 0.0, grow: int = 0,
               region: str = "auto", padding: int | None = None) -> np.ndarray:
    """The latent cells [grid, grid] (bool) that a mask on this image regenerates."""
    return prepare_region(engine, image, mask, fit, threshold, grow, region, padding).cells


def paste_region(picture: Image.Image, part: Image.Image, box: Box | None) -> Image.Image:
    if box is None:
        return part
    out = picture.copy()
    out.paste(part, box[:2])
    return out
