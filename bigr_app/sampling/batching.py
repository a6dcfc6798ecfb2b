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
from contextvars import ContextVar
from typing import Callable, Hashable

import torch

from .masked_decoding import masked_decode
from .noise import SampleStreams
from .params import SamplingParams

log = logging.getLogger(__name__)

requester: ContextVar[Hashable | None] = ContextVar("requester", default=None)  # whom a request is for: a user


def current_requester() -> Hashable:
    """The requester of calls made here: as set by `requests_of`, else this thread (a script's threads)."""
    who = requester.get()
    return who if who is not None else ("thread", threading.get_ident())


@contextlib.contextmanager
def requests_of(who: Hashable | None):
    """Calls made inside are `who`'s, for a fair share of the batches."""
    token = requester.set(who)
    try:
        yield
    finally:
        requester.reset(token)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The autocast dtype in force on this thread for `device` (None: off)."""
    return torch.get_autocast_dtype(device.type) if torch.is_autocast_enabled(device.type) else None


@dataclass(eq=False)
class Call:
    """One caller's share of a batch."""
    tokens: torch.Tensor
    cells: torch.Tensor
    cond: torch.Tensor
    uncond: torch.Tensor | None
    noise: SampleStreams
    progress: Callable[[int, int], None] | None
    exact: bool = True
    who: Hashable = None  # its requester (see `requester`)
    arrived: float = field(default_factory=time.monotonic)
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
        if all(call.error is not None for call in self.calls):  # every caller gone or stopped: the batch ends
            raise self.calls[0].error

    def preview(self, tokens: torch.Tensor, unknown: torch.Tensor) -> None:
        for call, t, u in zip(self.calls, tokens.split(self.rows), unknown.split(self.rows)):
            shown = getattr(call.progress, "preview", None)
            if shown is not None and call.error is None:
                shown(t, u)


@dataclass
class Queue:
    """The calls waiting for a batch of one kind (same model, settings and device), in order of arrival."""
    model: object
    params: SamplingParams
    graphs: object
    device: torch.device
    dtype: torch.dtype | None  # the callers' autocast
    calls: list[Call] = field(default_factory=list)

    def requesters(self) -> list:
        """Everyone with a call waiting, the longest waiting first."""
        return list(dict.fromkeys(c.who for c in self.calls))

    def firsts(self) -> list[Call]:
        """The oldest call of each requester."""
        firsts = {}
        for call in self.calls:
            firsts.setdefault(call.who, call)
        return list(firsts.values())

    def round_rows(self) -> int:
        """The rows of a round: one call of each requester waiting."""
        return sum(len(c.tokens) for c in self.firsts())

    def take(self, max_rows: int) -> list[Call]:
        """The next batch, fair across requesters: the oldest call of each, so that many calls of one cannot hold
        up another's single one for more than a batch (nor that batch be long: in exact batching every row costs
        its own time). A requester alone in fast batching, where rows come almost free, gets as many as fit."""
        firsts = self.firsts()
        candidates = self.calls if len(firsts) == 1 and not self.calls[0].exact else firsts
        batch, rows = [], 0
        for call in candidates:
            if rows + len(call.tokens) <= max_rows:
                batch.append(call)
                rows += len(call.tokens)
        batch = batch or candidates[:1]
        self.calls = [c for c in self.calls if c not in batch]
        return batch


