"""Batching across callers: many threads (a server's requests) call the masked-decoding loop, and those whose
calls are compatible (same model, settings and device) within a short window run as one batch.

It stands in for `masked_decode` (an engine's `decode_loop`), so every task batches through it, and each caller
gets exactly its own rows back: every row samples from its own stream and follows its own schedule, so a
request's pictures are those it gets alone. While one batch runs on the device, the next one gathers.

Every batch runs on one long-lived thread per device. On a CPU this matters: each thread that runs torch keeps
its own OpenMP team, and with teams from many request threads on few cores, the idle ones stop spinning between
the many small operations of sampling, which then ran about twice as slow in a server as in a script.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

import torch

from .masked_decoding import masked_decode
from .noise import SampleStreams
from .params import SamplingParams

log = logging.getLogger(__name__)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype in force on this thread for `device` (None: off)."""
    return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None


@dataclass
class Call:
    """One caller's share of a batch."""
    tokens: torch.Tensor
    cells: torch.Tensor
    cond: torch.Tensor
    uncond: torch.Tensor | None
    noise: SampleStreams
    progress: Callable[[int, int], None] | None
    exact: bool = True
    done: threading.Event = field(default_factory=threading.Event)
    result: torch.Tensor | None = None
    error: BaseException | None = None

    def report(self, done: int, total: int) -> None:
        """Progress to this caller only; a caller whose progress fails (stopped, gone) just gets that error."""
        if self.progress is None or self.error is not None:
            return
        try:
            self.progress(done, total)
        except Exception as e:  # noqa: BLE001 - the batch goes on for the others
            self.error = e


class BatchProgress:
    """A batch's progress to its callers: each its own report, and its own rows of a preview."""

    def __init__(self, calls: list[Call]):
        self.calls = calls
        self.rows = [len(c.tokens) for c in calls]

    def __call__(self, done: int, total: int) -> None:
        for call in self.calls:
            call.report(done, total)

    def preview(self, tokens: torch.Tensor, unknown: torch.Tensor) -> None:
        for call, t, u in zip(self.calls, tokens.split(self.rows), unknown.split(self.rows)):
            shown = getattr(call.progress, "preview", None)
            if shown is not None and call.error is None:
                shown(t, u)


@dataclass
class Batch:
    target: int  # calls worth waiting for
    calls: list[Call] = field(default_factory=list)
    full: threading.Event = field(default_factory=threading.Event)

    @property
    def rows(self) -> int:
        return sum(len(c.tokens) for c in self.calls)


