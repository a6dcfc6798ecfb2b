"""The HTTP API beside the page: `POST /api/v1/<task>` for every task request (`tasks.REQUESTS`), with its JSON
schema made from the request types; `GET /api/v1/models`, `GET /api/v1/history` (and each picture's PNG), and
`POST /api/v1/cancel/<job>`. Pictures travel as base64 PNG or JPEG, and results come back the same way, each with
its parameters: no server path ever leaves the server. No gradio here: the routes run tasks through the service,
and the gate in front of the whole app (`gate`) is what asks for a login."""
from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
import typing
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any, Callable, Optional

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from .. import tasks
from ..errors import BiGRError, InputError, Stopped
from ..images import open_image
from .gate import logged_in_user
from .history import EVERYONE, Filters
from .outputs import Outputs
from .service import RunContext, Saved, Service
from .sessions import Caller, Sessions

PREFIX = "/api/v1"


def body_limit(max_file_size: int) -> int:
    """The largest body a task takes: a picture and a mask of the largest upload the page takes, as base64."""
    return 3 * max_file_size


class Picture(BaseModel):
    """One result: its PNG (base64, parameters embedded; left out with `?inline=false` when kept), its parameters,
    and when kept its History id and the PNG's address."""
    png: Optional[str] = None
    params: dict[str, Any]
    id: Optional[int] = None
    url: Optional[str] = None


class Pictures(BaseModel):
    task: str
    job: Optional[str] = None
    pictures: list[Picture]


def body_model(kind: type[tasks.TaskRequest]) -> type[BaseModel]:
    """The JSON body of a task: the request's fields, pictures as base64 strings, plus a `job` name to cancel it by."""
    hints = typing.get_type_hints(kind)
    body: dict[str, Any] = {"job": (Optional[str], Field(None, description="a name to stop it by: POST cancel/<job>"))}
    for f in fields(kind):
        if f.name == tasks.SOURCE_KEY:
            continue  # the API reckons it from the picture given
        annotation = Optional[str] if f.metadata.get("picture") else hints[f.name]
        default = f.default if f.default is not MISSING else (
            f.default_factory() if f.default_factory is not MISSING else ...)
        description = "base64 PNG or JPEG" + (" (white = regenerate)" if f.name == "mask" else "") \
            if f.metadata.get("picture") else None
        body[f.name] = (annotation, Field(default, description=description))
    return create_model(f"{kind.__name__}Body", __config__=ConfigDict(extra="forbid"),
                        __doc__=(kind.__doc__ or kind.task).strip(), **body)


def decoded(text: str, name: str, folder: Path) -> tuple[Any, str]:
    """A picture sent as base64 (a data URL's too), checked and opened: (picture, its content hash)."""
    data = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{name}: not base64") from None
    path = folder / name
    path.write_bytes(raw)
    return open_image(path), hashlib.sha256(raw).hexdigest()[:16]


def picture_of(saved: Saved, index: int, inline: bool = True) -> Picture:
    """Picture `index` of `saved`, its PNG inline unless `inline` is False and it is kept (then its `url` is how to
    fetch it)."""
    kept = saved.ids[index]
    url = None if kept is None else history_png_url(kept)
    png = base64.b64encode(Path(saved.files[index]).read_bytes()).decode("ascii") \
        if inline or kept is None else None
    return Picture(png=png, params=saved.each[index], id=kept, url=url)


def history_png_url(picture_id: int) -> str:
    return f"{PREFIX}/history/{picture_id}.png"


def api_router(service: Service, outputs: Outputs | None, sessions: Sessions,
               models: Callable[[], list[str]] = lambda: []) -> APIRouter:
    """The API's routes, run by `service`; `sessions` says whose results a caller's are (a logged-in user's are
    theirs, an admin sees everyone's; without accounts, the local user's). The gate limits the size of a body
    (`body_limit`)."""
    router = APIRouter(prefix=PREFIX, tags=["BiGR Studio"])

    def caller(request: Request) -> Caller:
        return Caller(username=logged_in_user(request.scope))

    def run(kind: type[tasks.TaskRequest], body: BaseModel, request: Request, inline: bool) -> Pictures:
        values = body.model_dump()
        job = values.pop("job")
        owner = sessions.owner(caller(request))
        with tempfile.TemporaryDirectory(prefix="bigr-api-") as tmp:
            folder = Path(tmp)
            source = None
            try:
                for f in fields(kind):
                    if f.metadata.get("picture") and values.get(f.name):
                        values[f.name], digest = decoded(values[f.name], f.name, folder)
                        if f.name == "picture":  # History links the results to it
                            source = digest
                values["sampling"] = tasks.Sampling(**(values.get("sampling") or {}))
                task = kind(**values, source_sha256=source)
                client = request.client.host if request.client else None
                ctx = RunContext(owner=owner, requester=owner or client, folder=folder, job=job)
                saved = service.run(task, ctx)
            except Stopped as e:
                raise HTTPException(409, str(e)) from None
            except (BiGRError, TypeError, ValueError) as e:
                raise HTTPException(400, str(e)) from None
            return Pictures(task=kind.task, job=job,
                            pictures=[picture_of(saved, i, inline) for i in range(len(saved.files))])

    def task_route(kind: type[tasks.TaskRequest]) -> Callable:
        def endpoint(body, request, inline=Query(True, description="false: each kept picture as its `url` only")):
            return run(kind, body, request, inline)

        endpoint.__annotations__ = {"body": body_model(kind), "request": Request, "inline": bool, "return": Pictures}
        endpoint.__doc__ = kind.__doc__
        return endpoint

    for name, kind in tasks.REQUESTS.items():
        router.add_api_route(f"/{name}", task_route(kind), methods=["POST"], response_model=Pictures, name=name)

    @router.get("/models")
    def served_models() -> dict[str, Any]:
        """The model served now (its classes, resolution and default sampling knobs), and those the server can
        switch to."""
        engine = service.engine
        return {"served": service.model(), "models": models(), "classes": list(engine.class_names),
                "resolution": engine.resolution, "defaults": engine.defaults.to_dict()}

    @router.get("/history")
    def history(request: Request, task: Optional[str] = None, page: int = Query(0, ge=0),
                per_page: int = Query(24, ge=1, le=200)) -> dict[str, Any]:
        """Your kept pictures, newest first (an admin's: everyone's)."""
        if outputs is None:
            raise HTTPException(404, "this server keeps no results (it runs without an outputs folder)")
        entries, total = outputs.history.page(Filters(task=task or None, owner=sessions.viewer(caller(request))),
                                              page, per_page)
        return {"total": total, "page": page,
                "pictures": [{"id": e.id, "task": e.task, "seed": e.seed, "created": e.created,
                              "params": e.params, "url": history_png_url(e.id)} for e in entries]}

    @router.get("/history/{picture_id}.png", response_class=FileResponse)
    def history_png(picture_id: int, request: Request):
        """One of your kept pictures, as its PNG."""
        try:
            entry = outputs.history.entry(picture_id, sessions.viewer(caller(request))) if outputs else None
        except InputError:
            entry = None
        if entry is None or not entry.path.is_file():
            raise HTTPException(404, f"no picture {picture_id} of yours")
        return FileResponse(entry.path, media_type="image/png", filename=entry.path.name)

    @router.post("/cancel/{job}")
    def cancel(job: str, request: Request) -> dict[str, bool]:
        """Stops your running request named `job` at its next iteration."""
        who = caller(request)
        return {"stopped": service.cancel(job, sessions.owner(who), admin=sessions.viewer(who) is EVERYONE)}

    return router
