"""The Interpolate tab: a class-mixing slider that re-renders on any change, and the sweep."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import numpy as np

from ..saving import write_strip_and_gif
from ...images import for_display
from .common import friendly_errors


class InterpolateActions:
    def interpolate(self, class_a, class_b, ratio, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
                    progress=gr.Progress()) -> tuple[str, str]:
        """The mix at `ratio`: the copy the panel shows, and the PNG with its parameters to download."""
        result = self.engine.interpolate(class_a, class_b, [float(ratio)], seed=int(seed),
                                         progress=self.reporter(progress), **self.sampling(cfg, iterations, gumbel, steps))
        views, files = self.save(result, result.params, request)
        return views[0], files[0]

    def sweep(self, class_a, class_b, frames, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
              progress=gr.Progress()):
        ratios = list(np.linspace(1.0, 0.0, int(frames)))
        result = self.engine.interpolate(class_a, class_b, ratios, seed=int(seed), progress=self.reporter(progress),
                                         **self.sampling(cfg, iterations, gumbel, steps))
        folder = self.session_dir(request)
        strip, gif = write_strip_and_gif(list(result), folder / "interpolate", result.params)
        views = write_strip_and_gif([for_display(im) for im in result], folder / "interpolate.view", result.params)
        return str(views[0]), str(views[1]), [str(strip), str(gif)]


def interpolate_tab(studio, settings: SimpleNamespace) -> SimpleNamespace:
    names = list(studio.engine.class_names)
    with gr.Tab("Interpolate", id="interpolate"):
        with gr.Row():
            cls_a = gr.Dropdown(names, value=names[0], label="Class A (ratio 1)", filterable=True)
            cls_b = gr.Dropdown(names, value=names[min(1, len(names) - 1)], label="Class B (ratio 0)",
                                filterable=True, elem_id="interp-class-b")
        ratio = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Ratio r (r·A + (1−r)·B)", elem_id="ratio-slider")
        with gr.Row():
            image = gr.Image(label="Interpolation", type="filepath", format="png", interactive=False,
                             elem_id="interp-image", height=320, buttons=["fullscreen"])
            download = gr.File(label="Download PNG (native size, parameters embedded)", interactive=False,
                               elem_id="interp-file", scale=0, min_width=260)
        with gr.Row():
            frames = gr.Slider(3, 17, value=9, step=1, label="Sweep frames")
            sweep_btn = gr.Button("Sweep (strip + GIF)")
        with gr.Row():
            strip = gr.Image(label="Strip", type="filepath", interactive=False, height=200, scale=3,
                             elem_id="interp-strip")
            gif = gr.Image(label="Animation", type="filepath", interactive=False, height=200, scale=1,
                           elem_id="interp-gif")
        sweep_files = gr.File(label="Download", file_count="multiple", interactive=False)
    # any change re-renders (a drag, arrow keys, a typed value, another class); while one renders, only the
    # latest change waits
    inputs = [cls_a, cls_b, ratio, *settings.knobs]
    for i, trigger in enumerate((ratio.change, cls_a.change, cls_b.change)):
        trigger(friendly_errors(studio.interpolate), inputs, [image, download], trigger_mode="always_last",
                api_name="interpolate" if i == 0 else False, show_progress="minimal")
    sweep_btn.click(friendly_errors(studio.sweep), [cls_a, cls_b, frames, *settings.knobs], [strip, gif, sweep_files],
                    api_name="sweep")
    return SimpleNamespace(cls_a=cls_a, cls_b=cls_b, inputs=inputs, outputs=[image, download],
                           restorable=dict(class_a=cls_a, class_b=cls_b, ratio=ratio))