class BatchedDecode:
    """`masked_decode`'s signature; calls that can share a batch gather for as long as the device is busy, up to
    `max_batch` rows. One batch runs at a time (per instance: one per device). max_batch 1: no batching.

    Batches are fair across requesters (the `requester` context variable: a server sets it to the user or browser
    of each request): each batch takes the oldest call of each requester waiting, so one requester's many calls
    never delay another's by more than one short batch (see `Queue.take`). The kind of call waiting longest runs
    first.

    A new batch also waits up to `window` seconds for the requesters of the batch that ended last, if that was
    less than `window` ago, besides those waiting: the users of a batch come back at about the same time, and a
    batch that started with the first of them would split them into a small batch and a large one for good. A
    lone user waits for no one."""

    def __init__(self, window: float = 1.0, max_batch: int = 16, loop: Callable = masked_decode,
                 threads: int | None = None):
        self.window, self.max_batch, self.loop = window, max_batch, loop
        self.device = ThreadPoolExecutor(1, thread_name_prefix="sampling", initializer=torch.set_num_threads,
                                         initargs=(threads or torch.get_num_threads(),))
        self.last_batch: tuple[set, float] = (set(), 0.0)  # its requesters, and when it ended (time.monotonic)
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # a call arrived or was answered, or the device came free
        self.device_busy = False
        self.queues: dict[tuple, Queue] = {}
        self.batch_sizes: list[int] = []  # rows of each batch run, for the record

    def __call__(self, model, tokens: torch.Tensor, cells: torch.Tensor, cond: torch.Tensor,
                 uncond: torch.Tensor | None, params: SamplingParams, noise=None, progress=None, timer=None,
                 return_order: bool = False, graphs=None, exact: bool = True):
        alone = (not isinstance(noise, SampleStreams) or return_order or timer is not None
                 or len(tokens) >= self.max_batch)
        if alone:
            with self.device_held():
                return self.on_device(tokens.device, self.loop, model, tokens, cells, cond, uncond, params, noise,
                                      progress, timer, return_order=return_order, graphs=graphs, exact=exact)
        dtype = autocast_dtype(tokens.device)
        key = (id(model), id(graphs), params, uncond is None, tokens.device, tokens.shape[1:], cond.shape[1:], dtype,
               exact)
        call = Call(tokens, cells, cond, uncond, noise, progress, exact, who=current_requester())
        with self.lock:
            queue = self.queues.setdefault(key, Queue(model, params, graphs, tokens.device, dtype))
            queue.calls.append(call)
            self.changed.notify_all()
        while not call.done.is_set():
            with self.device_held(call) as free:
                if free:  # this caller runs the next batch, its own call in it or not
                    queue, calls = self.gather()
                    self.in_precision(queue.device, queue.dtype, self.run, queue, calls)
        if call.error is not None:
            raise call.error
        return call.result

    def on_device(self, device: torch.device, fn: Callable, *args, **kwargs):
        """`fn` on this device's sampling thread, in the caller's autocast (autocast is per thread)."""
        return self.in_precision(device, autocast_dtype(device), fn, *args, **kwargs)

    def in_precision(self, device: torch.device, dtype: torch.dtype | None, fn: Callable, *args, **kwargs):
        def in_callers_precision():
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                return fn(*args, **kwargs)

        return self.device.submit(in_callers_precision).result()

    @contextlib.contextmanager
    def device_held(self, call: Call | None = None):
        """The device, once it is free (True), or False as soon as `call` is answered without it."""
        with self.lock:
            while self.device_busy and not (call is not None and call.done.is_set()):
                self.changed.wait()
            if call is not None and call.done.is_set():
                yield False
                return
            self.device_busy = True
        try:
            yield True
        finally:
            with self.lock:
                self.device_busy = False
                self.changed.notify_all()

    def gather(self) -> tuple[Queue, list[Call]]:
        """The next batch: of the kind of call waiting longest, once as many requesters wait as are expected (or
        the window has passed, or it is full)."""
        deadline = time.monotonic() + self.window
        with self.lock:
            key = min(self.queues, key=lambda k: self.queues[k].calls[0].arrived)
            queue = self.queues[key]
            expected = self.requesters_expected(queue)
            while (len(queue.requesters()) < expected and queue.round_rows() < self.max_batch
                   and time.monotonic() < deadline):
                self.changed.wait(deadline - time.monotonic())
            calls = queue.take(self.max_batch)
            if not queue.calls:
                del self.queues[key]
            return queue, calls

    def requesters_expected(self, queue: Queue | None = None) -> int:
        """Requesters worth waiting for: those with a call in `queue`, and those of the batch that just ended."""
        requesters, ended = self.last_batch
        recent = requesters if time.monotonic() - ended < self.window else set()
        return len(recent.union(queue.requesters() if queue is not None else ()))

    def run(self, queue: Queue, calls: list[Call]) -> None:
        model, params, graphs = queue.model, queue.params, queue.graphs
        rows = sum(len(c.tokens) for c in calls)
        self.batch_sizes.append(rows)
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
                if call.error is not None:  # stopped, or gone: nothing to redo
                    continue
                try:
                    call.result = self.decode(model, call, params, graphs, BatchProgress([call]))
                except Exception as e:  # noqa: BLE001
                    call.error = e
        finally:
            with self.lock:  # these calls are answered: the next batch waits for them only as returning users
                self.last_batch = ({c.who for c in calls}, time.monotonic())
                for call in calls:
                    call.done.set()
                self.changed.notify_all()
            log.debug("batch of %d rows from %d requests: %.2f s", rows, len(calls), time.perf_counter() - start)

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
