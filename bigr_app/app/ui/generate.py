"""The Generate tab."""
from __future__ import annotations

import time
from types import SimpleNamespace

import gradio as gr

from ...tasks import GenerateRequest
from .common import UNCONDITIONAL, result_panel, sampling_event
from .requests import Sampling, handler


class GenerateActions:
    def __init__(self, studio):
        self.studio = studio

    def generate(self, class_name: str | None, sampling: Sampling, request: gr.Request = None,
                 progress=gr.Progress()) -> tuple[list[str], list[str]]:
        studio = self.studio
        task = GenerateRequest(class_id=studio.class_spec(class_name), num_samples=sampling.n, seed=sampling.seed,
                               sampling=sampling.knobs())
        start = time.perf_counter()
        shown = studio.run(task, request, progress)
        studio.expected.record(studio.engine.sampling_params(**task.sampling.options()), sampling.n,
                               time.perf_counter() - start)
        return shown


def generate_tab(studio, settings: SimpleNamespace) -> SimpleNamespace:
    actions = GenerateActions(studio)
    names = list(studio.engine.class_names)
    with gr.Tab("Generate", id="generate"):
        cls = gr.Dropdown(studio.class_choices(True), value=names[0] if names else UNCONDITIONAL, label="Class",
                          filterable=True, elem_id="generate-class")
        button = gr.Button("Generate", variant="primary")
        stop = gr.Button("Stop", size="sm")
        results = result_panel("Samples", "generate-gallery")
    fn, inputs = handler(actions.generate, {"class_name": cls, "sampling": settings.samples_form}, "class_name",
                         settings.samples_form)
    evt = sampling_event(studio, button, fn, inputs, [results.gallery, results.files], api_name="generate")
    evt.then(studio.expected.generation, settings.timing_inputs, settings.timing, api_name=False, show_progress="hidden")
    stop.click(None, None, None, cancels=[evt], api_name=False)
    return SimpleNamespace(cls=cls, results=results, actions=actions, restorable=dict(class_id=cls))
