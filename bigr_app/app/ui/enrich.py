"""The Enrich & vary tab: whole-picture edits, with a preview of what the model sees."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
from PIL import Image

from ...errors import BiGRError, InputError
from ...images import for_display
from .common import friendly_errors, result_panel


class EnrichActions:
    def frame_preview(self, image, fit) -> tuple[Image.Image | None, str]:
        """What the model sees of the picture (sized for display), and a note on what to expect."""
        try:
            if image is None:
                return None, ""
            return for_display(self.engine.frame_preview(image, fit)), self.engine.picture_note(image, fit=fit)
        except BiGRError:
            return None, ""

    def enrich(self, image, fit, rounds, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
               progress=gr.Progress()):
        if image is None:
            raise InputError("no image: upload a picture first")
        s = self.sampling(cfg, iterations, gumbel, steps)
        s["cfg_scale"] = max(s["cfg_scale"], 10.0)  # the release enriches with strong guidance
        result = self.engine.enrich(image, rounds=int(rounds), fit=fit, seed=int(seed),
                                    progress=self.reporter(progress), **s)
        return self.save(result, result.params, request)

    def vary(self, image, fit, strength, n, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
             progress=gr.Progress()):
        if image is None:
            raise InputError("no image: upload a picture first")
        result = self.engine.vary(image, strength=float(strength), fit=fit, num_samples=self.samples(n),
                                  seed=int(seed), progress=self.reporter(progress),
                                  **self.sampling(cfg, iterations, gumbel, steps))
        return self.save(result, result.params, request)


def enrich_tab(studio, settings: SimpleNamespace) -> SimpleNamespace:
    with gr.Tab("Enrich & vary", id="enrich"):
        with gr.Row():
            image = gr.Image(label="Picture", type="pil", sources=["upload", "clipboard"], height=320,
                             elem_id="enrich-image")
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
        knob.change(studio.frame_preview, [image, fit], [preview, note], api_name=False, show_progress="hidden")
    enrich_btn.click(friendly_errors(studio.enrich), [image, fit, rounds, *settings.knobs], [results.gallery, results.files],
                     api_name="enrich")
    vary_btn.click(friendly_errors(studio.vary), [image, fit, strength, *settings.samp], [results.gallery, results.files],
                   api_name="vary")
    return SimpleNamespace(results=results,
                           restorable=dict(picture=image, fit=fit, rounds=rounds, strength=strength))
