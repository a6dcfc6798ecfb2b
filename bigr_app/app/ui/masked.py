"""The masked tabs: Inpaint, Edit class and Outpaint (canvas expansion or in-frame)."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from ...edits.inpaint import PASTES
from ...edits.regions import REGIONS
from ...errors import InputError
from ...images import for_display, open_image
from ...resources import ASSETS
from ...tasks import EditRequest, InpaintRequest, MaskedRequest, OutpaintRequest
from .. import edit_previews
from .common import UNCONDITIONAL, friendly_errors, result_panel, sampling_event
from .mask_canvas import MaskCanvas, Painting, painting
from .picture import Picture, in_editor, mask_file_at
from .requests import Expansion, Form, MaskOptions, Sampling, handler

EXPAND, IN_FRAME = "expand the canvas", "in-frame (paint what to keep)"
OUTPAINT_SIDES = ("side_left", "side_top", "side_right", "side_bottom")


class MaskedActions:
    """The actions of the masked tabs (Inpaint, Edit class, Outpaint): previews of what will be regenerated, and
    the edits. The tab's picture is a `Picture`: the original on the server, a working copy in the editor."""

    def __init__(self, studio):
        self.studio = studio

    @staticmethod
    def read_editor(editor: Painting | None, picture: Picture | None) -> tuple[Picture, np.ndarray | None]:
        """The tab's picture (see `in_editor`) and the paint on its working copy."""
        if editor is None:
            raise InputError("no image: upload a picture first")
        return in_editor(picture, editor), editor.mask

    def painted(self, editor: Painting | None, picture: Picture | None) -> tuple[Picture | None, np.ndarray | None]:
        """After a stroke: the tab's picture and the paint on its working copy."""
        if editor is None:
            return None, None
        return self.read_editor(editor, picture)

    def example_loaded(self, index: int, request: gr.Request = None) -> tuple:
        """An example (picture and painted mask): the tab's picture, the canvas, the paint and the preview."""
        image_path, mask_path = EXAMPLES[index]
        picture, _, _ = self.studio.picture_uploaded(str(image_path), request)
        painted = mask_file_at(str(mask_path), picture.working.size)
        return (picture, painting(picture.working, painted), painted,
                *self.preview(picture, painted, None, "auto", 0, "crop", 0))

    def preview(self, picture: Picture | None, painted, mask_file, region, padding, fit, grow, n=1, cfg=None,
                iterations=None, steps=None, keep: bool = False) -> tuple[Image.Image | None, str]:
        """The cells that will be regenerated, drawn on the working copy (sized for display), and a note on what
        to expect, with the edit's expected time for `n` results at the sampling knobs (default: the model's), from
        what the server holds: nothing of the picture crosses the network. keep: the mask is what to keep
        (in-frame outpainting)."""
        if picture is None:
            return None, ""
        try:
            mask = mask_file_at(mask_file, picture.working.size) if mask_file else painted
            if mask is None:
                note = self.studio.look(lambda engine: edit_previews.picture_note(engine, picture.working, fit=fit,
                                                                                  size=picture.size))
                return for_display(picture.working), note
            options = dict(fit=fit, grow=int(grow), region=region, padding=int(padding) or None, size=picture.size)
            preview, note, cells = self.studio.look(lambda engine: edit_previews.mask_preview_and_note(
                engine, picture.working, ~mask if keep else mask, **options))
            d = self.studio.engine.defaults
            timing = self.studio.expected.edit(cells, picture.size, picture.png_px, n,
                                               d.cfg_scale if cfg is None else cfg, iterations or d.iterations,
                                               steps or d.diffusion_steps)
            return for_display(preview), "\n\n".join(filter(None, [note, timing]))
        except InputError as e:
            return for_display(picture.working), f"**Nothing to regenerate yet.** {e}"

    def outpaint_preview(self, picture: Picture | None, painted, mask_file, region, padding, fit, grow, mode,
                         left, top, right, bottom, *timing) -> tuple[Image.Image | None, str]:
        """Expand mode: the expanded frame (the picture, the new area hatched, the model windows); in-frame: the
        cells regenerated around what is painted to keep."""
        if mode == IN_FRAME:
            return self.preview(picture, painted, mask_file, region, padding, fit, grow, *timing, keep=True)
        if picture is None:
            return None, ""
        try:
            expand = (int(left), int(top), int(right), int(bottom))
            frame = edit_previews.canvas_preview(self.studio.engine, picture.working, expand, size=picture.size)
        except InputError as e:
            return for_display(picture.working), f"**Nothing to generate yet.** {e}"
        w, h = picture.size
        return frame, (f"{w}x{h} → {w + expand[0] + expand[2]}x{h + expand[1] + expand[3]}: the hatched area is "
                       "generated window by window, nearest to the picture first.")

    def picture_and_mask(self, editor, picture, mask_file) -> tuple[Picture, Image.Image, Any]:
        """The tab's picture, its original and the full-size mask: an uploaded mask file (white = regenerate) if
        given, else the paint, scaled up from the working copy."""
        picture, painted = self.read_editor(editor, picture)
        if mask_file:
            return picture, picture.original(), open_image(mask_file)
        return picture, picture.original(), (None if painted is None else picture.full_mask(painted))

    # ---- the edits ----------------------------------------------------------------------------
    def run_masked(self, kind: type[MaskedRequest], editor, picture, mask: MaskOptions, sampling: Sampling, request,
                   progress):
        picture, image, pixels = self.picture_and_mask(editor, picture, mask.mask_file)
        if pixels is None:
            raise InputError("no mask: paint over the region first (brush tool), or upload a mask image")
        task = kind(picture=image, mask=pixels, class_id=self.studio.class_spec(mask.class_name), num_samples=sampling.n,
                    seed=sampling.seed, sampling=sampling.knobs(), source_sha256=picture.source_hash,
                    **mask.request_options())
        return self.studio.run(task, request, progress)

    def inpaint(self, editor, picture, mask: MaskOptions, sampling: Sampling, request: gr.Request = None,
                progress=gr.Progress()):
        return self.run_masked(InpaintRequest, editor, picture, mask, sampling, request, progress)

    def edit(self, editor, picture, mask: MaskOptions, sampling: Sampling, request: gr.Request = None,
             progress=gr.Progress()):
        if mask.class_name in (None, "", UNCONDITIONAL):
            raise InputError("pick the target class")
        return self.run_masked(EditRequest, editor, picture, mask, sampling, request, progress)

    def outpaint(self, editor, picture, expansion: Expansion, mask: MaskOptions, sampling: Sampling,
                 request: gr.Request = None, progress=gr.Progress()):
        """In-frame: the painted mask is what to keep; expand: the canvas grows by the sides' pixels."""
        if expansion.mode == IN_FRAME:
            return self.run_masked(OutpaintRequest, editor, picture, mask, sampling, request, progress)
        picture = self.read_editor(editor, picture)[0]
        task = OutpaintRequest(picture=picture.original(), expand=expansion.sides,
                               class_id=self.studio.class_spec(mask.class_name), num_samples=sampling.n,
                               seed=sampling.seed, sampling=sampling.knobs(), source_sha256=picture.source_hash)
        return self.studio.run(task, request, progress)


