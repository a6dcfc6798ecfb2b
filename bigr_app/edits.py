"""Zero-shot edits as Engine methods: inpaint, outpaint (in-frame and canvas expansion), class
edit, class interpolation, enrichment and variations. Each one decides which tokens are known
and which to generate, then calls `Engine.sample_tokens` (the single masked-decoding loop).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import cv2
import numpy as np
import torch
from PIL import Image, ImageDraw

from .blend import blend, check_blend
from .errors import InputError
from .images import fit as fit_square
from .images import Placement, frame_fit, frame_result, pils_to_tensor, placement, psnr, to_rgb, unfit
from .masks import cells_to_pixels, draw_cells, fit_mask, mask_array, token_mask
from .noise import sample_seeds


REGIONS = ("auto", "masked", "whole")


class Prepared(NamedTuple):
    """A masked edit's inputs: the picture and mask, the box regenerated (None: whole frame) and that part
    of both, fitted to the model, with the latent cells to regenerate."""
    rgb: Image.Image
    pixel_mask: np.ndarray
    box: tuple[int, int, int, int] | None
    part: Image.Image
    part_mask: np.ndarray
    fitted: Image.Image
    place: Placement
    cells: np.ndarray
    fit: str


def paste_region(picture: Image.Image, part: Image.Image, box: tuple[int, int, int, int] | None) -> Image.Image:
    if box is None:
        return part
    out = picture.copy()
    out.paste(part, box[:2])
    return out


def processed_area(prep: Prepared) -> np.ndarray:
    """Pixels of the picture [H, W] that the model sees (a crop leaves a frame's sides out)."""
    seen = np.zeros(prep.pixel_mask.shape, bool)
    left, top = prep.box[:2] if prep.box else (0, 0)
    part_seen = cells_to_pixels(np.ones_like(prep.cells), prep.place)
    seen[top : top + part_seen.shape[0], left : left + part_seen.shape[1]] = part_seen
    return seen


def frame_region(preview: Image.Image, box: tuple[int, int, int, int] | None, seen: np.ndarray) -> Image.Image:
    """Dim what the edit leaves out and frame the regenerated box."""
    arr = np.asarray(preview).copy()
    arr[~seen] = (arr[~seen] * 0.35 + 90).astype(np.uint8)
    out = Image.fromarray(arr)
    if box is not None:
        width = max(2, round(max(out.size) / 200))
        ImageDraw.Draw(out).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=(40, 120, 255), width=width)
    return out


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


class Result(list):
    """A list of PIL images (one per sample) that also carries the parameters used."""

    def __init__(self, images: Sequence[Image.Image], params: dict):
        super().__init__(images)
        self.params = params


