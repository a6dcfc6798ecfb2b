"""The Generate tab."""
from __future__ import annotations

import time
from types import SimpleNamespace

import gradio as gr

from .common import UNCONDITIONAL, friendly_errors, result_panel


class GenerateActions:
    def generate(self, class_name, n, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
                 progress=gr.Progress()):
        spec = self.class_spec(class_name)
        sampling = self.sampling(cfg, iterations, gumbel, steps)
        start = time.perf_counter()
        images = self.engine.generate(spec, num_samples=self.samples(n), seed=int(seed),
                                      progress=self.reporter(progress), **sampling)
        if self.costs is not None:
            tokens = self.engine.grid**2
            self.calibration.record(time.perf_counter() - start, self.costs.estimate(
                self.engine.sampling_params(**sampling), tokens, tokens, batch=len(images)))
        params = dict(task="generate", class_id=spec, seed=int(seed),
                      **self.engine.sampling_params(**sampling).to_dict())
        return self.save(images, params, request)


def generate_tab(studio, settings: SimpleNamespace) -> SimpleNamespace:
    names = list(studio.engine.class_names)
    with gr.Tab("Generate", id="generate"):
        cls = gr.Dropdown(studio.class_choices(True), value=names[0] if names else UNCONDITIONAL, label="Class",
                          filterable=True)
        button = gr.Button("Generate", variant="primary")
        stop = gr.Button("Stop", size="sm")
        results = result_panel("Samples", "generate-gallery")
    evt = button.click(friendly_errors(studio.generate), [cls, *settings.samp], [results.gallery, results.files], api_name="generate")
    evt.then(studio.expected_time, settings.timing_inputs, settings.timing, api_name=False, show_progress="hidden")
    stop.click(None, None, None, cancels=[evt], api_name=False)
    return SimpleNamespace(cls=cls, results=results, restorable=dict(class_id=cls))
