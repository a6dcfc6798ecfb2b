"""Inpainting and class editing (regenerate the masked region), and outpainting: in-frame (keep the masked
region, regenerate the rest of the frame) or by canvas expansion (`canvas`)."""
from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image

from ..pipeline import Pipeline
from ..checks import one_of, real_number
from ..errors import InputError
from ..images import to_rgb, unfit
from ..sampling.noise import sample_seeds
from .blend import blend, check_blend
from .canvas import expand_canvas
from .masks import cells_to_pixels, mask_array
from .regenerate import Result, regenerate, result_params, sample_count, spread_cells
from .regions import paste_region, prepare_region, region_padding


PASTES = ("cells", "mask")


def strength_cells(engine: Pipeline, cells: np.ndarray, strength: float, seed: int, n: int) -> np.ndarray:
    """A share `strength` of the masked cells, spread over them, for each sample (its own pattern); the
    others keep the picture's codes. strength 1: `cells` itself, so the edit is exactly the full one."""
    real_number("strength", strength, 0.0, 1.0, open_below=True)
    if strength == 1.0:
        return cells
    count = max(1, round(strength * int(cells.sum())))
    return np.stack([spread_cells(engine, count, s, within=cells) for s in sample_seeds(seed, n)])


def inpaint(engine: Pipeline, image: Image.Image, mask, class_id=None, **options) -> Result:
    """Regenerate the masked region (white = regenerate); class_id None = unconditional. The options: see
    `masked_edit`."""
    return masked_edit(engine, "inpaint", image, mask, class_id=class_id, **options)


def masked_edit(
    engine: Pipeline, task: str, image: Image.Image, mask, class_id=None, num_samples: int = 1, seed: int | None = 0,
    fit: str = "crop", blend_mode: str = "feather", feather_radius: float = 4.0, threshold: float = 0.0,
    grow: int = 0, region: str = "auto", padding: int | None = None, strength: float = 1.0,
    paste: str = "mask", progress=None, **sampling,
) -> Result:
    """Regenerate the masked region (white = regenerate), for `task` (inpaint, edit or outpaint: what the result
    records); class_id None = unconditional.

    region: "masked" regenerates the mask's neighbourhood at the model's full resolution and pastes it
    back; "whole" fits the whole frame (`fit`: crop or letterbox); "auto" is masked when that box is
    smaller than the frame, else the whole frame, letterboxed. Pixels outside the regenerated cells stay
    the original's (blend none / feather). feather_radius is in model pixels, so the feather covers the same
    share of the regenerated region on a picture of any size (x4 on a picture fitted from 4x the resolution).
    strength < 1 resamples only that share of the masked cells, spread over them; the others keep the
    picture's codes. paste "mask" changes only the masked pixels, "cells" every pixel of the regenerated
    cells (a class edit shows whole)."""
    n = sample_count(engine, num_samples)
    seed = engine.resolve_seed(seed)
    check_blend(blend_mode, feather_radius)
    one_of("paste", paste, PASTES)
    prepared = prepare_region(engine, image, mask, fit, threshold, grow, region, padding)
    if not prepared.cells.any():
        raise InputError("nothing to regenerate: the mask covers no part of the (cropped) picture")
    cells = strength_cells(engine, prepared.cells, strength, seed, n)
    outs = regenerate(engine, prepared.fitted, cells, engine.class_ids(class_id, n), seed, progress, **sampling)
    place, part = prepared.place, prepared.part
    radius = feather_radius * (place.box[2] - place.box[0]) / engine.resolution  # to picture pixels

    def pasted(out: Image.Image, resampled: np.ndarray) -> Image.Image:
        # only the cells this sample resampled: a kept cell decodes a little differently beside new neighbours,
        # and pasting it too made a lower strength change as many pixels as strength 1
        repaintable = cells_to_pixels(resampled, place)
        if paste == "mask":
            repaintable &= prepared.mask
        return paste_region(prepared.picture, blend(part, unfit(out, part, place), repaintable, blend_mode, radius),
                            prepared.box)

    images = [pasted(o, c) for o, c in zip(outs, cells if cells.ndim == 3 else [cells] * n)]
    params = result_params(engine, task, sampling, class_id=class_id, num_samples=n, seed=seed, fit=fit,
                           framed=prepared.fit, blend_mode=blend_mode, feather_radius=feather_radius, threshold=threshold,
                           grow=grow, region=region, padding=region_padding(engine, padding), strength=strength,
                           paste=paste, box=list(prepared.box) if prepared.box else None,
                           cells=int(prepared.cells.sum()))
    return Result(images, params)


def edit(engine: Pipeline, image: Image.Image, mask, class_id, paste: str = "cells", **kwargs) -> Result:
    """Regenerate the masked region as the target class; by default every regenerated cell is pasted
    (feathered), so that the new class shows beyond a thin stroke."""
    if class_id is None:
        raise InputError("edit needs a target class")
    return masked_edit(engine, "edit", image, mask, class_id=class_id, paste=paste, **kwargs)


def outpaint(
    engine: Pipeline, image: Image.Image, mask=None, expand: Sequence[int] | None = None, class_id=None,
    num_samples: int = 1, seed: int | None = 0, overlap: float = 0.5, progress=None, **kwargs,
) -> Result:
    """(a) mask given: keep the white region, regenerate the rest of the frame.
    (b) expand=(left, top, right, bottom) pixels: grow the canvas, window by window."""
    if (mask is None) == (expand is None):
        raise InputError("outpaint needs either a mask (what to keep) or expand=(left, top, right, bottom)")
    if expand is not None:
        return expand_canvas(engine, image, expand, class_id, num_samples, seed, overlap, progress, **kwargs)
    picture = to_rgb(image)
    keep = mask_array(mask, picture.size)
    return masked_edit(engine, "outpaint", picture, ~keep, class_id=class_id, num_samples=num_samples, seed=seed,
                       progress=progress, **kwargs)