def _positive_int(name: str, value, upper: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= upper:
        raise InputError(f"{name} must be an integer in [1, {upper}], got {value!r}")
    return int(value)


def check_strength(strength) -> None:
    if isinstance(strength, bool) or not isinstance(strength, (int, float, np.number)) or not math.isfinite(strength) \
            or not 0.0 < strength <= 1.0:
        raise InputError(f"strength must be in (0, 1], got {strength!r}")


PASTES = ("cells", "mask")


def bayer_order(grid: int) -> np.ndarray:
    """Rank of each cell in an ordered-dither pattern: any prefix is spread evenly over the grid."""
    n = 1
    m = np.zeros((1, 1), np.int64)
    while n < grid:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
        n *= 2
    return m[:grid, :grid].argsort(axis=None).argsort().reshape(grid, grid)


class EditsMixin:
    MAX_SAMPLES = 16
    MAX_WINDOWS = 64  # canvas expansion: windows of the model's size, each one a sampling run

    # ---- helpers --------------------------------------------------------------------------
    def region_padding(self, padding: int | None) -> int:
        """Pixels at the model's scale around a masked region; None: an eighth of the model's resolution."""
        if padding is None:
            return self.resolution // 8
        if not isinstance(padding, (int, np.integer)) or isinstance(padding, bool) or not 0 <= padding < self.resolution // 2:
            raise InputError(f"padding must be a whole number of pixels in [0, {self.resolution // 2 - 1}], "
                             f"got {padding!r}")
        return int(padding)

    def region_box(self, size: tuple[int, int], pixel_mask: np.ndarray, region: str = "auto",
                   padding: int | None = None) -> tuple[int, int, int, int] | None:
        """The part of a picture of `size` (width, height) that a masked edit regenerates, as a box
        (left, top, right, bottom), or None for the whole frame.

        masked: the mask's bounding box plus `padding` pixels at the model's scale on every side, grown to
        a square around its centre and moved inside the picture (a square wider than the picture's short
        side is cut to the picture). auto: masked when that box is smaller than the frame, else whole."""
        if region not in REGIONS:
            raise InputError(f"region must be one of {REGIONS}, got {region!r}")
        padding = self.region_padding(padding)
        if region == "whole":
            return None
        ys, xs = np.nonzero(pixel_mask)
        if not len(ys):
            raise InputError("nothing to regenerate: the mask is empty")
        width, height = size
        # padding P model pixels around a box of side s: s = extent / (1 - 2 P / R)
        extent = max(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())
        side = math.ceil(extent / (1 - 2 * padding / self.resolution))
        box_w, box_h = min(side, width), min(side, height)
        left = int(np.clip(round((xs.min() + xs.max() + 1 - box_w) / 2), 0, width - box_w))
        top = int(np.clip(round((ys.min() + ys.max() + 1 - box_h) / 2), 0, height - box_h))
        if region == "auto" and (box_w, box_h) == (width, height):
            return None
        return left, top, left + box_w, top + box_h

    def _prepare(self, image, mask, fit_mode: str, threshold: float, grow: int, region: str = "whole",
                 padding: int | None = None) -> "Prepared":
        rgb = to_rgb(image)
        pixel_mask = mask_array(mask, rgb.size)
        box = self.region_box(rgb.size, pixel_mask, region, padding)
        if box is None:
            part, part_mask = rgb, pixel_mask
            if region == "auto" and rgb.width != rgb.height:
                fit_mode = "letterbox"  # the whole frame, so nothing is left out of the edit
        else:
            part, part_mask = rgb.crop(box), pixel_mask[box[1] : box[3], box[0] : box[2]]
            fit_mode = "letterbox"  # a box cut to a narrow picture is not square: keep all of it
        fitted, place = fit_square(part, self.resolution, fit_mode)
        cells = token_mask(fit_mask(part_mask, place, self.resolution), self.grid, threshold, grow)
        return Prepared(rgb, pixel_mask, box, part, part_mask, fitted, place, cells, fit_mode)

    def _classes(self, spec, n: int) -> torch.Tensor:
        return torch.full((n,), self.class_index(spec), dtype=torch.long, device=self.device)

    @property
    def frame_margin(self) -> int:
        """Model pixels at the frame's edge that whole-picture edits keep clear of the picture: a tokenizer
        trained on drawings with white borders decodes any frame's outermost pixels white."""
        return int(self.domain.get("frame_margin", 0))

    def spread_cells(self, count: int, seed: int, within: np.ndarray | None = None) -> np.ndarray:
        """`count` cells [grid, grid] spread evenly over the grid, or over the cells `within` (an ordered dither,
        shifted by the seed)."""
        shift = np.random.default_rng(seed).integers(0, self.grid, 2)
        rank = np.roll(bayer_order(self.grid), tuple(shift), axis=(0, 1))
        if within is not None:
            rank = np.where(within, rank, rank.size)  # cells outside come last, and are never taken
            count = min(count, int(within.sum()))
        chosen = np.zeros(rank.shape, bool)
        chosen.flat[np.argsort(rank, axis=None)[:count]] = True
        return chosen

    def strength_cells(self, cells: np.ndarray, strength: float, seed: int, n: int) -> np.ndarray:
        """A share `strength` of the masked cells, spread over them, for each sample (its own pattern); the
        others keep the picture's codes. strength 1: `cells` itself, so the edit is exactly the full one."""
        check_strength(strength)
        if strength == 1.0:
            return cells
        count = max(1, round(strength * int(cells.sum())))
        return np.stack([self.spread_cells(count, s, within=cells) for s in sample_seeds(seed, n)])

    def _regenerate(self, fitted: Image.Image, cells: np.ndarray, classes: torch.Tensor, seed, progress, **sampling):
        """Encode, regenerate the cells ([grid, grid], or one such per sample), decode: model-resolution images,
        one per row of `classes`."""
        n = classes.shape[0]
        bits = self.encode(fitted).expand(n, -1, -1, -1)
        todo = torch.from_numpy(cells).to(self.device).expand(n, -1, -1)
        return self.decode(self.sample_tokens(bits, todo, classes, seed, progress, **sampling))

    def mask_cells(self, image: Image.Image, mask, fit: str = "crop", threshold: float = 0.0, grow: int = 0,
                   region: str = "auto", padding: int | None = None) -> np.ndarray:
        """The latent cells [grid, grid] (bool) that a mask on this image regenerates."""
        return self._prepare(image, mask, fit, threshold, grow, region, padding).cells

    def mask_preview(self, image: Image.Image, mask, fit: str = "crop", threshold: float = 0.0, grow: int = 0,
                     region: str = "auto", padding: int | None = None) -> Image.Image:
        """The picture with the latent cells that will be regenerated outlined, the regenerated box framed,
        and what the edit leaves out (a crop's cut-off sides) dimmed."""
        return self._draw_preview(self._prepare(image, mask, fit, threshold, grow, region, padding))

    def mask_preview_and_note(self, image: Image.Image, mask, fit: str = "crop", grow: int = 0, region: str = "auto",
                              padding: int | None = None, size: tuple[int, int] | None = None
                              ) -> tuple[Image.Image, str]:
        """`mask_preview` and `picture_note` of one masked edit, from one preparation of the picture. `size`: the
        picture's own size when `image` is a reduced copy of it (the note speaks of the picture)."""
        prep = self._prepare(image, mask, frame_fit(image.size, fit), 0.0, grow, region, padding)
        scale = size[0] / prep.rgb.width if size else 1.0
        return self._draw_preview(prep), self._note(prep.rgb, prep.part, prep.fitted, prep.place, scale)

    @staticmethod
    def _draw_preview(prep: "Prepared") -> Image.Image:
        left, top = prep.box[:2] if prep.box else (0, 0)
        preview = prep.rgb.copy()
        preview.paste(draw_cells(prep.part, prep.cells, prep.place), (left, top))
        return frame_region(preview, prep.box, processed_area(prep))

    def frame_preview(self, image: Image.Image, fit: str = "auto") -> Image.Image:
        """A whole-picture edit's input, with what `fit` leaves out (a crop's sides) dimmed."""
        rgb = to_rgb(image)
        left, top, right, bottom = (round(v) for v in placement(rgb.size, frame_fit(rgb.size, fit)).box)
        seen = np.zeros((rgb.height, rgb.width), bool)
        seen[max(top, 0) : bottom, max(left, 0) : right] = True
        return frame_region(rgb, None, seen)

    def picture_note(self, image: Image.Image, mask=None, fit: str = "auto", grow: int = 0, region: str = "auto",
                     padding: int | None = None, size: tuple[int, int] | None = None) -> str:
        """What to expect from a picture far larger than the model's resolution, or far from what it was
        trained on: the resolution it is regenerated at, the training data, and how well the tokenizer
        reproduces it (PSNR of its codes' reconstruction). Empty when there is nothing unusual."""
        if mask is not None:
            return self.mask_preview_and_note(image, mask, fit, grow, region, padding, size)[1]
        rgb = to_rgb(image)
        fitted, place = fit_square(rgb, self.resolution, frame_fit(rgb.size, fit))
        return self._note(rgb, rgb, fitted, place, size[0] / rgb.width if size else 1.0)

    def _note(self, rgb: Image.Image, part: Image.Image, fitted: Image.Image, place: Placement,
              scale: float = 1.0) -> str:
        """`scale`: picture pixels per pixel of `rgb` (a reduced working copy)."""
        per_model_px = scale * (place.box[2] - place.box[0]) / self.resolution
        x = pils_to_tensor([fitted]).to(self.device)
        fidelity = float(psnr(self.decode_tensor(self.encode(fitted)), x)[0])
        usual = self.domain.get("tokenizer_psnr")
        unfamiliar = usual is not None and fidelity < usual - 6.0
        if per_model_px <= 4 and not unfamiliar:
            return ""
        res = self.resolution
        width, height = round(rgb.width * scale), round(rgb.height * scale)
        what = "This picture" if part.size == rgb.size else \
            f"The {round(part.width * scale)}x{round(part.height * scale)} region of this picture"
        lines = [f"**Regenerated at {res}x{res}.** {what} ({width}x{height}) is fitted to the model's "
                 f"{res}x{res} pixels, {per_model_px:.1f} picture pixels to one, so detail finer than that is not "
                 f"kept where cells are regenerated." if per_model_px > 4 else
                 "**Unlike the model's pictures.**"]
        trained_on = self.domain.get("trained_on")
        if trained_on:
            lines.append(f"The model was trained on {trained_on}.")
        reference = f" ({usual:.1f} dB on pictures like its own)" if usual is not None else ""
        lines.append(f"Its tokenizer reproduces this picture at {fidelity:.1f} dB{reference}"
                     + (": expect regenerated areas to look like its training pictures, not like this one."
                        if unfamiliar else "."))
        return " ".join(lines)

    # ---- inpainting and editing -----------------------------------------------------------
    def inpaint(
        self, image: Image.Image, mask, class_id=None, num_samples: int = 1, seed: int | None = 0,
        fit: str = "crop", blend_mode: str = "feather", feather_radius: float = 4.0, threshold: float = 0.0,
        grow: int = 0, region: str = "auto", padding: int | None = None, strength: float = 1.0,
        paste: str = "mask", progress=None, **sampling,
    ) -> Result:
        """Regenerate the masked region (white = regenerate); class_id None = unconditional.

        region: "masked" regenerates the mask's neighbourhood at the model's full resolution and pastes it
        back; "whole" fits the whole frame (`fit`: crop or letterbox); "auto" is masked when that box is
        smaller than the frame, else the whole frame, letterboxed. Pixels outside the regenerated cells stay
        the original's (blend none / feather). feather_radius is in model pixels, so the feather covers the same
        share of the regenerated region on a picture of any size (x4 on a picture fitted from 4x the resolution).
        strength < 1 resamples only that share of the masked cells, spread over them; the others keep the
        picture's codes. paste "mask" changes only the masked pixels, "cells" every pixel of the regenerated
        cells (a class edit shows whole)."""
        n = _positive_int("num_samples", num_samples, self.MAX_SAMPLES)
        seed = self.resolve_seed(seed)
        check_blend(blend_mode, feather_radius)
        if paste not in PASTES:
            raise InputError(f"paste must be one of {PASTES}, got {paste!r}")
        prep = self._prepare(image, mask, fit, threshold, grow, region, padding)
        if not prep.cells.any():
            raise InputError("nothing to regenerate: the mask covers no part of the (cropped) picture")
        todo = self.strength_cells(prep.cells, strength, seed, n)
        outs = self._regenerate(prep.fitted, todo, self._classes(class_id, n), seed, progress, **sampling)
        repaintable = cells_to_pixels(prep.cells, prep.place)
        if paste == "mask":
            repaintable &= prep.part_mask
        radius = feather_radius * (prep.place.box[2] - prep.place.box[0]) / self.resolution  # to picture pixels
        images = [paste_region(prep.rgb, blend(prep.part, unfit(o, prep.part, prep.place), repaintable, blend_mode,
                                               radius), prep.box) for o in outs]
        params = dict(task="inpaint", class_id=class_id, num_samples=n, seed=seed, fit=fit, framed=prep.fit,
                      blend=blend_mode, feather_radius=feather_radius, threshold=threshold, grow=grow, region=region,
                      padding=self.region_padding(padding), strength=strength, paste=paste,
                      box=list(prep.box) if prep.box else None, cells=int(prep.cells.sum()),
                      **self.sampling_params(**sampling).to_dict())
        return Result(images, params)

    def edit(self, image: Image.Image, mask, class_id, paste: str = "cells", **kwargs) -> Result:
        """Regenerate the masked region as the target class; by default every regenerated cell is pasted
        (feathered), so that the new class shows beyond a thin stroke."""
        if class_id is None:
            raise InputError("edit needs a target class")
        result = self.inpaint(image, mask, class_id=class_id, paste=paste, **kwargs)
        result.params["task"] = "edit"
        return result

    # ---- outpainting ----------------------------------------------------------------------
    def outpaint(
        self, image: Image.Image, mask=None, expand: Sequence[int] | None = None, class_id=None,
        num_samples: int = 1, seed: int | None = 0, overlap: float = 0.5, progress=None, **kwargs,
    ) -> Result:
        """(a) mask given: keep the white region, regenerate the rest of the frame.
        (b) expand=(left, top, right, bottom) pixels: grow the canvas, window by window."""
        if (mask is None) == (expand is None):
            raise InputError("outpaint needs either a mask (what to keep) or expand=(left, top, right, bottom)")
        if mask is not None:
            rgb = to_rgb(image)
            keep = mask_array(mask, rgb.size)
            result = self.inpaint(rgb, ~keep, class_id=class_id, num_samples=num_samples, seed=seed,
                                  progress=progress, **kwargs)
            result.params["task"] = "outpaint"
            return result
        return self._expand_canvas(image, expand, class_id, num_samples, seed, overlap, progress, **kwargs)

    def _canvas_plan(self, size: tuple[int, int], expand, overlap: float) -> "CanvasPlan":
        if len(expand) != 4 or any(not isinstance(e, (int, np.integer)) or isinstance(e, bool) for e in expand):
            raise InputError(f"expand must be four whole numbers (left, top, right, bottom), got {expand!r}")
        if any(e < 0 for e in expand):
            raise InputError(f"expand amounts must be >= 0, got {tuple(expand)}")
        if not 0.25 <= overlap < 1.0:
            raise InputError(f"window overlap must be in [0.25, 1), got {overlap}")
        left, top, right, bottom = (int(e) for e in expand)
        if left + top + right + bottom == 0:
            raise InputError("nothing to regenerate: expand is zero on every side")
        w, h = size
        big = (w + left + right, h + top + bottom)
        # One model window spans the picture's short side; work at that scale, cell-aligned.
        cell_px = self.resolution // self.grid
        scale = self.resolution / min(w, h)
        # a frame margin all round, cropped off at the end: the canvas's own edge may decode white
        pad = math.ceil(self.frame_margin / cell_px) * cell_px
        pads = (pad,) * 4
        cw = max(self.resolution, pads[0] + pads[2] + math.ceil(big[0] * scale / cell_px) * cell_px)
        ch = max(self.resolution, pads[1] + pads[3] + math.ceil(big[1] * scale / cell_px) * cell_px)
        inside = (pads[0] + round(left * scale), pads[1] + round(top * scale), max(1, round(w * scale)),
                  max(1, round(h * scale)))
        x0, y0, x1, y1 = inside[0], inside[1], inside[0] + inside[2], inside[1] + inside[3]
        # where the picture meets the canvas's edge, the margin beyond it is given (the picture mirrored), so
        # windows on the picture have nothing to generate
        given = (0 if left == 0 else x0, 0 if top == 0 else y0, cw if right == 0 else x1, ch if bottom == 0 else y1)
        known = np.zeros((ch, cw), bool)
        known[given[1] : given[3], given[0] : given[2]] = True
        windows = self._windows(cw, ch, known, overlap, cell_px)
        if len(windows) > self.MAX_WINDOWS:
            raise InputError(
                f"expanding a {w}x{h} picture to {big[0]}x{big[1]} takes {len(windows)} model windows (at most "
                f"{self.MAX_WINDOWS}): one window spans the picture's short side ({min(w, h)} px), so expand less "
                f"or start from a larger picture")
        return CanvasPlan((left, top, right, bottom), big, scale, (cw, ch), pads, inside, given, known, windows)

    def canvas_preview(self, image: Image.Image, expand, overlap: float = 0.5,
                       size: tuple[int, int] | None = None, longest: int = 768) -> Image.Image:
        """What a canvas expansion will do, at most `longest` px: the picture, the new area hatched, and the
        model windows outlined. `size`: the picture's own size when `image` is a reduced copy of it."""
        rgb = to_rgb(image)
        plan = self._canvas_plan(size or rgb.size, expand, overlap)
        shown = min(1.0, longest / max(plan.size))
        out_w, out_h = (max(1, round(v * shown)) for v in plan.size)
        out = Image.new("RGB", (out_w, out_h), (235, 235, 235))
        draw = ImageDraw.Draw(out)
        step = max(6, round(min(out_w, out_h) / 24))
        for k in range(-out_h, out_w, step):  # hatching: the area to generate
            draw.line((k, 0, k + out_h, out_h), fill=(170, 170, 170), width=1)
        left, top = plan.expand[:2]
        w, h = size or rgb.size
        out.paste(rgb.resize((max(1, round(w * shown)), max(1, round(h * shown)))), (round(left * shown),
                                                                                   round(top * shown)))
        to_out = shown / plan.scale  # canvas (model-scale) pixels to preview pixels
        width = max(1, round(min(out_w, out_h) / 150))
        colours = [(40, 120, 255), (255, 140, 0)]
        size = self.resolution
        running = [(x, y) for x, y in plan.windows if not plan.known[y : y + size, x : x + size].all()]
        for i, (x, y) in enumerate(running):  # a window wholly on the picture has nothing to generate
            x, y = x - plan.pads[0], y - plan.pads[1]
            box = [v * to_out for v in (x, y, x + self.resolution, y + self.resolution)]
            box = [max(0, box[0]), max(0, box[1]), box[2], box[3]]
            box = [min(box[0], out_w - 1), min(box[1], out_h - 1), min(box[2], out_w) - 1, min(box[3], out_h) - 1]
            draw.rectangle(box, outline=colours[i % 2], width=width)
        return out

    def _expand_canvas(self, image, expand, class_id, num_samples, seed, overlap, progress, **sampling) -> Result:
        n = _positive_int("num_samples", num_samples, self.MAX_SAMPLES)
        seed = self.resolve_seed(seed)
        rgb = to_rgb(image)
        plan = self._canvas_plan(rgb.size, expand, overlap)
        (cw, ch), (ox, oy, iw, ih), size = plan.canvas, plan.inside, self.resolution
        canvas = np.full((n, ch, cw, 3), 255, np.uint8)
        gl, gt, gr, gb = plan.given
        canvas[:, gt:gb, gl:gr] = cv2.copyMakeBorder(
            np.asarray(rgb.resize((iw, ih), Image.Resampling.BICUBIC)), oy - gt, gb - oy - ih, ox - gl, gr - ox - iw,
            cv2.BORDER_REFLECT)
        known = plan.known.copy()
        classes = self._classes(class_id, n)
        # a window's outer cells are decoded without what lies beyond them (and some tokenizers decode them white)
        cell_px = self.resolution // self.grid
        border = max(1, math.ceil(self.frame_margin / cell_px)) * cell_px
        ran = 0
        for i, (x, y) in enumerate(plan.windows):
            win_known = known[y : y + size, x : x + size]
            cells = token_mask((~win_known).astype(np.float32), self.grid)  # any unknown pixel -> regenerate
            if not cells.any():
                continue
            ran += 1
            crops = [Image.fromarray(c[y : y + size, x : x + size]) for c in canvas]
            bits = self.encode(crops)
            todo = torch.from_numpy(cells).to(self.device).expand(n, -1, -1)
            step_progress = (lambda j, m, i=i: progress(i * m + j, len(plan.windows) * m)) if progress else None
            outs = self.decode(self.sample_tokens(bits, todo, classes, seed, step_progress, seed_step=i, **sampling))
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
        params = dict(task="outpaint", expand=list(plan.expand), class_id=class_id, num_samples=n,
                      seed=seed, overlap=overlap, windows=ran,
                      **self.sampling_params(**sampling).to_dict())
        return Result(images, params)

    def _windows(self, cw: int, ch: int, known: np.ndarray, overlap: float, cell_px: int) -> list[tuple[int, int]]:
        """Window corners covering the canvas, nearest to the known region first."""
        size = self.resolution
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

    # ---- class interpolation ----------------------------------------------------------------
    def interpolate(
        self, class_a, class_b, ratios: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0), seed: int | None = 0,
        progress=None, **sampling,
    ) -> Result:
        """One image per ratio r with class embedding r*e_a + (1-r)*e_b, the same noise for every r."""
        ratios = [float(r) for r in ratios]
        if not ratios:
            raise InputError("give at least one ratio")
        bad = [r for r in ratios if not (math.isfinite(r) and 0.0 <= r <= 1.0)]
        if bad:
            raise InputError(f"interpolation ratios must lie in [0, 1], got {bad}")
        seed = self.resolve_seed(seed)
        images = []
        for i, r in enumerate(ratios):
            weights = self.class_weights({class_a: r}) + self.class_weights({class_b: 1.0 - r})
            step_progress = (lambda j, m, i=i: progress(i * m + j, len(ratios) * m)) if progress else None
            images += self.decode(self.generate_tokens(weights[None], seed, step_progress, **sampling))
        params = dict(task="interpolate", class_a=class_a, class_b=class_b, ratios=ratios, seed=seed,
                      **self.sampling_params(**sampling).to_dict())
        return Result(images, params)

    # ---- enrichment and variations --------------------------------------------------------
    def enrich(
        self, image: Image.Image, rounds: int = 1, downsample_rate: int = 2, class_id=None, seed: int | None = 0,
        fit: str = "auto", progress=None, cfg_scale: float = 10.0, **sampling,
    ) -> Result:
        """The release's enrichment: within every rate x rate block of cells, re-sample one offset
        at a time (in random order) conditioned on all other tokens, to add detail. fit "auto" works on the
        whole frame (letterboxed when not square); "crop" returns the centre square only."""
        rounds = _positive_int("rounds", rounds, 8)
        rate = _positive_int("downsample_rate", downsample_rate, self.grid)
        if self.grid % rate:
            raise InputError(f"downsample_rate must divide the {self.grid}-cell grid, got {rate}")
        rgb = to_rgb(image)
        framed = frame_fit(rgb.size, fit)
        fitted, place = fit_square(rgb, self.resolution, framed, margin=self.frame_margin)
        bits = self.encode(fitted)
        classes = self._classes(class_id, 1)
        seed = self.resolve_seed(seed)
        g = torch.Generator().manual_seed(seed)
        total = rounds * rate * rate
        done = 0
        for r in range(rounds):
            for offset in torch.randperm(rate * rate, generator=g).tolist():
                cells = torch.zeros(self.grid, self.grid, dtype=torch.bool, device=self.device)
                cells[offset // rate :: rate, offset % rate :: rate] = True
                step_progress = (lambda j, m, d=done: progress(d * m + j, total * m)) if progress else None
                bits = self.sample_tokens(bits, cells[None], classes, seed, step_progress, seed_step=done,
                                          cfg_scale=cfg_scale, **sampling)
                done += 1
        out = frame_result(self.decode(bits)[0], rgb, place)
        params = dict(task="enrich", rounds=rounds, downsample_rate=rate, class_id=class_id, seed=seed, fit=fit,
                      framed=framed, **self.sampling_params(cfg_scale=cfg_scale, **sampling).to_dict())
        return Result([out], params)

    def vary(
        self, image: Image.Image, strength: float = 0.5, class_id=None, num_samples: int = 1, seed: int | None = 0,
        fit: str = "auto", progress=None, **sampling,
    ) -> Result:
        """Variations: re-sample a share `strength` of the tokens, spread evenly over the grid.
        strength 1.0 is a fresh generation; small strengths keep the composition. fit as for `enrich`."""
        check_strength(strength)
        n = _positive_int("num_samples", num_samples, self.MAX_SAMPLES)
        rgb = to_rgb(image)
        framed = frame_fit(rgb.size, fit)
        fitted, place = fit_square(rgb, self.resolution, framed, margin=self.frame_margin)
        count = max(1, round(strength * self.grid * self.grid))
        seed = self.resolve_seed(seed)
        cells = np.stack([self.spread_cells(count, s) for s in sample_seeds(seed, n)])  # each sample's own
        outs = self._regenerate(fitted, cells, self._classes(class_id, n), seed, progress, **sampling)
        images = [frame_result(o, rgb, place) for o in outs]
        params = dict(task="vary", strength=strength, class_id=class_id, num_samples=n, seed=seed, fit=fit,
                      framed=framed, cells=count, **self.sampling_params(**sampling).to_dict())
        return Result(images, params)
