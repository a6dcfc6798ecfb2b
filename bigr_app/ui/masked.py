"""The masked tabs: Inpaint, Edit class and Outpaint (canvas expansion or in-frame)."""
from __future__ import annotations

import tempfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from ..edits import REGIONS
from ..errors import InputError
from ..images import for_display
from ..resources import ASSETS
from .common import UNCONDITIONAL, editor, editor_parts, fit_tools, friendly_errors, result_panel

EXPAND, IN_FRAME = "expand the canvas", "in-frame (paint what to keep)"
OUTPAINT_SIDES = ("side_left", "side_top", "side_right", "side_bottom")


class MaskedActions:
    @staticmethod
    def picture_and_mask(editor, mask_file) -> tuple[Image.Image, Any]:
        """The editor's picture and the mask: an uploaded mask image (white = regenerate) if given, else the paint."""
        image, painted = editor_parts(editor)
        return image, (mask_file if mask_file is not None else painted)

    def preview(self, editor, mask_file, region, padding, fit, grow) -> tuple[Image.Image | None, str]:
        """The cells that will be regenerated (sized for display), and a note on what to expect."""
        try:
            image, mask = self.picture_and_mask(editor, mask_file)
            options = dict(fit=fit, grow=int(grow), region=region, padding=int(padding) or None)
            if mask is None:
                return for_display(image), self.engine.picture_note(image, fit=fit)
            preview, note = self.engine.mask_preview_and_note(image, mask, **options)
            return for_display(preview), note
        except InputError:
            return None, ""

    def _masked(self, task, editor, mask_file, class_name, blend_mode, radius, region, padding, fit, grow, n, seed,
                cfg, iterations, gumbel, steps, request, progress):
        image, mask = self.picture_and_mask(editor, mask_file)
        if mask is None:
            raise InputError("no mask: paint over the region first (brush tool), or upload a mask image")
        kwargs = dict(num_samples=self.samples(n), seed=int(seed), fit=fit, blend_mode=blend_mode,
                      feather_radius=float(radius), grow=int(grow), region=region, padding=int(padding) or None,
                      progress=self.reporter(progress), **self.sampling(cfg, iterations, gumbel, steps))
        spec = self.class_spec(class_name)
        if task == "edit":
            result = self.engine.edit(image, mask, spec, **kwargs)
        elif task == "outpaint":
            result = self.engine.outpaint(image, mask=mask, class_id=spec, **kwargs)
        else:
            result = self.engine.inpaint(image, mask, class_id=spec, **kwargs)
        return self.save(result, result.params, request)

    def inpaint(self, editor, mask_file, class_name, blend_mode, radius, region, padding, fit, grow, n, seed, cfg,
                iterations, gumbel, steps, request: gr.Request = None, progress=gr.Progress()):
        return self._masked("inpaint", editor, mask_file, class_name, blend_mode, radius, region, padding, fit, grow,
                            n, seed, cfg, iterations, gumbel, steps, request, progress)

    def edit(self, editor, mask_file, class_name, blend_mode, radius, region, padding, fit, grow, n, seed, cfg,
             iterations, gumbel, steps, request: gr.Request = None, progress=gr.Progress()):
        if class_name in (None, "", UNCONDITIONAL):
            raise InputError("pick the target class")
        return self._masked("edit", editor, mask_file, class_name, blend_mode, radius, region, padding, fit, grow,
                            n, seed, cfg, iterations, gumbel, steps, request, progress)

    def outpaint(self, editor, mode, left, top, right, bottom, mask_file, class_name, blend_mode, radius, region,
                 padding, fit, grow, n, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
                 progress=gr.Progress()):
        if mode == IN_FRAME:
            return self._masked("outpaint", editor, mask_file, class_name, blend_mode, radius, region, padding, fit,
                                grow, n, seed, cfg, iterations, gumbel, steps, request, progress)
        image, _ = editor_parts(editor)
        result = self.engine.outpaint(
            image, expand=(int(left), int(top), int(right), int(bottom)), class_id=self.class_spec(class_name),
            num_samples=self.samples(n), seed=int(seed), progress=self.reporter(progress),
            **self.sampling(cfg, iterations, gumbel, steps),
        )
        return self.save(result, result.params, request)


# ---- layout -------------------------------------------------------------------------------
def example_editors() -> list[dict]:
    """Examples in assets/examples: NAME.png with NAME_mask.png (white = regenerate)."""
    out = []
    for img in sorted((ASSETS / "examples").glob("*.png")):
        mask_path = img.with_name(img.stem + "_mask.png")
        if img.stem.endswith("_mask") or not mask_path.is_file():
            continue
        out.append({"background": str(img), "layers": [str(mask_layer(mask_path))], "composite": None})
    return out


def mask_layer(mask_path: Path) -> Path:
    """A white-on-black mask file -> a transparent layer with red paint (what the editor shows)."""
    layer_path = Path(tempfile.gettempdir()) / "bigr-studio-examples" / mask_path.name
    if not layer_path.is_file():
        layer_path.parent.mkdir(parents=True, exist_ok=True)
        m = np.asarray(Image.open(mask_path).convert("L")) > 127
        rgba = np.zeros(m.shape + (4,), np.uint8)
        rgba[m] = (255, 40, 40, 255)
        Image.fromarray(rgba, "RGBA").save(layer_path)
    return layer_path


