"""Pixels in and out: any PIL image to a model-sized RGB tensor, and back."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .errors import InputError

FIT_MODES = ("crop", "letterbox")
MAX_PIXELS = 40_000_000  # larger pictures are refused with a message, before any work is done


def set_max_pixels(limit: int) -> None:
    """Our limit, and Pillow's decompression-bomb guard (which errors at twice its value) with it."""
    global MAX_PIXELS
    if limit < 1:
        raise InputError(f"the pixel limit must be positive, got {limit}")
    MAX_PIXELS = int(limit)
    Image.MAX_IMAGE_PIXELS = MAX_PIXELS


set_max_pixels(MAX_PIXELS)


def check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise InputError(f"picture of {width}x{height} pixels is larger than the limit of {MAX_PIXELS:,} pixels; "
                         "downscale it first")
    if width < 1 or height < 1:
        raise InputError("the picture is empty")


def open_image(path: str | Path) -> Image.Image:
    """Read a picture file (an animation's first frame), checking its size before decoding it."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            check_size(img.width, img.height)
            img.load()
            return img.copy()
    except FileNotFoundError:
        raise InputError(f"{path.name}: no such file") from None
    except Image.DecompressionBombError as e:
        raise InputError(f"{path.name}: {e}") from None
    except (OSError, ValueError, SyntaxError) as e:  # truncated, unknown format, corrupt header (its name only:
        raise InputError(f"{path.name}: not a readable image ({e})") from None  # a server's paths are its own)


def to_rgb(image: Image.Image, background: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """EXIF orientation applied; any mode to RGB, transparency composited on `background`."""
    if not isinstance(image, Image.Image):
        raise InputError(f"expected a PIL image, got {type(image).__name__}")
    check_size(image.width, image.height)
    image = ImageOps.exif_transpose(image)
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        image = Image.fromarray(arr.round().astype(np.uint8), "L")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, background + (255,))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


@dataclass(frozen=True)
class Placement:
    """Where the model-sized square sits in the original picture (in original pixels)."""

    mode: str
    size: tuple[int, int]  # original (width, height)
    box: tuple[float, float, float, float]  # the square's (left, top, right, bottom) in original pixels
    margin: float = 0.0  # share of the square's side, on each side, kept clear of the picture


def placement(size: tuple[int, int], mode: str, margin: float = 0.0) -> Placement:
    if mode not in FIT_MODES:
        raise InputError(f"fit must be one of {FIT_MODES}, got {mode!r}")
    w, h = size
    side = min(w, h) if mode == "crop" else max(w, h)
    side /= 1 - 2 * margin
    left, top = (w - side) / 2, (h - side) / 2
    return Placement(mode, (w, h), (left, top, left + side, top + side), margin)


def fit(image: Image.Image, resolution: int, mode: str = "crop", background=(255, 255, 255),
        margin: int = 0) -> tuple[Image.Image, Placement]:
    """Centre-crop (or letterbox onto `background`) to a square, then resize to `resolution`; with `margin`
    (model pixels), the picture fills only the square's interior and the rest is `background`."""
    left, top, right, bottom = placement(image.size, mode).box
    fill = background if image.mode == "RGB" else 0
    if mode == "crop":
        square = image.crop((round(left), round(top), round(right), round(bottom)))
    else:
        side = round(right - left)
        square = Image.new(image.mode, (side, side), fill)
        square.paste(image, (round(-left), round(-top)))
    place = placement(image.size, mode, margin / resolution)
    if not margin:
        return square.resize((resolution, resolution), Image.Resampling.BICUBIC), place
    inner = resolution - 2 * margin
    out = Image.new(image.mode, (resolution, resolution), fill)
    out.paste(square.resize((inner, inner), Image.Resampling.BICUBIC), (margin, margin))
    return out, place


def unfit(result: Image.Image, original: Image.Image, place: Placement) -> Image.Image:
    """Paste a model-sized result back at the original size and framing."""
    left, top, right, bottom = place.box
    side = round(right - left)
    scaled = result.resize((side, side), Image.Resampling.BICUBIC)
    canvas = original.copy()
    canvas.paste(scaled, (round(left), round(top)))
    return canvas


def frame_fit(size: tuple[int, int], mode: str) -> str:
    """'auto': the whole frame (letterbox) for a non-square picture, a plain fit for a square one."""
    if mode == "auto":
        return "letterbox" if size[0] != size[1] else "crop"
    return mode


def frame_result(result: Image.Image, original: Image.Image, place: Placement) -> Image.Image:
    """A model-sized result of a whole-picture edit, at the size of what the model saw: the whole picture
    (letterboxed, or square), or only the centre square of a cropped non-square one (pasted back into the
    picture it would make a collage with the untouched sides)."""
    if place.mode == "crop" and original.width != original.height:
        cut = round(place.margin * result.width)
        inner = result.crop((cut, cut, result.width - cut, result.height - cut)) if cut else result
        side = min(original.size)
        return inner.resize((side, side), Image.Resampling.BICUBIC)
    return unfit(result, original, place)


def pils_to_tensor(images: list[Image.Image]) -> torch.Tensor:
    """Same-sized RGB images -> float tensor [B, 3, H, W] in [0, 1]."""
    arrays = [np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0 for img in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def tensor_to_pils(x: torch.Tensor) -> list[Image.Image]:
    """[B, 3, H, W] in [0, 1] (values outside are clipped) -> RGB images."""
    arr = (x.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    return [Image.fromarray(a, "RGB") for a in arr]


DISPLAY_SMALL = 128  # pictures with a side this small or smaller are enlarged for display
DISPLAY_MIN = 256  # ... by a whole factor, to at least this many pixels on that side
DISPLAY_MAX = 1024  # larger pictures are shown as copies this long, their files keep every pixel
EDITOR_LIMIT = 1024  # larger pictures go into the app's editors as working copies this long (serve --editor-limit)


def for_display(image: Image.Image) -> Image.Image:
    """A copy sized for the page, or the picture itself when it already is: small ones enlarged with nearest
    neighbours (crisp pixels rather than the browser's blur), very large ones reduced (a 12 MP PNG takes seconds
    to send and to draw)."""
    short, long = min(image.size), max(image.size)
    factor = min(-(-DISPLAY_MIN // short), 4096 // long) if short <= DISPLAY_SMALL else 1
    if factor > 1:
        return image.resize((image.width * factor, image.height * factor), Image.Resampling.NEAREST)
    if long > DISPLAY_MAX:
        scale = DISPLAY_MAX / long
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB for images in [0, 1]."""
    mse = (a.float().clamp(0, 1) - b.float()).pow(2).flatten(1).mean(1).clamp_min(1e-10)
    return 10 * torch.log10(1.0 / mse)
