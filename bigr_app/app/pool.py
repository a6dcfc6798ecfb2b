"""The engines a server samples with: one per device, each behind its own batcher (`sampling.batching`), and
each request sent to the least busy. No gradio here: the pool serves any front end."""
from __future__ import annotations

import contextlib
import copy
import threading
from typing import Callable, Iterator, Sequence

import torch

from ..engine import Engine
from ..errors import InputError
from ..sampling.batching import BatchedDecode


def serving_devices(spec: str) -> list[str]:
    """--device for a server: one device ("auto", "cpu", "cuda:1"), several ("cuda:0,cuda:1"), or "all" (every
    GPU; the CPU when there is none)."""
    if spec == "all":
        count = torch.cuda.device_count()
        return [f"cuda:{i}" for i in range(count)] if count else ["cpu"]
    devices = [d.strip() for d in spec.split(",") if d.strip()]
    if not devices:
        raise InputError(f"--device {spec!r}: name a device, several separated by commas, or 'all'")
    return devices


class EnginePool:
    """Engines of one model, one per device. `window` and `max_batch` set each device's batching (max_batch 1:
    none). The engines given are not changed: the pool samples with copies that share their weights."""

    def __init__(self, engines: Sequence[Engine], window: float = 1.0, max_batch: int = 16):
        if not engines:
            raise InputError("a pool needs at least one engine")
        self.window, self.max_batch = window, max_batch
        self.engines = [self.served(e) for e in engines]
        self.lock = threading.Lock()
        self.requests = [0] * len(self.engines)  # requests being served, per engine
        self.local = threading.local()

    def served(self, engine: Engine) -> Engine:
        loop = engine.decode_loop
        loop = loop.loop if isinstance(loop, BatchedDecode) else loop
        copied = copy.copy(engine)
        copied.decode_loop = BatchedDecode(self.window, self.max_batch, loop=loop)
        return copied

    @property
    def devices(self) -> list[str]:
        return [str(e.device) for e in self.engines]

    @contextlib.contextmanager
    def request(self) -> Iterator[Engine]:
        """A request's engine, the least busy (fewest requests; the first of equals): held for the request, and
        what `current()` returns on its thread meanwhile."""
        with self.lock:
            i = min(range(len(self.engines)), key=self.requests.__getitem__)
            self.requests[i] += 1
            engine = self.engines[i]
        self.local.engine = engine
        try:
            yield engine
        finally:
            self.local.engine = None
            with self.lock:
                self.requests[i] -= 1

    def current(self) -> Engine:
        """The engine of the request on this thread; outside a request, the first."""
        return getattr(self.local, "engine", None) or self.engines[0]

    def replace(self, load: Callable[[str], Engine]) -> None:
        """A model switch: `load(device)` on every device; all or nothing."""
        fresh = [load(device) for device in self.devices]
        with self.lock:
            self.engines = [self.served(e) for e in fresh]
