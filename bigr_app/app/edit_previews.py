"""What the page shows before an edit: the frame the model sees, the cells a masked edit regenerates, the
windows of a canvas expansion, and a note when a picture is far larger than the model's resolution or unlike
what it was trained on. Each is a function of a pipeline (no gradio here: the CLI or another front end may show
them too)."""
from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from ..edits.canvas import canvas_plan
from ..edits.masks import cells_to_pixels
from ..edits.regions import Box, Region, prepare_region
from ..images import Placement, frame_fit, pils_to_tensor, placement, psnr, to_rgb
from ..images import fit as fit_square
from ..pipeline import Pipeline


def frame_preview(engine: Pipeline, image: Image.Image, fit: str = "auto") -> Image.Image:
    """A whole-picture edit's input, with what `fit` leaves out (a crop's sides) dimmed."""
    picture = to_rgb(image)
    left, top, right, bottom = (round(v) for v in placement(picture.size, frame_fit(picture.size, fit)).box)
    seen = np.zeros((picture.height, picture.width), bool)
    seen[max(top, 0) : bottom, max(left, 0) : right] = True
    return frame_region(picture, None, seen)


def mask_preview_and_note(engine: Pipeline, image: Image.Image, mask, fit: str = "crop", grow: int = 0,
                          region: str = "auto", padding: int | None = None, size: tuple[int, int] | None = None
                          ) -> tuple[Image.Image, str, int]:
    """`mask_preview` and `picture_note` of one masked edit, from one preparation of the picture, and the number
    of cells it regenerates. `size`: the picture's own size when `image` is a reduced copy of it (the note speaks
    of the picture)."""
    prepared = prepare_region(engine, image, mask, frame_fit(image.size, fit), 0.0, grow, region, padding)
    note = fitting_note(engine, prepared.picture, prepared.part, prepared.fitted, prepared.place, size)
    return draw_region(prepared), note, int(prepared.cells.sum())


def picture_note(engine: Pipeline, image: Image.Image, mask=None, fit: str = "auto", grow: int = 0,
                 region: str = "auto", padding: int | None = None, size: tuple[int, int] | None = None) -> str:
    """What to expect from a picture far larger than the model's resolution, or far from what it was
    trained on: the resolution it is regenerated at, the training data, and how well the tokenizer
    reproduces it (PSNR of its codes' reconstruction). Empty when there is nothing unusual."""
    if mask is not None:
        return mask_preview_and_note(engine, image, mask, fit, grow, region, padding, size)[1]
    picture = to_rgb(image)
    fitted, place = fit_square(picture, engine.resolution, frame_fit(picture.size, fit))
    return fitting_note(engine, picture, picture, fitted, place, size)


def fitting_note(engine: Pipeline, picture: Image.Image, part: Image.Image, fitted: Image.Image, place: Placement,
                 size: tuple[int, int] | None = None) -> str:
    """The note on `part` of `picture` fitted to the model as `fitted`. `size`: the picture's own size when
    `picture` is a reduced working copy of it."""
    width, height = size or picture.size
    scale_x, scale_y = width / picture.width, height / picture.height
    per_model_px = scale_x * (place.box[2] - place.box[0]) / engine.resolution
    x = pils_to_tensor([fitted]).to(engine.device)
    fidelity = float(psnr(engine.decode_tensor(engine.encode(fitted)), x)[0])
    usual = engine.domain.get("tokenizer_psnr")
    unfamiliar = usual is not None and fidelity < usual - 6.0
    if per_model_px <= 4 and not unfamiliar:
        return ""
    res = engine.resolution
    what = "This picture" if part.size == picture.size else \
        f"The {round(part.width * scale_x)}x{round(part.height * scale_y)} region of this picture"
    lines = [f"**Regenerated at {res}x{res}.** {what} ({width}x{height}) is fitted to the model's "
             f"{res}x{res} pixels, {per_model_px:.1f} picture pixels to one, so detail finer than that is not "
             f"kept where cells are regenerated." if per_model_px > 4 else
             "**Unlike the model's pictures.**"]
    trained_on = engine.domain.get("trained_on")
    if trained_on:
        lines.append(f"The model was trained on {trained_on}.")
    reference = f" ({usual:.1f} dB on pictures like its own)" if usual is not None else ""
    lines.append(f"Its tokenizer reproduces this picture at {fidelity:.1f} dB{reference}"
                 + (": expect regenerated areas to look like its training pictures, not like this one."
                    if unfamiliar else "."))
    return " ".join(lines)


