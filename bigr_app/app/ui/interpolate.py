"""The Interpolate tab: a class-mixing slider that re-renders on any change, and the sweep."""
from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import numpy as np

from ..saving import read_params, write_strip_and_gif
from ...errors import InputError
from ...images import for_display
from ...tasks import InterpolateRequest
from .common import friendly_errors
from .requests import Sampling, handler


class InterpolateActions:
    def __init__(self, studio):
        self.studio = studio

    def interpolate(self, class_a: str, class_b: str, ratio: float, sampling: Sampling, request: gr.Request = None,
                    progress=gr.Progress()) -> tuple[str, str]:
        """The mix at `ratio`: the copy the panel shows, and the PNG with its parameters to download."""
        views, files = self.studio.run(self.mix_request(class_a, class_b, ratio, sampling), request, progress,
                                       keep=False)  # each drag of the slider: not kept
        return views[0], files[0]

    def look(self, shown: str | None, class_a: str, class_b: str, ratio: float, sampling: Sampling,
             request: gr.Request = None, progress=gr.Progress()) -> tuple:
        """The mix when the tab is opened, unless the PNG it shows (`shown`) is that mix already: a page samples
        nothing until someone looks, and a picture restored into the tab is sampled once, not once per control."""
        if self.shows(shown, self.mix_request(class_a, class_b, ratio, sampling)):
            return gr.skip(), gr.skip()
        return self.interpolate(class_a, class_b, ratio, sampling, request, progress)

    def refresh(self, shown: str | None, class_a: str, class_b: str, ratio: float, sampling: Sampling,
                request: gr.Request = None, progress=gr.Progress()) -> tuple:
        """After a model switch: the mix again if the tab shows one (from the model before)."""
        if not shown:
            return gr.skip(), gr.skip()
        return self.interpolate(class_a, class_b, ratio, sampling, request, progress)

    def mix_request(self, class_a: str, class_b: str, ratio: float, sampling: Sampling) -> InterpolateRequest:
        return InterpolateRequest(class_a=class_a, class_b=class_b, ratios=(float(ratio),), seed=sampling.seed,
                                  sampling=sampling.knobs())

    def shows(self, png: str | None, task: InterpolateRequest) -> bool:
        """Whether the PNG `png` is `task`'s picture, by the served model (no, if it is gone from gradio's cache)."""
        try:
            params = read_params(png) if png else {}
        except InputError:
            return False
        return params.get("model") == self.studio.model and all(params.get(k) == v for k, v in task.to_params().items())

    def sweep(self, class_a: str, class_b: str, frames: int, sampling: Sampling, request: gr.Request = None,
              progress=gr.Progress()) -> tuple[str, str, list[str]]:
        """The frames from A to B (kept: each restores its ratio), side by side in a strip, and as a GIF."""
        studio = self.studio
        task = InterpolateRequest(class_a=class_a, class_b=class_b, ratios=tuple(np.linspace(1.0, 0.0, int(frames))),
                                  seed=sampling.seed, sampling=sampling.knobs())
        saved = studio.service.run(task, studio.context(request, progress))
        folder = studio.sessions.request_folder(request)
        strip, gif = write_strip_and_gif(saved.images, folder / "interpolate", saved.params)
        views = write_strip_and_gif([for_display(im) for im in saved.images], folder / "interpolate.view", saved.params)
        return str(views[0]), str(views[1]), [str(strip), str(gif)]


def interpolate_tab(studio, settings: SimpleNamespace) -> SimpleNamespace:
    actions = InterpolateActions(studio)
    names = list(studio.engine.class_names)
    with gr.Tab("Interpolate", id="interpolate") as tab:
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
    # a change made in the page re-renders (a drag, arrow keys, a typed value, another class); while one renders,
    # only the latest waits. A value set by a restore is no such change: opening the tab renders it, once.
    mix, inputs = handler(actions.interpolate, dict(class_a=cls_a, class_b=cls_b, ratio=ratio,
                                                    sampling=settings.knobs_form),
                          "class_a", "class_b", "ratio", settings.knobs_form)
    gr.on([ratio.input, cls_a.input, cls_b.input], friendly_errors(mix), inputs, [image, download],
          trigger_mode="always_last", api_name="interpolate", show_progress="minimal")
    shown = dict(shown=download, class_a=cls_a, class_b=cls_b, ratio=ratio, sampling=settings.knobs_form)
    parts = ("shown", "class_a", "class_b", "ratio", settings.knobs_form)
    look, look_inputs = handler(actions.look, shown, *parts)
    tab.select(friendly_errors(look), look_inputs, [image, download], api_name=False, show_progress="minimal")
    refresh, refresh_inputs = handler(actions.refresh, shown, *parts)
    sweep, sweep_inputs = handler(actions.sweep, dict(class_a=cls_a, class_b=cls_b, frames=frames,
                                                      sampling=settings.knobs_form),
                                  "class_a", "class_b", "frames", settings.knobs_form)
    sweep_btn.click(friendly_errors(sweep), sweep_inputs, [strip, gif, sweep_files], api_name="sweep")
    return SimpleNamespace(cls_a=cls_a, cls_b=cls_b, restorable=dict(class_a=cls_a, class_b=cls_b, ratio=ratio),
                           refresh=dict(fn=friendly_errors(refresh), inputs=refresh_inputs, outputs=[image, download],
                                        api_name=False, show_progress="minimal"))