def mask_controls(choices: list[str], prefix: str, visible: bool = True) -> SimpleNamespace:
    """Class, then the mask options in a group (`group`) that a tab can hide."""
    cls = gr.Dropdown(choices, value=choices[0], label="Class", filterable=True, elem_id=f"{prefix}-class")
    with gr.Column(visible=visible) as group:
        with gr.Row():
            blend_mode = gr.Radio(["none", "feather", "poisson"], value="feather", label="Blend",
                                  elem_id=f"{prefix}-blend")
            radius = gr.Slider(0, 32, value=4, step=1, label="Feather radius (model px; scales with the picture)")
            grow = gr.Slider(-2, 2, value=0, step=1, label="Grow / shrink mask (cells)")
        with gr.Row():
            region = gr.Radio(list(REGIONS), value="auto", label="Region", elem_id=f"{prefix}-region",
                              info="masked: only the mask's surroundings, at the model's full resolution; "
                                   "whole: the whole picture; auto: masked when that is smaller")
            padding = gr.Slider(0, 64, value=0, step=1, label="Padding around the mask (model px; 0: 1/8 of the model)")
            fit = gr.Radio(["crop", "letterbox"], value="crop", label="Fit (region: whole)")
        mask_file = gr.Image(label="Or upload a mask (white = regenerate; replaces the painting)", type="pil",
                             image_mode="L", sources=["upload", "clipboard"], height=160,
                             elem_id=f"{prefix}-mask-file")
    return SimpleNamespace(cls=cls, blend=blend_mode, radius=radius, region=region, padding=padding, fit=fit,
                           grow=grow, mask_file=mask_file, group=group,
                           restorable=dict(class_id=cls, blend=blend_mode, radius=radius, region=region,
                                           padding=padding, fit=fit, grow=grow))


def mask_inputs(controls: SimpleNamespace) -> list:
    """The mask options in the order the masked actions take them."""
    c = controls
    return [c.mask_file, c.cls, c.blend, c.radius, c.region, c.padding, c.fit, c.grow]


def masked_tab(studio, settings: SimpleNamespace, prefix: str, title: str, editor_label: str, button: str,
               unconditional: bool, examples: list[dict] | None = None) -> SimpleNamespace:
    """A tab with a paintable editor, the live cell preview, mask options and a result panel."""
    action = getattr(studio, prefix)
    with gr.Tab(title, id=prefix):
        with gr.Row():
            ed = editor(editor_label, f"{prefix}-editor")
            preview = gr.Image(label="Cells that will be regenerated", type="pil", interactive=False,
                               elem_id=f"{prefix}-preview", height=420)
        note = gr.Markdown(elem_id=f"{prefix}-note")
        controls = mask_controls(studio.class_choices(unconditional), prefix)
        btn = gr.Button(button, variant="primary", elem_id=f"{prefix}-button")
        stop = gr.Button("Stop", size="sm")
        results = result_panel("Results", f"{prefix}-gallery")
        if examples:
            gr.Examples([[e] for e in examples], inputs=[ed], label="Examples (image + mask)")
    preview_inputs = [ed, controls.mask_file, controls.region, controls.padding, controls.fit, controls.grow]
    show_preview = dict(fn=friendly_errors(studio.preview), inputs=preview_inputs, outputs=[preview, note],
                        api_name=False, show_progress="hidden")
    for knob in preview_inputs:
        knob.change(trigger_mode="always_last", **show_preview)
    # an upload fires no change event: size the brush for the new picture, then preview it
    ed.upload(fit_tools, ed, ed, api_name=False, show_progress="hidden").then(**show_preview)
    evt = btn.click(friendly_errors(action), [ed, *mask_inputs(controls), *settings.samp], [results.gallery, results.files],
                    api_name=prefix)
    stop.click(None, None, None, cancels=[evt], api_name=False)
    return SimpleNamespace(editor=ed, cls=controls.cls, results=results,
                           restorable=dict(controls.restorable, editor=ed))


def outpaint_tab(studio, settings: SimpleNamespace) -> SimpleNamespace:
    """Expand the canvas by pixels on any side, or keep a painted region and regenerate the rest of the frame;
    each mode shows only its own controls."""
    with gr.Tab("Outpaint", id="outpaint"):
        with gr.Row():
            ed = editor("Picture (in-frame mode: paint what to keep)", "outpaint-editor")
            with gr.Column():
                mode = gr.Radio([EXPAND, IN_FRAME], value=EXPAND, label="Mode", elem_id="outpaint-mode")
                with gr.Column() as sides_group:
                    sides = [gr.Slider(0, 4096, value=64 if side == "Right" else 0, step=8, label=f"{side} (px)",
                                       elem_id=f"outpaint-{side.lower()}") for side in ("Left", "Top", "Right", "Bottom")]
        controls = mask_controls(studio.class_choices(True), "outpaint", visible=False)
        btn = gr.Button("Outpaint", variant="primary", elem_id="outpaint-button")
        stop = gr.Button("Stop", size="sm")
        results = result_panel("Outpainted", "outpaint-gallery")
    ed.upload(fit_tools, ed, ed, api_name=False, show_progress="hidden")
    mode.change(lambda m: (gr.Column(visible=m == EXPAND), gr.Column(visible=m == IN_FRAME)), mode,
                [sides_group, controls.group], api_name=False, show_progress="hidden")
    evt = btn.click(friendly_errors(studio.outpaint), [ed, mode, *sides, *mask_inputs(controls), *settings.samp],
                    [results.gallery, results.files], api_name="outpaint")
    stop.click(None, None, None, cancels=[evt], api_name=False)
    return SimpleNamespace(editor=ed, cls=controls.cls, results=results,
                           restorable=dict(controls.restorable, editor=ed, mode=mode, **dict(zip(OUTPAINT_SIDES, sides))))
