"""What every tab shares: error handling, the result widgets, "send to"."""
from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import gradio as gr
from PIL import Image

from ...errors import BiGRError, InputError
from ...images import DISPLAY_MAX, for_display
from ..saving import read_params

log = logging.getLogger("bigr_app.ui")
UNCONDITIONAL = "(unconditional)"


def friendly_errors(fn):
    """Engine errors become a readable message in the page; anything else is logged and reported
    without a traceback, and the server carries on."""

    @contextlib.contextmanager
    def readable():
        try:
            yield
        except BiGRError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as e:  # noqa: BLE001 - the server must keep serving
            log.exception("request failed")
            raise gr.Error(f"Internal error ({type(e).__name__}): {e}", print_exception=False) from None

    if inspect.isgeneratorfunction(fn):  # a handler that shows pictures as they form
        @functools.wraps(fn)
        def streamed(*args, **kwargs):
            with readable():
                yield from fn(*args, **kwargs)

        return streamed

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with readable():
            return fn(*args, **kwargs)

    return wrapper


def sampling_event(studio, button: gr.Button, fn: Callable, inputs: list, outputs: list, api_name: str):
    """`button` runs `fn`, showing pictures as they form (an API client gets only the result), as the API
    endpoint `api_name` too. It can be stopped. Returns the event."""
    return button.click(friendly_errors(studio.streaming(fn)), inputs, outputs, api_name=api_name)


def result_panel(label: str, elem_id: str) -> SimpleNamespace:
    """A gallery of display copies (whole pictures), the full-size PNGs to download, and what acts on the picked
    one (the first when none is picked): send it to an editing tab, reuse its seed."""
    gallery = gr.Gallery(label=label, columns=4, height=320, format="png", interactive=False, elem_id=elem_id,
                         elem_classes=["result-gallery"],
                         object_fit="contain")
    files = gr.File(label="Download PNGs (full size, parameters embedded)", file_count="multiple",
                    interactive=False, elem_id=f"{elem_id}-files")
    picked = gr.State(None)
    pick_note = gr.Markdown("", elem_id=f"{elem_id}-picked")
    with gr.Row():
        send = tuple(gr.Button(f"Send to {name}", size="sm") for name in ("Inpaint", "Edit", "Outpaint"))
        reuse = gr.Button("♻ Reuse seed", size="sm", elem_id=f"{elem_id}-reuse")
    # the pick is the file itself, not its index: a pick from an earlier gallery then no longer matches, with no
    # separate "clear on change" event that a quick click could overtake
    gallery.select(pick, files, [picked, pick_note], api_name=False, queue=False)
    gallery.change(lambda: "", None, pick_note, api_name=False, queue=False)  # the note only: the pick checks itself
    return SimpleNamespace(gallery=gallery, files=files, picked=picked, pick_note=pick_note, send=send, reuse=reuse)


def file_paths(files) -> list[str]:
    return [f if isinstance(f, str) else getattr(f, "path", None) or f.get("path") for f in files or []]


def pick(files, evt: gr.SelectData) -> tuple[str | None, str]:
    """The clicked result's file, and a line saying which one the buttons below now act on."""
    paths = file_paths(files)
    if not 0 <= evt.index < len(paths):
        return None, ""
    path = paths[evt.index]
    try:
        seed = read_params(path).get("seed")
    except InputError:
        seed = None
    return path, f"Picked picture {evt.index + 1} of {len(paths)}" + (f", seed {seed}" if seed is not None else "")


REGION_SHARE = 0.25  # an edit's box smaller than this share of a large picture is what its gallery shows
REGION_CAPTION = "the edited region: the whole picture is its file below"


def region_of(image: Image.Image, box) -> Image.Image | None:
    """A masked edit of a large picture that changed a small box: the box with a margin (a quarter of its size on
    each side), so that results that differ only there can be told apart at gallery size. None: show it whole."""
    if not box or max(image.size) <= DISPLAY_MAX:
        return None
    left, top, right, bottom = (int(v) for v in box)
    if (right - left) * (bottom - top) > REGION_SHARE * image.width * image.height:
        return None
    mx, my = (right - left) // 4, (bottom - top) // 4
    return image.crop((max(0, left - mx), max(0, top - my), min(image.width, right + mx),
                       min(image.height, bottom + my)))


def gallery_entry(image: Image.Image, path: Path, folder: Path, box=None) -> str | tuple[str, str]:
    """What a result panel shows of the result saved at `path`: its display copy, or its edited region."""
    region = region_of(image, box)
    if region is None:
        return str(save_view(image, path, folder))
    out = folder / f"{path.stem}.region.jpg"
    for_display(region).save(out, quality=90)
    return str(out), REGION_CAPTION


def save_view(image: Image.Image, path: Path, folder: Path | None = None) -> Path:
    """The copy of a result saved at `path` that the page shows (see `images.for_display`), in `folder` (default:
    beside it); the file itself if it fits."""
    view = for_display(image)
    if view is image:
        return path
    enlarged = view.width > image.width  # crisp pixels: PNG; a reduced photo: JPEG, quick to send
    out = (folder or path.parent) / (path.stem + (".view.png" if enlarged else ".view.jpg"))
    view.save(out, **({} if enlarged else {"quality": 90}))
    return out


def picked_file(picked: str | None, files) -> str:
    """The full-size file of the picked result (the first if none of these is picked)."""
    paths = file_paths(files)
    if not paths:
        raise InputError("nothing here yet: make a picture first")
    return picked if picked in paths else paths[0]


def send_to(studio, tab_id: str, picked: str | None, files, request: gr.Request = None) -> tuple[Any, Any, Any]:
    """The picked result into an editing tab, through the same path as a dropped picture: (its state, editor
    value, the tab)."""
    picture, value, _ = studio.picture_uploaded(picked_file(picked, files), request)
    return picture, value, gr.Tabs(selected=tab_id)


def reuse_seed(picked: str | None, files) -> int:
    """The picked result's own seed, from its PNG: with it, the first sample is that picture again."""
    return int(read_params(picked_file(picked, files))["seed"])