# ---- layout -------------------------------------------------------------------------------
def example_files() -> list[tuple[Path, Path]]:
    """Examples in assets/examples: NAME.png with NAME_mask.png (white = regenerate)."""
    out = []
    for img in sorted((ASSETS / "examples").glob("*.png")):
        mask_path = img.with_name(img.stem + "_mask.png")
        if not img.stem.endswith("_mask") and mask_path.is_file():
            out.append((img, mask_path))
    return out


EXAMPLES = example_files()


# Fit applies to region "whole" only: shown or hidden in the page, from each tab's Region radio (a server round
# trip for it made every Region click 0.8 s slower)
SYNC_FIT = ("() => { for (const tab of ['inpaint', 'edit', 'outpaint']) {"
            " const region = document.querySelector(`#${tab}-region input:checked`)?.value;"
            " document.getElementById(`${tab}-fit`)?.classList.toggle('hidden-knob', region !== 'whole'); }"
            " return []; }")
FIT_INFO = ("region whole: crop fits the centre square (the sides are left out), letterbox the whole picture on "
            "white; masked and auto regions are always letterboxed")


def mask_controls(choices: list[str], prefix: str, visible: bool = True, paste: str = "mask") -> SimpleNamespace:
    """Class, then the mask options in a group (`group`) that a tab can hide."""
    cls = gr.Dropdown(choices, value=choices[0], label="Class", filterable=True, elem_id=f"{prefix}-class")
    with gr.Column(visible=visible) as group:
        with gr.Row():
            blend_mode = gr.Radio(["none", "feather", "poisson"], value="feather", label="Blend",
                                  elem_id=f"{prefix}-blend")
            radius = gr.Slider(0, 32, value=4, step=1, label="Feather radius (model px; scales with the picture)")
            grow = gr.Slider(-2, 2, value=0, step=1, label="Grow / shrink mask (cells)")
        with gr.Row():
            strength = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label="Strength", elem_id=f"{prefix}-strength",
                                 info="share of the masked cells resampled; the others keep the picture's codes")
            paste = gr.Radio(list(PASTES), value=paste, label="Paste", elem_id=f"{prefix}-paste",
                             info="cells: every pixel of the regenerated cells; mask: only the painted pixels")
        with gr.Row():
            region = gr.Radio(list(REGIONS), value="auto", label="Region", elem_id=f"{prefix}-region",
                              info="masked: only the mask's surroundings, at the model's full resolution; "
                                   "whole: the whole picture; auto: masked when that is smaller")
            padding = gr.Slider(0, 64, value=0, step=1, label="Padding around the mask (model px; 0: 1/8 of the model)")
            fit = gr.Radio(["crop", "letterbox"], value="crop", label="Fit", info=FIT_INFO, elem_id=f"{prefix}-fit",
                           elem_classes=["hidden-knob"])
        mask_file = gr.File(label="Or upload a mask (white = regenerate; replaces the painting)", file_types=["image"],
                            height=120, elem_id=f"{prefix}-mask-file")
    region.change(None, None, None, api_name=False, show_progress="hidden", js=SYNC_FIT)
    form = Form(MaskOptions, dict(mask_file=mask_file, class_name=cls, blend_mode=blend_mode, radius=radius,
                                  region=region, padding=padding, fit=fit, grow=grow, strength=strength, paste=paste))
    return SimpleNamespace(cls=cls, blend=blend_mode, radius=radius, region=region, padding=padding, fit=fit,
                           grow=grow, strength=strength, paste=paste, mask_file=mask_file, group=group, form=form,
                           restorable=dict(class_id=cls, blend_mode=blend_mode, feather_radius=radius,
                                           region=region, padding=padding, fit=fit, grow=grow, strength=strength,
                                           paste=paste))


