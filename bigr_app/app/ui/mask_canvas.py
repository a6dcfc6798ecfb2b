"""The mask canvas: the editing tabs' paint surface. Strokes are drawn in the page (mask_canvas.js) and only the
mask crosses the network, once per stroke. Its value has the shape of Gradio's image editor's ({"background":
file, "layers": [files], "composite": file}), so the API's callers send what they always sent."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData
from gradio_client import handle_file
from PIL import Image

from ...errors import InputError
from ...images import open_image, to_rgb

SCRIPT = (Path(__file__).parent / "mask_canvas.js").read_text()

TEMPLATE = """
<div class="mc" tabindex="0">
  <div class="mc-tools">
    <button type="button" data-tool="brush" class="mc-on" title="Brush (B)">Brush</button>
    <button type="button" data-tool="eraser" title="Eraser (E)">Eraser</button>
    <button type="button" data-tool="pan" title="Pan (or hold Space, or drag with the middle button)">Pan</button>
    <label class="mc-size-box" title="Brush size ([ and ])">Size <input class="mc-size" type="range" min="1"
      max="512" value="32"><span class="mc-size-label">32 px</span></label>
    <button type="button" data-act="undo" title="Undo (Ctrl+Z)">Undo</button>
    <button type="button" data-act="redo" title="Redo (Ctrl+Shift+Z)">Redo</button>
    <button type="button" data-act="clear" title="Remove all paint">Clear</button>
    <button type="button" data-act="invert" title="Paint what is bare, and the reverse">Invert</button>
    <button type="button" data-act="toggle">Hide mask</button>
    <span class="mc-zoom-box">
      <button type="button" data-act="zoom-out" title="Zoom out (or the wheel)">−</button><span
      class="mc-zoom">100%</span><button type="button" data-act="zoom-in" title="Zoom in (or the wheel)">+</button>
      <button type="button" data-act="zoom-100" title="One picture pixel to one screen pixel">1:1</button>
      <button type="button" data-act="fit" title="The whole picture in view">Fit</button>
    </span>
  </div>
  <div class="mc-view">
    <div class="mc-stage"><img class="mc-image" alt="" draggable="false"><canvas class="mc-mask"></canvas></div>
    <div class="mc-cursor"></div>
    <div class="mc-empty">Drop a picture on "Your picture" above</div>
  </div>
</div>
"""

STYLE = """
.mc { display: flex; flex-direction: column; gap: 6px; outline: none; padding-top: 26px; }
.mc-tools { display: flex; flex-wrap: wrap; gap: 4px; align-items: center; font-size: 13px; }
.mc-tools button { padding: 2px 8px; border: 1px solid var(--border-color-primary); border-radius: 4px;
                   background: var(--button-secondary-background-fill); color: var(--body-text-color); }
.mc-tools button.mc-on { background: var(--color-accent); color: white; }
.mc-size { width: 110px; vertical-align: middle; }
.mc-zoom { display: inline-block; min-width: 48px; text-align: center; }
.mc-view { position: relative; height: 420px; overflow: hidden; touch-action: none; cursor: none;
           background: repeating-conic-gradient(#ddd 0 25%, #f6f6f6 0 50%) 0 0 / 16px 16px;
           border: 1px solid var(--border-color-primary); border-radius: 4px; }
.mc-view.mc-panning { cursor: grab; }
.mc-stage { position: absolute; left: 0; top: 0; transform-origin: 0 0; }
.mc-image, .mc-mask { position: absolute; left: 0; top: 0; width: 100%; height: 100%; user-select: none; }
.mc-mask { opacity: 0.55; }
.mc-cursor { position: absolute; left: 0; top: 0; display: none; pointer-events: none; border-radius: 50%;
             border: 1px solid white; box-shadow: 0 0 0 1px black; }
.mc-empty { position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
            color: var(--body-text-color-subdued); pointer-events: none; }
.mc.mc-has-picture .mc-empty { display: none; }
"""


@dataclass(frozen=True)
class Painting:
    """What a mask canvas holds: the picture it shows (`background`, a file; read only when needed), its size, and
    the paint on it (True: regenerate), or None where nothing is painted."""

    background: str
    size: tuple[int, int]
    mask: np.ndarray | None

    def picture(self) -> Image.Image:
        return to_rgb(open_image(self.background))


def painting(background: Image.Image | str | Path | None, mask: np.ndarray | None = None) -> dict[str, Any]:
    """A canvas value to send to the page: a picture and, optionally, a mask on it (white = regenerate)."""
    layers = []
    if mask is not None and mask.any():
        rgba = np.zeros(mask.shape + (4,), np.uint8)
        rgba[mask] = (255, 40, 40, 255)
        layers.append(Image.fromarray(rgba, "RGBA"))
    return {"background": background, "layers": layers, "composite": None}


def _size_of(path: str) -> tuple[int, int]:
    try:
        with Image.open(path) as im:  # the header only
            return im.size
    except (OSError, ValueError, SyntaxError) as e:
        raise InputError(f"{Path(path).name}: not a readable image ({e})") from None


def _paint_of(layer: FileData, size: tuple[int, int] | None) -> np.ndarray | None:
    """A layer's paint (opaque pixels); a layer of another size than the picture is ignored, as the editor did."""
    image = open_image(layer.path)
    alpha = np.asarray(image.convert("RGBA").getchannel("A")) > 127
    return alpha if size is None or alpha.shape == size[::-1] else None


class MaskCanvas(gr.HTML):
    """A picture to paint a mask on: brush, eraser, undo and redo, clear, invert, zoom and pan, with mouse, pen or
    touch. Its `painted` event fires when a stroke ends; the handler gets a `Painting`."""

    data_model = EditorData

    def __init__(self, label: str, elem_id: str, **kwargs: Any):
        super().__init__(value=None, label=label, show_label=True, elem_id=elem_id, html_template=TEMPLATE,
                         css_template=STYLE, js_on_load=SCRIPT, apply_default_css=False, container=True, **kwargs)

    def preprocess(self, payload: EditorData | None) -> Painting | None:
        if payload is None or payload.background is None:
            return None
        size = _size_of(payload.background.path)
        masks = [m for m in (_paint_of(layer, size) for layer in payload.layers or []) if m is not None]
        mask = np.logical_or.reduce(masks) if masks else None
        return Painting(payload.background.path, size, mask if mask is not None and mask.any() else None)

    def postprocess(self, value: dict | None) -> EditorData | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            value = painting(value)
        return EditorData(background=self._file(value.get("background")),
                          layers=[self._file(layer) for layer in value.get("layers") or []], composite=None)

    def _file(self, image: Image.Image | str | Path | None) -> FileData | None:
        if image is None:
            return None
        if isinstance(image, Image.Image):
            image = gr.processing_utils.save_pil_to_cache(image, cache_dir=self.GRADIO_CACHE, format="png")
        return FileData(path=str(image))

    def api_info(self) -> dict[str, Any]:
        return gr.components.Component.api_info(self)

    # the API page's example: a public picture (as gr.ImageEditor's), not a path on this server
    EXAMPLE_URL = "https://raw.githubusercontent.com/gradio-app/gradio/main/test/test_files/bus.png"

    def example_payload(self) -> Any:
        return {"background": handle_file(self.EXAMPLE_URL), "layers": [], "composite": None}

    def example_value(self) -> Any:
        return {"background": self.EXAMPLE_URL, "layers": [], "composite": None}
