"""The engines a server samples with: one per device, each behind its own batcher (`sampling.batching`), and
each request sent to the least busy. No gradio here: the pool serves any front end."""
from __future__ import annotations

import contextlib
import copy
import threading
from typing import Callable, Hashable, Iterator, Sequence

import torch

from ..engine import Engine
from ..errors import InputError
from ..sampling.batching import BatchedDecode, requests_of


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


def sample_on_one_thread() -> int:
    """Call first thing in a server: from now on torch runs on one core in every thread but the pool's sampling
    threads, which get all of them (the count returned). OpenMP keeps a team of threads for each thread that runs
    torch; with the teams of the main and request threads beside the sampling one, more threads than cores make
    idle teams stop spinning, and sampling, many small operations, then ran about half as fast on 2 cores."""
    cores = torch.get_num_threads()
    torch.set_num_threads(1)
    return cores


class EnginePool:
    """Engines of one model, one per device. `window` and `max_batch` set each device's batching (max_batch 1:
    none); `threads`, the torch threads of each CPU engine's sampling thread (default: all). The engines given are
    not changed: the pool samples with copies that share their weights."""

    def __init__(self, engines: Sequence[Engine], window: float = 1.0, max_batch: int = 16,
                 threads: int | None = None):
        if not engines:
            raise InputError("a pool needs at least one engine")
        self.window, self.max_batch = window, max_batch
        cpus = sum(e.device.type == "cpu" for e in engines)
        self.threads = max(1, (threads or torch.get_num_threads()) // max(cpus, 1))
        self.engines = [self.served(e) for e in engines]
        self.lock = threading.Lock()
        self.requests = [0] * len(self.engines)  # requests being served, per engine

    def served(self, engine: Engine) -> Engine:
        loop = engine.decode_loop
        loop = loop.loop if isinstance(loop, BatchedDecode) else loop
        copied = copy.copy(engine)
        copied.decode_loop = BatchedDecode(self.window, self.max_batch, loop=loop, threads=self.threads)
        return copied

    @property
    def devices(self) -> list[str]:
        return [str(e.device) for e in self.engines]

    @contextlib.contextmanager
    def request(self, who: Hashable | None = None) -> Iterator[Engine]:
        """A request's engine, the least busy (fewest requests; the first of equals), held for the request.
        `who`: whom it is for (a user, a browser), so that its batches are shared fairly with others' (see
        `sampling.batching`)."""
        torch.set_num_threads(1)  # this thread's own work (pictures in and out); sampling is the device thread's
        with self.lock:
            i = min(range(len(self.engines)), key=self.requests.__getitem__)
            self.requests[i] += 1
            engine = self.engines[i]
        try:
            with requests_of(who):
                yield engine
        finally:
            with self.lock:
                self.requests[i] -= 1

    @staticmethod
    def on_sampling_thread(engine: Engine, fn: Callable):
        """`fn()` where `engine` samples (a cost measurement, say, that should see the threads sampling gets)."""
        return engine.decode_loop.on_device(engine.device, fn)

    def replace(self, load: Callable[[str], Engine]) -> None:
        """A model switch: `load(device)` on every device; all or nothing."""
        fresh = [load(device) for device in self.devices]
        with self.lock:
            self.engines = [self.served(e) for e in fresh]  # the old ones' sampling threads end with them