def processed_area(region: Region) -> np.ndarray:
    """Pixels of the picture [H, W] that the model sees (a crop leaves a frame's sides out)."""
    seen = np.zeros((region.picture.height, region.picture.width), bool)
    left, top = region.box[:2] if region.box else (0, 0)
    part_seen = cells_to_pixels(np.ones_like(region.cells), region.place)
    seen[top : top + part_seen.shape[0], left : left + part_seen.shape[1]] = part_seen
    return seen


def frame_region(preview: Image.Image, box: Box | None, seen: np.ndarray) -> Image.Image:
    """Dim what the edit leaves out and frame the regenerated box."""
    arr = np.asarray(preview).copy()
    arr[~seen] = (arr[~seen] * 0.35 + 90).astype(np.uint8)
    out = Image.fromarray(arr)
    if box is not None:
        width = max(2, round(max(out.size) / 200))
        ImageDraw.Draw(out).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=(40, 120, 255), width=width)
    return out


def draw_region(region: Region) -> Image.Image:
    """The picture with the cells to regenerate outlined, the regenerated box framed, and what the edit leaves
    out (a crop's cut-off sides) dimmed."""
    left, top = region.box[:2] if region.box else (0, 0)
    preview = region.picture.copy()
    preview.paste(draw_cells(region.part, region.cells, region.place), (left, top))
    return frame_region(preview, region.box, processed_area(region))


def mask_preview(engine: Pipeline, image: Image.Image, mask, fit: str = "crop", threshold: float = 0.0, grow: int = 0,
                 region: str = "auto", padding: int | None = None) -> Image.Image:
    """The picture with the latent cells that will be regenerated outlined, the regenerated box framed,
    and what the edit leaves out (a crop's cut-off sides) dimmed."""
    return draw_region(prepare_region(engine, image, mask, fit, threshold, grow, region, padding))


def draw_cells(image: Image.Image, cells: np.ndarray, place: Placement, color=(255, 40, 40)) -> Image.Image:
    """The image with each cell to regenerate outlined and lightly tinted."""
    out = image.convert("RGB").copy()
    overlay = Image.new("RGBA", out.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    left, top, right, _ = place.box
    step = (right - left) / cells.shape[0]
    width = max(1, round(step / 12))
    for r, c in zip(*np.nonzero(cells)):
        box = (left + c * step, top + r * step, left + (c + 1) * step - 1, top + (r + 1) * step - 1)
        draw.rectangle(box, fill=color + (60,), outline=color + (255,), width=width)
    return Image.alpha_composite(out.convert("RGBA"), overlay).convert("RGB")


def canvas_preview(engine: Pipeline, image: Image.Image, expand, overlap: float = 0.5,
                   size: tuple[int, int] | None = None, longest: int = 768) -> Image.Image:
    """What a canvas expansion will do, at most `longest` px: the picture, the new area hatched, and the
    model windows outlined. `size`: the picture's own size when `image` is a reduced copy of it."""
    rgb = to_rgb(image)
    plan = canvas_plan(engine, size or rgb.size, expand, overlap)
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
    size = engine.resolution
    running = [(x, y) for x, y in plan.windows if not plan.known[y : y + size, x : x + size].all()]
    for i, (x, y) in enumerate(running):  # a window wholly on the picture has nothing to generate
        x, y = x - plan.pads[0], y - plan.pads[1]
        box = [v * to_out for v in (x, y, x + engine.resolution, y + engine.resolution)]
        box = [max(0, box[0]), max(0, box[1]), box[2], box[3]]
        box = [min(box[0], out_w - 1), min(box[1], out_h - 1), min(box[2], out_w) - 1, min(box[3], out_h) - 1]
        draw.rectangle(box, outline=colours[i % 2], width=width)
    return out
