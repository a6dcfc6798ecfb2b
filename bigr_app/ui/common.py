"""What every tab shares: error handling, the editor and result widgets, "send to"."""
from __future__ import annotations

import functools
import logging
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from ..errors import BiGRError, InputError

log = logging.getLogger("bigr_app.ui")
UNCONDITIONAL = "(unconditional)"


def friendly_errors(fn):
    """Engine errors become a readable message in the page; anything else is logged and reported
    without a traceback, and the server carries on."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BiGRError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as e:  # noqa: BLE001 - the server must keep serving
            log.exception("request failed")
            raise gr.Error(f"Internal error ({type(e).__name__}): {e}", print_exception=False) from None

    return wrapper


def editor_parts(value: dict | None) -> tuple[Image.Image, np.ndarray | None]:
    """An ImageEditor value -> (background image, painted mask or None). Paint on any layer counts."""
    if not value or value.get("background") is None:
        raise InputError("no image: upload a picture first")
    background = value["background"]
    if not isinstance(background, Image.Image):
        background = Image.fromarray(np.asarray(background))
    mask = np.zeros((background.height, background.width), bool)
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        layer = layer if isinstance(layer, Image.Image) else Image.fromarray(np.asarray(layer))
        alpha = np.asarray(layer.convert("RGBA").getchannel("A"))
        if alpha.shape == mask.shape:
            mask |= alpha > 127
    return background, (mask if mask.any() else None)


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def result_panel(label: str, elem_id: str):
    gallery = gr.Gallery(label=label, columns=4, height=320, format="png", interactive=False, elem_id=elem_id)
    files = gr.File(label="Download PNGs (parameters embedded)", file_count="multiple", interactive=False)
    with gr.Row():
        to_inpaint = gr.Button("Send to Inpaint", size="sm")
        to_edit = gr.Button("Send to Edit", size="sm")
        to_outpaint = gr.Button("Send to Outpaint", size="sm")
    return gallery, files, (to_inpaint, to_edit, to_outpaint)


def editor(label: str, elem_id: str) -> gr.ImageEditor:
    return gr.ImageEditor(
        label=label, type="pil", image_mode="RGBA", sources=["upload", "clipboard"], elem_id=elem_id,
        brush=gr.Brush(default_size=24, colors=["#ff2828"], color_mode="fixed"), eraser=gr.Eraser(default_size=24),
        transforms=[], layers=False, height=420,
    )


def pick_from_gallery(gallery, evt: gr.SelectData):
    return gallery_path(gallery, evt.index)


def gallery_path(gallery, index: int = 0) -> str | None:
    if not gallery:
        return None
    item = gallery[index]
    image = item[0] if isinstance(item, (tuple, list)) else item
    return image if isinstance(image, str) else getattr(image, "path", None)


def send_to(tab_id: str, selected: str | None, gallery) -> tuple[Any, Any]:
    path = selected or gallery_path(gallery)
    if path is None:
        raise gr.Error("nothing to send: make a picture first", print_exception=False)
    image = Image.open(path).convert("RGB")
    return {"background": image, "layers": [], "composite": image}, gr.Tabs(selected=tab_id)
