"""The serving layer, with no gradio in it: `Service.run(request, ctx)` runs a typed task request (`tasks`) on the
least busy engine of the pool, within its user's share, reports its progress and previews to `ctx`, ends when
`ctx.stop` is set, and keeps its pictures in the result store. The page, the HTTP API and the command line all run
their tasks through it."""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator

from PIL import Image

from ..edits import Result
from ..engine import Engine
from ..errors import InputError, Stopped
from ..tasks import TaskRequest
from .outputs import Outputs
from .pool import EnginePool
from .saving import picture_params, save_png
from .shares import UserShares

log = logging.getLogger("bigr_app.service")
FAST_BATCHING = "fast (the picture depends on the batch it was made in)"


@dataclass
class RunContext:
    """Who a request is for and what it reports to. `owner`: whose results and share (None: the local user);
    `requester`: whose share of the batches (default: the owner); `progress(done, total)`; `previews`: an object
    with `preview(tokens, unknown)` and an `engine` attribute (see `ui.previews`); `stop`: set it to end the request
    at its next iteration; `folder`: where results not kept in the outputs folder go; `job`: a name the request can
    be stopped by (see `Service.cancel`)."""
    owner: str | None = None
    requester: Hashable | None = None
    progress: Callable[[int, int], None] | None = None
    previews: Any = None
    stop: threading.Event = field(default_factory=threading.Event)
    folder: Path | None = None
    job: str | None = None


class Reporter:
    """What sampling reports to for one request: its progress, its previews (the loop looks for a `preview`
    method), and its stop flag, which makes the next report raise `Stopped`."""

    def __init__(self, ctx: RunContext):
        self.ctx = ctx
        if ctx.previews is not None:
            self.preview = ctx.previews.preview

    def __call__(self, done: int, total: int) -> None:
        if self.ctx.stop.is_set():
            raise Stopped(f"stopped by its user at iteration {done} of {total}")
        if self.ctx.progress is not None:
            self.ctx.progress(done, total)


@dataclass
class Saved:
    """A result as kept: its parameters, and each picture's file, own parameters (its seed...) and History id
    (with an outputs folder)."""
    params: dict
    images: list[Image.Image]
    files: list[Path]
    each: list[dict]
    ids: list[int | None]


class ResultStore:
    """The one home of results, for the page, the API and the command line: with an outputs folder, its dated
    files and History; else the request's folder (`ctx.folder`)."""

    def __init__(self, outputs: Outputs | None = None):
        self.outputs = outputs

    def save(self, result: Result, ctx: RunContext, model: str, exact_batches: bool = True, keep: bool = True,
             **extra) -> Saved:
        """Each picture as a PNG with its parameters: the result's, the model's name (History filters by it), how
        it was batched when that matters, and `extra`. `keep` False: only in `ctx.folder` (a passing preview)."""
        params = {**result.params, "model": model, **extra}
        if not exact_batches:
            params["batching"] = FAST_BATCHING
        each = [picture_params(params, i) for i in range(len(result))]
        if self.outputs is not None and keep:
            entries = self.outputs.save(list(result), each, ctx.owner)
            return Saved(params, list(result), [e.path for e in entries], each, [e.id for e in entries])
        folder = ctx.folder or Path(".")
        files = [save_png(image, unused(folder / f"{params.get('task', 'result')}_s{p.get('seed')}_{i:02d}.png"), p)
                 for i, (image, p) in enumerate(zip(result, each))]
        return Saved(params, list(result), files, each, [None] * len(files))


def unused(path: Path) -> Path:
    """`path`, or the first of path-2, path-3... that is not there yet: a result never replaces another."""
    candidate, k = path, 1
    while candidate.exists():
        k += 1
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}")
    return candidate


class Service:
    """Runs task requests on `pool` for the model named `model()`, keeping results in `store`; `shares`: how many
    requests each user may have in progress."""

    def __init__(self, pool: EnginePool, store: ResultStore, shares: UserShares | None = None,
                 model: Callable[[], str] = lambda: "model"):
        self.pool, self.store, self.shares, self.model = pool, store, shares or UserShares(), model
        self.jobs: dict[tuple[str | None, str], RunContext] = {}  # (owner, job name) -> its request
        self.lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        """The served model (its classes, defaults, grid...): for what does not sample."""
        return self.pool.engines[0]

    def compute(self, fn: Callable[[Engine], Any], ctx: RunContext) -> Any:
        """`fn(engine)` on a leased engine, within the user's share: any work of a request on the model."""
        with self.shares.hold(ctx.owner), self.pool.request(ctx.requester or ctx.owner) as engine:
            if ctx.previews is not None:
                ctx.previews.engine = engine
            return fn(engine)

    def run(self, request: TaskRequest, ctx: RunContext, keep: bool = True) -> Saved:
        """The request's pictures, made and kept (`keep` False: only in `ctx.folder`, a passing preview)."""
        start = time.perf_counter()
        with self.running(ctx):
            result = self.compute(lambda engine: request.run(engine, Reporter(ctx)), ctx)
        made = time.perf_counter()
        saved = self.store.save(result, ctx, self.model(), self.engine.exact_batches, keep)
        log.info("%s: %d picture(s) in %.2f s: %.2f s in the engine, %.2f s saving", request.task, len(saved.files),
                 time.perf_counter() - start, made - start, time.perf_counter() - made)
        return saved

    @contextlib.contextmanager
    def running(self, ctx: RunContext) -> Iterator[None]:
        """`ctx` findable by its owner and job name while inside (see `cancel`)."""
        if ctx.job is None:
            yield
            return
        key = (ctx.owner, ctx.job)
        with self.lock:
            if key in self.jobs:
                raise InputError(f"you already have a request named {ctx.job!r} running")
            self.jobs[key] = ctx
        try:
            yield
        finally:
            with self.lock:
                self.jobs.pop(key, None)

    def cancel(self, job: str, owner: str | None, admin: bool = False) -> bool:
        """Stops `owner`'s running request named `job` (an admin: anyone's of that name): whether one was."""
        with self.lock:
            found = [ctx for (who, name), ctx in self.jobs.items() if name == job and (admin or who == owner)]
        for ctx in found:
            ctx.stop.set()
        return bool(found)
