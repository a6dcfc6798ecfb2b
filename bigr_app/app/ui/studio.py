"""`Studio`: the page's side of the service (`app.service`): the served model, the session folders, the timing,
and what every tab needs of them: running a task request for a page request (`run`, `streaming`), the classes, a
picture coming into an editor, whose results a request's are. Each tab's actions are a small class of its own
module holding the studio."""
from __future__ import annotations

import contextvars
import functools
import threading
import time
from concurrent.futures import Future, TimeoutError as FutureTimeout
from typing import Any, Callable

import gradio as gr

from ...engine import Engine
from ...errors import BiGRError, InputError, Stopped
from ...images import EDITOR_LIMIT
from ...model.hub import OFFICIAL_MODELS
from ...tasks import TaskRequest
from ..edit_time import picture_costs
from ..expected_time import ExpectedTime
from ..options import model_label
from ..outputs import Outputs
from ..pool import EnginePool
from ..shares import UserShares
from ..service import ResultStore, RunContext, Service
from ..sessions import Sessions
from .common import UNCONDITIONAL, gallery_entry, log
from .mask_canvas import painting
from .explore import load_explore_index
from .picture import Picture, load_picture
from .previews import Previews

ModelMenu = dict[str, Callable[[str], Engine]]  # label -> loads that model on a device; the first is served at start


STREAM: contextvars.ContextVar[tuple[Previews | None, threading.Event] | None] = contextvars.ContextVar(
    "stream", default=None)  # the previews and stop flag of the request `Studio.streaming` runs, in its context


def from_api_client(request: gr.Request | None) -> bool:
    return (getattr(request, "headers", None) or {}).get("x-gradio-user") == "api"


