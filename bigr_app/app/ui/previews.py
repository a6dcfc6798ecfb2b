"""Pictures that form as they sample: the latest state of a running sampling, its known tokens decoded and the
rest shown as mask, made on the request's thread while the device samples on, and throttled so that making them
takes at most `share` of the time."""
from __future__ import annotations

import threading
import time

import numpy as np
import torch
from PIL import Image

from ...images import for_display

MASK_GREY = np.array([128, 128, 128], np.uint8)


class Previews:
    """`preview(tokens, unknown)` takes the loop's state (on the device's thread: a copy only); `pictures()` makes
    pictures of the latest state it has not shown yet, if the throttle allows (None otherwise)."""

    def __init__(self, share: float = 0.1):
        self.share = share
        self.lock = threading.Lock()
        self.latest: tuple[torch.Tensor, torch.Tensor] | None = None
        self.engine = None  # the request's engine, set by whoever hands this to the loop
        self.next_at = 0.0
        self.spent = 0.0  # seconds making pictures
        self.shown = 0

    def preview(self, tokens: torch.Tensor, unknown: torch.Tensor) -> None:
        with self.lock:
            self.latest = (tokens.detach().clone(), unknown.detach().clone())

    def pictures(self) -> list[Image.Image] | None:
        if self.engine is None or time.perf_counter() < self.next_at:
            return None
        with self.lock:
            state, self.latest = self.latest, None
        if state is None:
            return None
        start = time.perf_counter()
        images = self.decode(*state)
        took = time.perf_counter() - start
        self.spent += took
        self.shown += 1
        self.next_at = time.perf_counter() + took * (1 - self.share) / self.share  # took <= share of each period
        return images

    @torch.inference_mode()
    def decode(self, tokens: torch.Tensor, unknown: torch.Tensor) -> list[Image.Image]:
        engine, b = self.engine, tokens.shape[0]
        bits = (tokens > 0.5).reshape(b, engine.grid, engine.grid, -1)
        masked = unknown.reshape(b, engine.grid, engine.grid).cpu().numpy()
        out = []
        for image, cells in zip(engine.decode(bits), masked):
            pixels = np.asarray(image).copy()
            scale = pixels.shape[0] // engine.grid
            pixels[np.kron(cells, np.ones((scale, scale), bool))] = MASK_GREY
            out.append(for_display(Image.fromarray(pixels)))
        return out
