"""What an edit of a picture costs beside sampling: reading the original, and for each result pasting it back
into a full-size copy and writing its PNG and the page's copy. On a 12 MP photo that is most of the wait, so the
expected time of a masked edit adds it to the sampling estimate (`sampling.timing`)."""
from __future__ import annotations

import functools
import io
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from ..images import for_display, to_rgb
from .saving import png_level

SAMPLE_SIDE = 600  # the picture measured at start-up (0.36 MP: about 0.3 s in all)


def sample_photo(width: int, height: int) -> Image.Image:
    """A smooth colour field with grain: compresses like a photograph (a flat or random picture would not)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32) / max(width, height)
    base = np.stack([np.sin(6 * x) * 80 + 128, np.cos(5 * y) * 80 + 128, (x + y) * 60 + 60], -1)
    grain = np.random.default_rng(0).normal(0, 10, base.shape).astype(np.float32)
    return Image.fromarray(np.clip(base + grain, 0, 255).astype(np.uint8))


@dataclass(frozen=True)
class PictureCosts:
    """Seconds per pixel: `read_px` to decode the original (a JPEG) and make it RGB; `result_px` per result to paste
    the regenerated part into a full-size copy and make the page's copy. Writing each result's PNG depends on the
    picture itself (see `png_seconds_per_pixel`)."""

    read_px: float
    result_px: float

    @classmethod
    def measure(cls, side: int = SAMPLE_SIDE) -> PictureCosts:
        photo = sample_photo(side, side)
        buffer = io.BytesIO()
        photo.save(buffer, format="JPEG", quality=92)
        jpeg = buffer.getvalue()

        def read():
            with Image.open(io.BytesIO(jpeg)) as im:
                to_rgb(im.copy())

        def result():
            copy = photo.copy()
            copy.paste(photo.crop((0, 0, side // 4, side // 4)), (side // 2, side // 2))
            for_display(copy.resize((side * 2, side)))  # the page's copy of a picture over 1,024 px

        return cls(best_of(read) / side**2, best_of(result) / side**2)

    def estimate(self, pixels: int, results: int, png_px: float) -> float:
        """Seconds of picture work for an edit of a `pixels` picture giving `results` pictures, each written as a
        PNG at `png_px` seconds per pixel."""
        return pixels * (self.read_px + results * (self.result_px + png_px))


def png_seconds_per_pixel(working: Image.Image, pixels: int) -> float:
    """How fast a picture of `pixels` pixels writes as PNG, read off its working copy: zlib's time follows the
    content (a smooth sky writes twice as fast as grain). On eight photographs the working copy's rate was 1 to
    1.5 times the original's."""
    seconds = best_of(lambda: working.save(io.BytesIO(), format="PNG", compress_level=png_level(pixels)), 1)
    return seconds / (working.width * working.height)


@functools.lru_cache(maxsize=1)
def picture_costs() -> PictureCosts:
    """This machine's picture costs, measured once per process."""
    return PictureCosts.measure()


def best_of(fn, repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best
