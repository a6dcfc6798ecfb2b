"""Canvas expansion: grow a picture on any side, one model window at a time. One window spans the picture's
short side; the work happens at that scale on a canvas of whole cells, which is then scaled back."""
from __future__ import annotations

import math
from typing import NamedTuple

import cv2
import numpy as np
import torch
from PIL import Image

from ..pipeline import Pipeline
from ..checks import whole_number
from ..errors import InputError
from ..images import to_rgb
from .masks import token_mask
from .regenerate import Result, result_params, sample_count


MAX_WINDOWS = 64  # windows of the model's size, each one a sampling run
SIDES = ("left", "top", "right", "bottom")


class CanvasPlan(NamedTuple):
    """A canvas expansion's geometry: the canvas at the model's scale (one window spans the picture's short
    side), where the picture lies in it, and the model windows, nearest to the picture first."""
    expand: tuple[int, int, int, int]
    size: tuple[int, int]  # the expanded picture (width, height)
    scale: float  # canvas pixels per picture pixel
    canvas: tuple[int, int]  # (width, height) at the model's scale
    pads: tuple[int, int, int, int]  # canvas pixels beyond the expanded picture on each side, cropped off
    inside: tuple[int, int, int, int]  # the picture in the canvas: (left, top, width, height)
    given: tuple[int, int, int, int]  # the picture and its mirrored margin: (left, top, right, bottom)
    known: np.ndarray  # [height, width] of the canvas: True on the picture
    windows: list[tuple[int, int]]


def canvas_plan(engine: Pipeline, size: tuple[int, int], expand, overlap: float) -> CanvasPlan:
    """The geometry of expanding a picture of `size` by `expand` = (left, top, right, bottom) pixels."""
    if isinstance(expand, (str, bytes)) or len(expand) != 4:
        raise InputError(f"expand must be four whole numbers (left, top, right, bottom), got {expand!r}")
    left, top, right, bottom = (whole_number(f"expand {side}", e, 0) for side, e in zip(SIDES, expand))
    if not 0.25 <= overlap < 1.0:
        raise InputError(f"window overlap must be in [0.25, 1), got {overlap}")
    if left + top + right + bottom == 0:
        raise InputError("nothing to regenerate: expand is zero on every side")
    w, h = size
    big = (w + left + right, h + top + bottom)
    # One model window spans the picture's short side; work at that scale, cell-aligned.
    cell_px = engine.resolution // engine.grid
    scale = engine.resolution / min(w, h)
    # a frame margin all round, cropped off at the end: the canvas's own edge may decode white
    pad = math.ceil(engine.frame_margin / cell_px) * cell_px
    pads = (pad,) * 4
    cw = max(engine.resolution, pads[0] + pads[2] + math.ceil(big[0] * scale / cell_px) * cell_px)
    ch = max(engine.resolution, pads[1] + pads[3] + math.ceil(big[1] * scale / cell_px) * cell_px)
    inside = (pads[0] + round(left * scale), pads[1] + round(top * scale), max(1, round(w * scale)),
              max(1, round(h * scale)))
    x0, y0, x1, y1 = inside[0], inside[1], inside[0] + inside[2], inside[1] + inside[3]
    # where the picture meets the canvas's edge, the margin beyond it is given (the picture mirrored), so
    # windows on the picture have nothing to generate
    given = (0 if left == 0 else x0, 0 if top == 0 else y0, cw if right == 0 else x1, ch if bottom == 0 else y1)
    known = np.zeros((ch, cw), bool)
    known[given[1] : given[3], given[0] : given[2]] = True
    windows = canvas_windows(engine.resolution, cw, ch, known, overlap, cell_px)
    if len(windows) > MAX_WINDOWS:
        raise InputError(
            f"expanding a {w}x{h} picture to {big[0]}x{big[1]} takes {len(windows)} model windows (at most "
            f"{MAX_WINDOWS}): one window spans the picture's short side ({min(w, h)} px), so expand less "
            f"or start from a larger picture")
    return CanvasPlan((left, top, right, bottom), big, scale, (cw, ch), pads, inside, given, known, windows)


