"""The page: header and model picker, the sampling settings every tab shares, the tabs, and what crosses
tabs ("send to", a model switch)."""
from __future__ import annotations

import functools
import random
from types import SimpleNamespace

import gradio as gr

from ...engine import Engine
from ...images import EDITOR_LIMIT
from ..outputs import Outputs
from ..pool import EnginePool
from .common import UNCONDITIONAL, friendly_errors, reuse_seed, send_to
from .enrich import enrich_tab
from .explore import explore_tab
from .generate import generate_tab
from .history import history_tab
from .interpolate import interpolate_tab
from .masked import EXAMPLES, masked_tab, outpaint_tab
from .pnginfo import png_info_tab
from .requests import Form, Sampling
from .studio import ModelMenu, Studio


# A knob that applies only to some settings is hidden by class (toggled in the page, see masked.mask_controls).
# Galleries keep their 4 columns with fewer pictures (Gradio narrows the grid to the count, so one result
# became a square as wide as the page, mostly out of view); captions and file names wrap instead of ending in "…";
# a caption sits under its picture, not over the picture's bottom.
CSS = """
.gallery-item .thumbnail-item { display: flex !important; flex-direction: column; }
.gallery-item .thumbnail-item > img { flex: 1 1 0; min-height: 0; height: auto !important; width: 100%; }
.gallery-item .caption-label { position: static !important; flex: none; max-width: none !important; width: 100%;
                               border: 0 !important; border-top: 1px solid var(--border-color-primary) !important;
                               border-radius: 0 !important; }
.result-gallery .grid-container { grid-template-columns: repeat(4, minmax(0, 1fr)) !important; }
.gallery-item [class*="caption"] { white-space: normal !important; overflow: visible !important;
                                   text-overflow: clip !important; }
.filename { overflow: visible !important; }
.hidden-knob { display: none !important; }
.filename .stem { white-space: normal !important; overflow-wrap: anywhere; text-overflow: clip !important; }
"""


def sampling_settings(studio: Studio, max_samples: int) -> SimpleNamespace:
    d = studio.engine.defaults
    with gr.Accordion("Sampling settings (all tabs)", open=False):
        with gr.Row():
            seed = gr.Number(value=0, precision=0, label="Seed", minimum=0, elem_id="settings-seed")
            dice = gr.Button("🎲", size="sm", scale=0)
            n = gr.Slider(1, max_samples, value=min(4, max_samples), step=1, label="Samples")
        with gr.Row():
            cfg = gr.Slider(1.0, 10.0, value=d.cfg_scale, step=0.1, label="Guidance (cfg)", elem_id="settings-cfg")
            iterations = gr.Slider(1, 64, value=d.iterations, step=1, label="Iterations N")
            gumbel = gr.Slider(0.0, 5.0, value=d.gumbel, step=0.01, label="Gumbel temperature")
            steps = gr.Slider(1, 256, value=d.diffusion_steps, step=1, label="Diffusion steps T")
    timing = gr.Markdown(studio.expected.generation(n.value, d.cfg_scale, d.iterations, d.diffusion_steps),
                         elem_id="expected-time")
    dice.click(lambda: random.randint(0, 2**31 - 1), None, seed, api_name=False)
    timing_inputs = [n, cfg, iterations, steps]
    for knob in timing_inputs:
        knob.change(studio.expected.generation, timing_inputs, timing, api_name=False, show_progress="hidden")
    knobs = [seed, cfg, iterations, gumbel, steps]
    named = dict(seed=seed, cfg=cfg, iterations=iterations, gumbel=gumbel, steps=steps)
    return SimpleNamespace(seed=seed, n=n, cfg=cfg, iterations=iterations, gumbel=gumbel, steps=steps, knobs=knobs,
                           timing=timing, timing_inputs=timing_inputs,
                           knobs_form=Form(Sampling, named, max_samples=max_samples),
                           samples_form=Form(Sampling, dict(n=n, **named), max_samples=max_samples),
                           restorable=dict(seed=seed, num_samples=n, cfg_scale=cfg, iterations=iterations, gumbel=gumbel,
                                           diffusion_steps=steps))


def class_box(studio: Studio, unconditional: bool, start: str) -> gr.Dropdown:
    """A class box for the served model: its choices, and where it starts (UNCONDITIONAL, "first" or "second"
    class); an editing tab starts unconditional, so that nothing is edited towards a class nobody chose."""
    names = list(studio.engine.class_names)
    value = UNCONDITIONAL if start == UNCONDITIONAL else names[min(int(start == "second"), len(names) - 1)]
    return gr.Dropdown(choices=studio.class_choices(unconditional), value=value)


