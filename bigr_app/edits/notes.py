"""What to expect before an edit: the frame the model sees, and a note when a picture is far larger than the
model's resolution or unlike what it was trained on."""
from __future__ import annotations


import numpy as np
from PIL import Image

from ..pipeline import Pipeline
from ..images import Placement, frame_fit, pils_to_tensor, placement, psnr, to_rgb
from ..images import fit as fit_square
from .regions import draw_region, frame_region, prepare_region


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

