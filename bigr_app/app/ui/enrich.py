"""The Enrich & vary tab: whole-picture edits, with a preview of what the model sees."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
from PIL import Image

from ...errors import BiGRError, InputError
from ...images import for_display, open_image
from ...tasks import EnrichRequest, VaryRequest
from .. import edit_previews
from ..history import file_hash
from .common import result_panel, sampling_event
from .requests import Sampling, handler


class EnrichActions:
    def __init__(self, studio):
        self.studio = studio

    def frame_preview(self, picture: str | None, fit) -> tuple[Image.Image | None, str]:
        """What the model sees of the picture (sized for display), and a note on what to expect."""
        try:
            if picture is None:
                return None, ""
            image = open_image(picture)
            return self.studio.look(lambda engine: (for_display(edit_previews.frame_preview(engine, image, fit)),
                                                    edit_previews.picture_note(engine, image, fit=fit)))
        except BiGRError:
            return None, ""

    def enrich(self, picture: str | None, fit: str, rounds: int, sampling: Sampling, request: gr.Request = None,
               progress=gr.Progress()) -> tuple[list[str], list[str]]:
        knobs = sampling.knobs()
        knobs = replace(knobs, cfg_scale=max(knobs.cfg_scale, 10.0))  # the release enriches with strong guidance
        task = EnrichRequest(picture=opened(picture), rounds=int(rounds), fit=fit, seed=sampling.seed, sampling=knobs,
                             source_sha256=file_hash(Path(picture)))
        return self.studio.run(task, request, progress)

    def vary(self, picture: str | None, fit: str, strength: float, sampling: Sampling, request: gr.Request = None,
             progress=gr.Progress()) -> tuple[list[str], list[str]]:
        task = VaryRequest(picture=opened(picture), strength=float(strength), fit=fit, num_samples=sampling.n,
                           seed=sampling.seed, sampling=sampling.knobs(), source_sha256=file_hash(Path(picture)))
        return self.studio.run(task, request, progress)


def opened(picture: str | None) -> Image.Image:
    """The picture the tab was given (its file, as uploaded: its hash is the one History knows it by)."""
    if picture is None:
        raise InputError("no image: upload a picture first")
    return open_image(picture)


def enrich_tab(studio, settings: SimpleNamespace) -> SimpleNamespace:
    actions = EnrichActions(studio)
    with gr.Tab("Enrich & vary", id="enrich"):
        with gr.Row():
            # the file as uploaded: its content hash links the results to it in History; transparency reaches the
            # engine, which puts it on white as every other tab does
            image = gr.Image(label="Picture", type="filepath", image_mode=None, sources=["upload", "clipboard"],
                             height=320, elem_id="enrich-image")
            preview = gr.Image(label="What the model sees (dimmed: left out)", type="pil", interactive=False,
                               height=320, elem_id="enrich-preview")
            with gr.Column():
                fit = gr.Radio(["auto", "crop", "letterbox"], value="auto", label="Fit",
                               info="auto: the whole picture; crop: its centre square only")
                rounds = gr.Slider(1, 4, value=1, step=1, label="Enrichment rounds")
                enrich_btn = gr.Button("Enrich", variant="primary")
                strength = gr.Slider(0.05, 1.0, value=0.4, step=0.05, label="Variation strength")
                vary_btn = gr.Button("Vary", variant="primary", elem_id="vary-button")
        note = gr.Markdown(elem_id="enrich-note")
        results = result_panel("Results", "enrich-gallery")
    for knob in (image, fit):
        knob.change(actions.frame_preview, [image, fit], [preview, note], api_name=False, show_progress="hidden")
    enrich, enrich_inputs = handler(actions.enrich, dict(image=image, fit=fit, rounds=rounds,
                                                         sampling=settings.knobs_form),
                                    "image", "fit", "rounds", settings.knobs_form)
    sampling_event(studio, enrich_btn, enrich, enrich_inputs, [results.gallery, results.files], api_name="enrich")
    vary, vary_inputs = handler(actions.vary, dict(image=image, fit=fit, strength=strength,
                                                   sampling=settings.samples_form),
                                "image", "fit", "strength", settings.samples_form)
    sampling_event(studio, vary_btn, vary, vary_inputs, [results.gallery, results.files], api_name="vary")
    return SimpleNamespace(results=results,
                           restorable=dict(picture=image, fit=fit, rounds=rounds, strength=strength))
