"""The picture an editing tab works on. The original stays on the server, in the browser session's folder; the
editor holds a working copy of at most `limit` px on the long side, so that painting on a 12 MP photo sends
a few hundred kilobytes per stroke instead of three full-size PNGs. Edits use the original's pixels, with the
painted mask scaled up to its size."""
from __future__ import annotations

import functools
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from ...errors import InputError
from ...images import EDITOR_LIMIT, check_size, open_image, to_rgb
from ...edits.masks import mask_array
from ..edit_time import png_seconds_per_pixel
from ..history import file_hash
from .mask_canvas import Painting

TRANSPOSED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


@dataclass(frozen=True)
class Picture:
    """`working`: what the editor holds. `path`: the original's file (None: the working copy is the original,
    as for a picture that came in through the editor itself). `size`: the original's (width, height).
    `source_hash`: the content hash of the file it came from (an edit records it: History links the two)."""

    working: Image.Image
    size: tuple[int, int]
    path: str | None = None
    source_hash: str | None = None

    @classmethod
    def of(cls, image: Image.Image) -> "Picture":
        return cls(image, image.size)

    def original(self) -> Image.Image:
        return open_image(self.path) if self.path else self.working

    @functools.cached_property
    def png_px(self) -> float:
        """Seconds per pixel to write a result of this picture's size as PNG (measured once, on the working copy)."""
        return png_seconds_per_pixel(self.working, self.size[0] * self.size[1])

    def full_mask(self, painted: np.ndarray) -> np.ndarray:
        """A mask painted on the working copy, at the original's size."""
        if painted.shape[::-1] == self.size:
            return painted
        return cv2.resize(painted.astype(np.float32), self.size, interpolation=cv2.INTER_LINEAR) >= 0.5


def working_size(size: tuple[int, int], limit: int) -> tuple[int, int]:
    scale = min(1.0, limit / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def load_picture(path: str | Path, folder: Path, limit: int = EDITOR_LIMIT) -> Picture:
    """Keep the file in `folder` (the session's; Gradio's upload cache is cleared under a long edit) and make its
    working copy. A JPEG is decoded at a reduced scale straight away (draft mode), a 12 MP photo in a tenth of
    the time of a full decode."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            check_size(im.width, im.height)
            orientation = im.getexif().get(0x0112, 1)
            size = im.size[::-1] if orientation in TRANSPOSED else im.size
            target = working_size(size, limit)
            if size != target:
                im.draft("RGB", target[::-1] if orientation in TRANSPOSED else target)
            working = ImageOps.exif_transpose(im)
            working.load()
    except FileNotFoundError:
        raise InputError(f"{path.name}: no such file") from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise InputError(f"{path.name}: not a readable image ({e})") from None
    working = to_rgb(working)  # what the engine would make of it: transparency on white, 16-bit scaled
    if working.size != target:
        working = working.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    if target == size:
        return Picture(working, size, None, file_hash(path))  # small enough: the editor holds the original itself
    folder.mkdir(parents=True, exist_ok=True)
    kept = folder / f"{uuid.uuid4().hex[:12]}{path.suffix.lower()}"
    shutil.copyfile(path, kept)
    return Picture(working, size, str(kept), file_hash(kept))


def in_editor(picture: Picture | None, painting: Painting) -> Picture:
    """The tab's picture, given what the canvas now shows: the stored one if the canvas holds its working copy,
    else the canvas's own picture (one given through the API)."""
    if picture is not None and picture.working.size == painting.size:
        return picture
    return Picture.of(painting.picture())


@functools.lru_cache(maxsize=8)
def _mask_file_at(path: str, size: tuple[int, int]) -> np.ndarray:
    return mask_array(open_image(path), size)


def mask_file_at(path: str, size: tuple[int, int]) -> np.ndarray:
    """An uploaded mask file (white = regenerate) at `size`: any size of the picture's shape is scaled to it.
    Read once per file and size (the preview asks for it on every change of a knob)."""
    return _mask_file_at(str(path), tuple(size)).copy()