def build_ui(engine: Engine | EnginePool, max_samples: int = 8, models: ModelMenu | None = None,
             editor_limit: int = EDITOR_LIMIT, outputs: Outputs | None = None, per_browser: bool = False,
             previews: bool = True, per_user: bool = False, max_waiting_per_user: int | None = None,
             admins: frozenset[str] = frozenset()) -> gr.Blocks:
    """The app serving `engine` (or a pool of engines, one per device); `models` (label -> loader, the first being
    `engine`'s) fills the model picker; pictures larger than `editor_limit` px go into the editors reduced (the
    originals stay on the server); results are kept in `outputs` when given, with a history of each browser's own
    when `per_browser` (a server others reach), or of each logged-in user's when `per_user`; `previews`: pictures
    shown as they form; `max_waiting_per_user`: requests one user (or browser) may have in progress at once;
    `admins`: users whose History shows everyone's pictures."""
    studio = Studio(engine, max_samples, models, editor_limit, outputs, per_browser, previews, per_user,
                    max_waiting_per_user, admins)
    with gr.Blocks(title="BiGR Studio", delete_cache=(1800, 3600)) as demo:
        with gr.Row(equal_height=True):
            header = gr.Markdown(studio.header(), elem_id="header")
            model_pick = gr.Dropdown(studio.model_choices(), value=studio.model, label="Model", scale=0,
                                     min_width=260, elem_id="model-picker",
                                     info="official models download from the Hugging Face Hub on first use, then load from its cache")
        settings = sampling_settings(studio, max_samples)
        with gr.Tabs() as tabs:
            gen = generate_tab(studio, settings)
            inp = masked_tab(studio, settings, "inpaint", "Inpaint", "Paint what to regenerate", "Inpaint",
                             unconditional=True, examples=EXAMPLES)
            out = outpaint_tab(studio, settings)
            ed = masked_tab(studio, settings, "edit", "Edit class", "Paint the region to change", "Edit",
                            unconditional=False, paste="cells")
            interp = interpolate_tab(studio, settings)
            ev = enrich_tab(studio, settings)
            explore_tab(studio)
            restorable = {"": settings.restorable, "generate": gen.restorable, "inpaint": inp.restorable,
                          "outpaint": out.restorable, "edit": ed.restorable, "interpolate": interp.restorable,
                          "enrich": ev.restorable}
            previews = [inp.show_preview, out.show_preview, ed.show_preview]
            png_info_tab(studio, tabs, restorable, previews)
            history_tab(studio, tabs, restorable, previews, editors={"inpaint": inp, "edit": ed, "outpaint": out})
        browser = gr.BrowserState(None, storage_key="bigr-studio-browser", secret=studio.sessions.browser_secret)
        demo.load(studio.register_browser, browser, browser, api_name=False, show_progress="hidden")

        class_boxes = [(gen.cls, True, "first"), (inp.cls, True, UNCONDITIONAL), (out.cls, True, UNCONDITIONAL),
                       (ed.cls, False, "first"), (interp.cls_a, False, "first"), (interp.cls_b, False, "second")]

        def served_model(n_value):
            """What depends on the served model; the model can change while a page is open, or before it opens."""
            d = studio.engine.defaults
            boxes = [class_box(studio, unconditional, start) for _, unconditional, start in class_boxes]
            return (studio.model, studio.header(),
                    studio.expected.generation(n_value, d.cfg_scale, d.iterations, d.diffusion_steps),
                    *boxes, d.cfg_scale, d.iterations, d.gumbel, d.diffusion_steps)

        s = settings
        model_outputs = [model_pick, header, s.timing, *(box for box, _, _ in class_boxes), s.cfg, s.iterations,
                         s.gumbel, s.steps]
        model_pick.select(friendly_errors(studio.switch_model), model_pick, model_pick, api_name="switch_model",
                          concurrency_limit=1).then(served_model, s.n, model_outputs, api_name=False,
                                                   show_progress="hidden").then(**interp.refresh)
        demo.load(served_model, s.n, model_outputs, api_name=False, show_progress="hidden")

        # each result panel acts on its picked picture's full-size file: "send to" an editor, "reuse seed"
        targets = {"inpaint": inp, "edit": ed, "outpaint": out}
        for tab in (gen, inp, out, ed, ev):
            r = tab.results
            for (tab_id, target), button in zip(targets.items(), r.send):
                button.click(friendly_errors(functools.partial(send_to, studio, tab_id)), [r.picked, r.files],
                             [target.panel.picture, target.panel.editor, tabs],
                             api_name=False).then(**target.show_preview)
            r.reuse.click(friendly_errors(reuse_seed), [r.picked, r.files], settings.seed, api_name=False)
        demo.unload(studio.forget_session)
    demo.studio = studio
    return demo