def canvas_windows(size: int, cw: int, ch: int, known: np.ndarray, overlap: float,
                   cell_px: int) -> list[tuple[int, int]]:
    """Corners of windows of `size` px covering the canvas, nearest to the known region first."""
    stride = max(cell_px, int(size * (1 - overlap)) // cell_px * cell_px)

    def starts(length: int) -> list[int]:
        pos = list(range(0, max(1, length - size + 1), stride))
        if pos[-1] != length - size:
            pos.append(length - size)
        return pos

    ys, xs = np.nonzero(known)
    cy, cx = ys.mean(), xs.mean()
    corners = [(x, y) for y in starts(ch) for x in starts(cw)]
    return sorted(corners, key=lambda c: math.hypot(c[0] + size / 2 - cx, c[1] + size / 2 - cy))


def expand_canvas(engine: Pipeline, image: Image.Image, expand, class_id=None, num_samples: int = 1, seed: int | None = 0,
                  overlap: float = 0.5, progress=None, **sampling) -> Result:
    """Grow the canvas by `expand` = (left, top, right, bottom) pixels, one model window at a time, nearest to
    the picture first; the picture's own pixels stay exactly as they are."""
    n = sample_count(engine, num_samples)
    seed = engine.resolve_seed(seed)
    rgb = to_rgb(image)
    plan = canvas_plan(engine, rgb.size, expand, overlap)
    (cw, ch), (ox, oy, iw, ih), size = plan.canvas, plan.inside, engine.resolution
    canvas = np.full((n, ch, cw, 3), 255, np.uint8)
    gl, gt, gr, gb = plan.given
    canvas[:, gt:gb, gl:gr] = cv2.copyMakeBorder(
        np.asarray(rgb.resize((iw, ih), Image.Resampling.BICUBIC)), oy - gt, gb - oy - ih, ox - gl, gr - ox - iw,
        cv2.BORDER_REFLECT)
    known = plan.known.copy()
    classes = engine.class_ids(class_id, n)
    # a window's outer cells are decoded without what lies beyond them (and some tokenizers decode them white)
    cell_px = engine.resolution // engine.grid
    border = max(1, math.ceil(engine.frame_margin / cell_px)) * cell_px
    ran = 0
    for i, (x, y) in enumerate(plan.windows):
        win_known = known[y : y + size, x : x + size]
        cells = token_mask((~win_known).astype(np.float32), engine.grid)  # any unknown pixel -> regenerate
        if not cells.any():
            continue
        ran += 1
        crops = [Image.fromarray(c[y : y + size, x : x + size]) for c in canvas]
        bits = engine.encode(crops)
        cells = torch.from_numpy(cells).to(engine.device).expand(n, -1, -1)
        step_progress = (lambda j, m, i=i: progress(i * m + j, len(plan.windows) * m)) if progress else None
        bits = engine.sample_tokens(bits, cells, classes, seed, step_progress, seed_step=i, **sampling)
        outs = engine.decode(bits)
        fill = ~win_known
        for k, out in enumerate(outs):
            region = canvas[k, y : y + size, x : x + size]
            region[fill] = np.asarray(out)[fill]
        # Only the window's interior becomes known (its border too where it meets the canvas's edge): the
        # next window regenerates the border from both sides instead of keeping a decoded edge as given.
        interior = np.zeros_like(win_known)
        interior[0 if y == 0 else border : size if y + size == ch else size - border,
                 0 if x == 0 else border : size if x + size == cw else size - border] = True
        win_known |= fill & interior
    images = []
    big_w, big_h = plan.size
    crop_left, crop_top = round(plan.pads[0] / plan.scale), round(plan.pads[1] / plan.scale)
    for k in range(n):
        full = Image.fromarray(canvas[k]).resize(
            (round(cw / plan.scale), round(ch / plan.scale)), Image.Resampling.BICUBIC
        ).crop((crop_left, crop_top, crop_left + big_w, crop_top + big_h))
        full.paste(rgb, plan.expand[:2])  # the original pixels, exactly
        images.append(full)
    params = result_params(engine, "outpaint", sampling, expand=list(plan.expand), class_id=class_id, num_samples=n,
                           seed=seed, overlap=overlap, windows=ran)
    return Result(images, params)