def masked_api(controls: SimpleNamespace, settings: SimpleNamespace) -> dict:
    """A masked endpoint's arguments after the picture: the mask options, the sampling knobs, then strength and
    paste (added later, so last: callers may leave them out)."""
    first = {name: c for name, c in controls.form.components.items() if name not in ("strength", "paste")}
    return {**first, "sampling": settings.samples_form, "strength": controls.strength, "paste": controls.paste}


def picture_panel(label: str, prefix: str) -> SimpleNamespace:
    """The tab's picture: a drop zone for the file (sent once, as it is), the mask canvas with its working copy,
    and the session's state: the picture (`Picture`) and the paint last seen."""
    upload = gr.File(label="Your picture (any size: drop it here, or click)", file_types=["image"], height=90,
                     elem_id=f"{prefix}-picture")
    ed = MaskCanvas(label, f"{prefix}-editor")
    picture, painted = gr.State(None), gr.State(None)
    return SimpleNamespace(upload=upload, editor=ed, picture=picture, painted=painted)


def watch_previews(studio, actions: MaskedActions, panel: SimpleNamespace, controls: SimpleNamespace, preview, note,
                   timing: list, preview_fn=None, extra: list | None = None) -> dict:
    """The preview follows the paint (the canvas sends its mask) and every knob (nothing of the picture is sent: the
    server holds it). `preview_fn(picture, painted, *knobs, *extra, *timing)` makes it (default: the cells);
    `timing`: the sampling knobs the expected time follows.
    Returns the knobs' preview event, for what loads a picture."""
    preview_fn = preview_fn or actions.preview
    knobs = [controls.mask_file, controls.region, controls.padding, controls.fit, controls.grow, *(extra or []),
             *timing]

    show_preview = dict(fn=friendly_errors(preview_fn), inputs=[panel.picture, panel.painted, *knobs],
                        outputs=[preview, note], api_name=False, show_progress="hidden")
    for knob in knobs:
        knob.change(trigger_mode="always_last", **show_preview)

    def stroke(editor, picture, *knob_values):  # the paint and its preview in one answer
        picture, painted = actions.painted(editor, picture)
        return (picture, painted, *preview_fn(picture, painted, *knob_values))

    panel.editor.painted(friendly_errors(stroke), [panel.editor, panel.picture, *knobs],
                         [panel.picture, panel.painted, preview, note], trigger_mode="always_last", api_name=False,
                         show_progress="hidden", queue=False)
    # a picture set by a function fires no event of the canvas: each way in shows its preview itself
    panel.upload.upload(friendly_errors(studio.picture_uploaded), panel.upload,
                        [panel.picture, panel.editor, panel.painted], api_name=False,
                        show_progress="hidden").then(**show_preview)
    return show_preview