class Studio:
    """Results go to `outputs` (a folder with its history) when given; the page's copies, and the results when
    not, to a private temporary folder per session. `per_browser`, `per_user`, `admins`: whose results are whose
    (see `sessions.Sessions`). `previews`: the page shows pictures as they form.
    `engine`: one engine, or a pool of them (one per device, batching requests)."""

    def __init__(self, engine: Engine | EnginePool, max_samples: int = 8, models: ModelMenu | None = None,
                 editor_limit: int = EDITOR_LIMIT, outputs: Outputs | None = None, per_browser: bool = False,
                 previews: bool = True, per_user: bool = False, max_waiting_per_user: int | None = None,
                 admins: frozenset[str] = frozenset()):
        self.max_samples = max_samples
        self.shares = UserShares(max_waiting_per_user)
        self.previews = previews
        self.outputs = outputs
        self.sessions = Sessions(outputs, per_browser, per_user, admins)
        self.editor_limit = editor_limit
        self.pool = engine if isinstance(engine, EnginePool) else EnginePool([engine])
        self.service = Service(self.pool, ResultStore(outputs), self.shares, model=lambda: self.model)
        first = self.pool.engines[0]
        self.models = models or {model_label(first.source): self.engine_on}
        self.model = next(iter(self.models))
        self.expected = ExpectedTime(self.pool)
        self.explore = load_explore_index(first)
        picture_costs()  # measured now, not on the first preview

    def engine_on(self, device: str) -> Engine:
        return next(e for e in self.pool.engines if str(e.device) == device)

    @property
    def engine(self) -> Engine:
        """The served model (its classes, defaults, grid): what the page asks of it without sampling."""
        return self.service.engine

    def look(self, fn: Callable[[Engine], Any]) -> Any:
        """`fn(engine)` on a leased engine of the pool, for the page's own small work on the model (a note's one
        encode and decode of the picture); not counted against anyone's share, so a note is never refused."""
        return self.service.compute(fn, RunContext())

    def context(self, request: gr.Request | None, progress: gr.Progress | None = None) -> RunContext:
        """What the service needs of a page or API request: whose it is, its results' folder, its progress bar and,
        inside `streaming`, its previews and stop flag."""
        previews, stop = STREAM.get() or (None, threading.Event())
        owner = self.sessions.owner(request)
        report = None
        if progress is not None:  # sampling reports from the device's thread: gradio finds the request by context
            page = contextvars.copy_context()

            def report(done: int, total: int) -> None:
                page.run(progress, (done, total), desc="sampling", unit="iterations")

        return RunContext(owner=owner, requester=owner or getattr(request, "session_hash", None), progress=report,
                          previews=previews, stop=stop, folder=self.sessions.request_folder(request))

    def run(self, task: TaskRequest, request: gr.Request | None, progress: gr.Progress | None = None,
            keep: bool = True) -> tuple[list, list[str]]:
        """`task` run for the page (see `Service.run`): (the pictures the page shows, their full-size files)."""
        ctx = self.context(request, progress)
        saved = self.service.run(task, ctx, keep)
        views = [gallery_entry(img, f, ctx.folder, saved.params.get("box")) for img, f in zip(saved.images, saved.files)]
        return views, [str(f) for f in saved.files]

    def served_model_changed(self) -> None:
        self.expected.measure()
        self.explore = load_explore_index(self.pool.engines[0])

    def model_choices(self) -> list[tuple[str, str]]:
        """The picker's (label, name) pairs: an official model's label says what it downloads on first use."""
        return [(f"{name} · {OFFICIAL_MODELS[name].download_mb / 1000:.1f} GB download" if name in OFFICIAL_MODELS
                 else name, name) for name in self.models]

    def header(self) -> str:
        return f"# BiGR Studio\n**Model:** {self.model} · {self.engine.describe(source=False)}"

    def switch_model(self, choice: str, progress=gr.Progress(track_tqdm=True)) -> str:
        """Load the chosen model (an official one downloads on first use) and serve it from now on.
        On failure the current model stays and the reason is shown."""
        if choice == self.model:
            return choice
        if choice not in self.models:
            raise InputError(f"unknown model {choice!r}")
        progress(0, desc=f"loading {choice}")
        try:
            self.pool.replace(self.models[choice])
        except BiGRError as e:
            gr.Warning(f"{choice} could not be loaded; still serving {self.model}. {e}")
            return self.model
        self.served_model_changed()
        self.model = choice
        log.info("now serving %s on %s", self.pool.engines[0].describe(), ", ".join(self.pool.devices))
        return choice

    # ---- plumbing -------------------------------------------------------------------------
    def class_choices(self, unconditional: bool) -> list[str]:
        return ([UNCONDITIONAL] if unconditional else []) + list(self.engine.class_names)

    def class_spec(self, name: str | None):
        if name in (None, "", UNCONDITIONAL):
            return None
        return name

    def picture_uploaded(self, path: str | None, request: gr.Request = None) -> tuple:
        """A picture for an editing tab (dropped, sent from a result, restored): kept in the session's folder, its
        working copy onto the mask canvas, nothing painted. (the tab's `Picture`, the canvas's value, the paint)"""
        if path is None:
            return gr.skip(), gr.skip(), gr.skip()
        picture: Picture = load_picture(path, self.sessions.folder(request, "pictures"), self.editor_limit)
        return picture, painting(picture.working), None

    def register_browser(self, key: str | None, request: gr.Request = None) -> str:
        """At page load (gradio passes the request): see `Sessions.register_browser`."""
        return self.sessions.register_browser(key, request)

    def forget_session(self, request: gr.Request) -> None:
        """When the page closes (gradio passes the request): its folder goes."""
        self.sessions.forget(request)

    def streaming(self, fn: Callable) -> Callable:
        """`fn` (which runs its task with `run`) as a request its user can stop: a generator of (gallery, files)
        that shows the pictures as they form (if the page does: `previews`; not to an API client, which gradio_client
        marks; else it only beats, twice a second), then gives `fn`'s result. When gradio closes it (Stop in the
        page, a cancelled API job), the request's sampling ends at its next iteration and nothing is kept."""

        @functools.wraps(fn)
        def run(*args, **kwargs):
            request = next((a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None)
            show = self.previews and not from_api_client(request)
            forming, outcome, stop = Previews() if show else None, Future(), threading.Event()
            context = contextvars.copy_context()
            context.run(STREAM.set, (forming, stop))

            def request():
                try:
                    outcome.set_result(context.run(fn, *args, **kwargs))
                except Stopped as e:
                    log.info("%s: %s", fn.__name__, e)
                    outcome.set_exception(e)
                except BaseException as e:  # noqa: BLE001 - raised again below, on the page's thread
                    outcome.set_exception(e)

            beat = time.monotonic()
            try:
                yield gr.skip(), gr.skip()  # gradio holds the generator (to close it on a stop) from its first yield
                threading.Thread(target=request, name="request", daemon=True).start()
                while not outcome.done():
                    try:
                        outcome.result(timeout=0.05)
                    except FutureTimeout:
                        pictures = forming.pictures() if forming is not None else []
                        if pictures or time.monotonic() - beat > 0.5:  # gradio can close the generator at a yield
                            yield ([(p, "forming…") for p in pictures] if pictures else gr.skip()), gr.skip()
                            beat = time.monotonic()
            except GeneratorExit:
                stop.set()
                raise
            if forming is not None and forming.shown:
                log.info("%d previews, %.2f s making them", forming.shown, forming.spent)
            yield outcome.result()

        return run