class BatchedDecode:
    """`masked_decode`'s signature; calls that can share a batch gather for as long as the device is busy, up to
    `max_batch` rows. One batch runs at a time (per instance: one per device). max_batch 1: no batching.

    A new batch also waits up to `window` seconds for as many calls as are on this device when it opens
    (gathering or running) or were in the batch that ended last, if that was less than `window` ago: the users
    of a batch come back at about the same time, and a batch that started with the first of them would split
    them into a small batch and a large one for good. A lone user waits for no one."""

    def __init__(self, window: float = 1.0, max_batch: int = 16, loop: Callable = masked_decode,
                 threads: int | None = None):
        self.window, self.max_batch, self.loop = window, max_batch, loop
        self.device = ThreadPoolExecutor(1, thread_name_prefix="sampling", initializer=torch.set_num_threads,
                                         initargs=(threads or torch.get_num_threads(),))
        self.last_batch = (0, 0.0)  # its calls, and when it ended (time.monotonic)
        self.lock = threading.Lock()
        self.device_lock = threading.Lock()
        self.open: dict[tuple, Batch] = {}
        self.waiting_calls = 0  # calls gathering or running on this device, not yet answered
        self.batch_sizes: list[int] = []  # rows of each batch run, for the record

    def __call__(self, model, tokens: torch.Tensor, cells: torch.Tensor, cond: torch.Tensor,
                 uncond: torch.Tensor | None, params: SamplingParams, noise=None, progress=None, timer=None,
                 return_order: bool = False, graphs=None, exact: bool = True):
        alone = (not isinstance(noise, SampleStreams) or return_order or timer is not None
                 or len(tokens) >= self.max_batch)
        if alone:
            with self.busy(), self.device_lock:
                return self.on_device(tokens.device, self.loop, model, tokens, cells, cond, uncond, params, noise,
                                      progress, timer, return_order=return_order, graphs=graphs, exact=exact)
        key = (id(model), id(graphs), params, uncond is None, tokens.device, tokens.shape[1:], cond.shape[1:],
               autocast_dtype(tokens.device), exact)
        call = Call(tokens, cells, cond, uncond, noise, progress, exact)
        batch, leads = self.join(key, call)
        if leads:
            with self.device_lock:  # while an earlier batch runs, this one goes on gathering
                batch.full.wait(self.window)  # ... and then waits briefly for the users of that batch
                with self.lock:
                    if self.open.get(key) is batch:
                        del self.open[key]
                self.on_device(tokens.device, self.run, batch, model, params, graphs)
        call.done.wait()
        if call.error is not None:
            raise call.error
        return call.result

    def on_device(self, device: torch.device, fn: Callable, *args, **kwargs):
        """`fn` on this device's sampling thread, in the caller's autocast (autocast is per thread)."""
        dtype = autocast_dtype(device)

        def in_callers_precision():
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                return fn(*args, **kwargs)

        return self.device.submit(in_callers_precision).result()

    @contextlib.contextmanager
    def busy(self):
        """A call outside any batch counts as waiting while it runs."""
        with self.lock:
            self.waiting_calls += 1
        try:
            yield
        finally:
            with self.lock:
                self.waiting_calls -= 1

    def join(self, key: tuple, call: Call) -> tuple[Batch, bool]:
        """The open batch for `key` that has room (a new one, led by this caller, if none)."""
        with self.lock:
            self.waiting_calls += 1  # until its batch ends (`run`)
            batch = self.open.get(key)
            leads = batch is None or batch.rows + len(call.tokens) > self.max_batch
            if leads:
                if batch is not None:
                    batch.full.set()  # the one gathering now runs as it is
                batch = self.open[key] = Batch(target=self.calls_expected())
            batch.calls.append(call)
            if batch.rows >= self.max_batch:
                del self.open[key]
            if len(batch.calls) >= batch.target or batch.rows >= self.max_batch:
                batch.full.set()
            return batch, leads

    def calls_expected(self) -> int:
        calls, ended = self.last_batch
        recent = calls if time.monotonic() - ended < self.window else 0
        return max(self.waiting_calls, recent)

    def run(self, batch: Batch, model, params: SamplingParams, graphs) -> None:
        calls = batch.calls
        self.batch_sizes.append(batch.rows)
        start = time.perf_counter()
        try:
            if len(calls) == 1:
                outs = [self.decode(model, calls[0], params, graphs, BatchProgress(calls))]
            else:
                outs = self.decode_together(model, calls, params, graphs)
            for call, out in zip(calls, outs):
                call.result = out
        except Exception:  # noqa: BLE001 - each call alone then, so that a failure is its own caller's
            for call in calls:
                try:
                    call.result = self.decode(model, call, params, graphs, BatchProgress([call]))
                except Exception as e:  # noqa: BLE001
                    call.error = e
        finally:
            with self.lock:  # these calls are answered: the next batch waits for them only as returning users
                self.waiting_calls -= len(calls)
                self.last_batch = (len(calls), time.monotonic())
            for call in calls:
                call.done.set()
            log.debug("batch of %d rows from %d requests: %.2f s", batch.rows, len(calls), time.perf_counter() - start)

    def decode(self, model, call: Call, params, graphs, progress) -> torch.Tensor:
        return self.loop(model, call.tokens, call.cells, call.cond, call.uncond, params, call.noise, progress,
                         graphs=graphs, exact=call.exact)

    def decode_together(self, model, calls: list[Call], params, graphs) -> list[torch.Tensor]:
        report = BatchProgress(calls)
        uncond = None if calls[0].uncond is None else torch.cat([c.uncond for c in calls])
        streams = SampleStreams([g for c in calls for g in c.noise.generators], calls[0].noise.device)
        out = self.loop(model, torch.cat([c.tokens for c in calls]), torch.cat([c.cells for c in calls]),
                        torch.cat([c.cond for c in calls]), uncond, params, streams, report, graphs=graphs,
                        exact=calls[0].exact)
        return list(out.split([len(c.tokens) for c in calls]))