def masked_tab(studio, settings: SimpleNamespace, prefix: str, title: str, editor_label: str, button: str,
               unconditional: bool, examples: list[tuple[Path, Path]] | None = None, paste: str = "mask") -> SimpleNamespace:
    """A tab with a mask canvas, the live cell preview, mask options and a result panel."""
    actions = MaskedActions(studio)
    with gr.Tab(title, id=prefix):
        with gr.Row():
            with gr.Column():
                panel = picture_panel(editor_label, prefix)
            preview = gr.Image(label="Cells that will be regenerated", type="pil", interactive=False,
                               elem_id=f"{prefix}-preview", height=420)
        note = gr.Markdown(elem_id=f"{prefix}-note")
        controls = mask_controls(studio.class_choices(unconditional), prefix, paste=paste)
        btn = gr.Button(button, variant="primary", elem_id=f"{prefix}-button")
        stop = gr.Button("Stop", size="sm")
        results = result_panel("Results", f"{prefix}-gallery")
        if examples:
            shown = gr.Dataset(components=[gr.Image(visible=False)], samples=[[str(img)] for img, _ in examples],
                               label="Examples (image + mask)", type="index", elem_id=f"{prefix}-examples")
            shown.click(friendly_errors(actions.example_loaded), shown,
                        [panel.picture, panel.editor, panel.painted, preview, note], api_name=False)
    show_preview = watch_previews(studio, actions, panel, controls, preview, note, settings.timing_inputs)
    api = {"editor": panel.editor, "picture": panel.picture, **masked_api(controls, settings)}
    fn, inputs = handler(getattr(actions, prefix), api, "editor", "picture", controls.form, settings.samples_form,
                         defaults=dict(strength=1.0, paste=paste))
    evt = sampling_event(studio, btn, fn, inputs, [results.gallery, results.files], api_name=prefix)
    stop.click(None, None, None, cancels=[evt], api_name=False)
    return SimpleNamespace(panel=panel, editor=panel.editor, cls=controls.cls, results=results,
                           show_preview=show_preview,
                           restorable=dict(controls.restorable, editor=panel.editor, picture=panel.picture))


def outpaint_tab(studio, settings: SimpleNamespace) -> SimpleNamespace:
    """Expand the canvas by pixels on any side, or keep a painted region and regenerate the rest of the frame;
    each mode shows only its own controls, and the preview shows what the mode will do."""
    actions = MaskedActions(studio)
    with gr.Tab("Outpaint", id="outpaint"):
        with gr.Row():
            with gr.Column():
                panel = picture_panel("Picture (in-frame mode: paint what to keep)", "outpaint")
            with gr.Column():
                mode = gr.Radio([EXPAND, IN_FRAME], value=EXPAND, label="Mode", elem_id="outpaint-mode")
                with gr.Column() as sides_group:
                    sides = [gr.Slider(0, 4096, value=64 if side == "Right" else 0, step=8, label=f"{side} (px)",
                                       elem_id=f"outpaint-{side.lower()}") for side in ("Left", "Top", "Right", "Bottom")]
                preview = gr.Image(label="Preview (hatched: generated; outlines: the model's windows)", type="pil",
                                   interactive=False, elem_id="outpaint-preview", height=360)
        note = gr.Markdown(elem_id="outpaint-note")
        controls = mask_controls(studio.class_choices(True), "outpaint", visible=False)
        btn = gr.Button("Outpaint", variant="primary", elem_id="outpaint-button")
        stop = gr.Button("Stop", size="sm")
        results = result_panel("Outpainted", "outpaint-gallery")
    show_preview = watch_previews(studio, actions, panel, controls, preview, note, settings.timing_inputs,
                                  actions.outpaint_preview, [mode, *sides])
    mode.change(lambda m: (gr.Column(visible=m == EXPAND), gr.Column(visible=m == IN_FRAME)), mode,
                [sides_group, controls.group], api_name=False, show_progress="hidden")
    expansion = Form(Expansion, dict(mode=mode, **dict(zip(("left", "top", "right", "bottom"), sides))))
    api = {"editor": panel.editor, "picture": panel.picture, "expansion": expansion, **masked_api(controls, settings)}
    fn, inputs = handler(actions.outpaint, api, "editor", "picture", expansion, controls.form, settings.samples_form,
                         defaults=dict(strength=1.0, paste="mask"))
    evt = sampling_event(studio, btn, fn, inputs, [results.gallery, results.files], api_name="outpaint")
    stop.click(None, None, None, cancels=[evt], api_name=False)
    return SimpleNamespace(panel=panel, editor=panel.editor, cls=controls.cls, results=results,
                           show_preview=show_preview,
                           restorable=dict(controls.restorable, editor=panel.editor, picture=panel.picture, mode=mode,
                                           **dict(zip(OUTPAINT_SIDES, sides))))
