"""The Gradio app: a thin layer over `Engine`. Each tab's button calls one `Studio` method,
which calls one Engine method and saves the results as PNGs with their parameters embedded.
"""
from __future__ import annotations

import functools
import html
import logging
import random
import shutil
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import gradio as gr
import numpy as np
from PIL import Image

from .cli import save_png, write_strip_and_gif
from .engine import Engine
from .resources import ASSETS
from .edits import REGIONS
from .errors import BiGRError, InputError
from .explore import INDEX_FILE, ExploreIndex, class_colours
from .timing import Calibration, measure_costs

log = logging.getLogger("bigr_app.ui")
UNCONDITIONAL = "(unconditional)"
EXPAND, IN_FRAME = "expand the canvas", "in-frame (paint what to keep)"
YOUR_IMAGE = "your image"


def friendly_errors(fn):
    """Engine errors become a readable message in the page; anything else is logged and reported
    without a traceback, and the server carries on."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except BiGRError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except gr.Error:
            raise
        except Exception as e:  # noqa: BLE001 - the server must keep serving
            log.exception("request failed")
            raise gr.Error(f"Internal error ({type(e).__name__}): {e}", print_exception=False) from None

    return wrapper


def editor_parts(value: dict | None) -> tuple[Image.Image, np.ndarray | None]:
    """An ImageEditor value -> (background image, painted mask or None). Paint on any layer counts."""
    if not value or value.get("background") is None:
        raise InputError("no image: upload a picture first")
    background = value["background"]
    if not isinstance(background, Image.Image):
        background = Image.fromarray(np.asarray(background))
    mask = np.zeros((background.height, background.width), bool)
    for layer in value.get("layers") or []:
        if layer is None:
            continue
        layer = layer if isinstance(layer, Image.Image) else Image.fromarray(np.asarray(layer))
        alpha = np.asarray(layer.convert("RGBA").getchannel("A"))
        if alpha.shape == mask.shape:
            mask |= alpha > 127
    return background, (mask if mask.any() else None)


ModelMenu = dict[str, Callable[[], Engine]]  # label -> loads that model; the first is the one served at start


class Studio:
    """Endpoints of the app. Outputs go to a private temporary folder per session."""

    def __init__(self, engine: Engine, max_samples: int = 8, models: ModelMenu | None = None):
        self.max_samples = max_samples
        self.root = Path(tempfile.mkdtemp(prefix="bigr-studio-"))
        self.models = models or {engine.source: lambda: engine}
        self.model = next(iter(self.models))
        self.use(engine)

    def use(self, engine: Engine) -> None:
        self.engine = engine
        self.costs = measure_costs(engine) if engine.bigr is not None else None
        self.calibration = Calibration()
        self.explore = load_explore_index(engine)

    def header(self) -> str:
        return f"# BiGR Studio\n**Model:** {self.engine.describe()}"

    def switch_model(self, choice: str, progress=gr.Progress(track_tqdm=True)) -> str:
        """Load the chosen model (an official one downloads on first use) and serve it from now on.
        On failure the current model stays and the reason is shown."""
        if choice == self.model:
            return choice
        if choice not in self.models:
            raise InputError(f"unknown model {choice!r}")
        progress(0, desc=f"loading {choice}")
        try:
            engine = self.models[choice]()
        except BiGRError as e:
            gr.Warning(f"{choice} could not be loaded; still serving {self.model}. {e}")
            return self.model
        self.use(engine)
        self.model = choice
        log.info("now serving %s", engine.describe())
        return choice

    # ---- plumbing -------------------------------------------------------------------------
    def class_choices(self, unconditional: bool) -> list[str]:
        return ([UNCONDITIONAL] if unconditional else []) + list(self.engine.class_names)

    def class_spec(self, name: str | None):
        if name in (None, "", UNCONDITIONAL):
            return None
        return name

    def sampling(self, cfg, iterations, gumbel, steps) -> dict:
        return dict(cfg_scale=float(cfg), iterations=int(iterations), gumbel=float(gumbel), diffusion_steps=int(steps))

    def samples(self, n) -> int:
        n = int(n)
        if not 1 <= n <= self.max_samples:
            raise InputError(f"number of samples must be between 1 and {self.max_samples}")
        return n

    def session_dir(self, request: gr.Request | None) -> Path:
        key = getattr(request, "session_hash", None) or "local"
        folder = self.root / key / time.strftime("%Y%m%d-%H%M%S")
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def forget_session(self, request: gr.Request) -> None:
        shutil.rmtree(self.root / (request.session_hash or "local"), ignore_errors=True)

    def save(self, images, params: dict, request) -> list[str]:
        folder = self.session_dir(request)
        task = params.get("task", "result")
        return [str(save_png(img, folder / f"{task}_{i:02d}.png", dict(params, index=i))) for i, img in enumerate(images)]

    def expected_time(self, n, cfg, iterations, steps) -> str:
        """The expected time of a generation at these settings: the cost model measured at start-up, scaled by
        how the last generations compared with it."""
        if self.costs is None:
            return ""
        try:
            params = self.engine.sampling_params(cfg_scale=float(cfg), iterations=int(iterations),
                                                 diffusion_steps=int(steps))
        except (BiGRError, TypeError, ValueError):
            return "Expected time: — (settings out of range)"
        tokens, factor = self.engine.grid**2, self.calibration.factor
        one = factor * self.costs.estimate(params, tokens, tokens)
        many = factor * self.costs.estimate(params, tokens, tokens, batch=int(n))
        half = factor * self.costs.estimate(params, tokens // 2, tokens)
        runs = len(self.calibration.ratios)
        basis = f"following the last {runs} run{'s' * (runs > 1)}" if runs else "measured at start-up"
        return (f"Expected time on this {self.costs.device.upper()}: about **{format_seconds(one)}** per picture "
                f"({format_seconds(many)} for {int(n)}), half-picture inpainting about {format_seconds(half)}; "
                f"{basis}")

    @staticmethod
    def reporter(progress: gr.Progress):
        return lambda done, total: progress((done, total), desc="sampling", unit="iterations")

    # ---- endpoints ------------------------------------------------------------------------
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
        paths = self.save(images, params, request)
        return paths, paths

    @staticmethod
    def picture_and_mask(editor, mask_file) -> tuple[Image.Image, Any]:
        """The editor's picture and the mask: an uploaded mask image (white = regenerate) if given, else the paint."""
        image, painted = editor_parts(editor)
        return image, (mask_file if mask_file is not None else painted)

    def preview(self, editor, mask_file, region, padding, fit, grow):
        try:
            image, mask = self.picture_and_mask(editor, mask_file)
            if mask is None:
                return image
            return self.engine.mask_preview(image, mask, fit=fit, grow=int(grow), region=region,
                                            padding=int(padding) or None)
        except InputError:
            return None

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
        paths = self.save(result, result.params, request)
        return paths, paths

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
        paths = self.save(result, result.params, request)
        return paths, paths

    def interpolate(self, class_a, class_b, ratio, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
                    progress=gr.Progress()) -> str:
        """The mix at `ratio`, saved as a PNG with its parameters (what the panel shows and downloads)."""
        result = self.engine.interpolate(class_a, class_b, [float(ratio)], seed=int(seed),
                                         progress=self.reporter(progress), **self.sampling(cfg, iterations, gumbel, steps))
        return self.save(result, dict(result.params, ratio=float(ratio)), request)[0]

    def sweep(self, class_a, class_b, frames, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
              progress=gr.Progress()):
        ratios = list(np.linspace(1.0, 0.0, int(frames)))
        result = self.engine.interpolate(class_a, class_b, ratios, seed=int(seed), progress=self.reporter(progress),
                                         **self.sampling(cfg, iterations, gumbel, steps))
        folder = self.session_dir(request)
        strip, gif = write_strip_and_gif(list(result), folder / "interpolate", result.params)
        return str(strip), str(gif), [str(strip), str(gif)]

    def frame_preview(self, image, fit):
        try:
            return None if image is None else self.engine.frame_preview(image, fit)
        except BiGRError:
            return None

    def enrich(self, image, fit, rounds, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
               progress=gr.Progress()):
        if image is None:
            raise InputError("no image: upload a picture first")
        s = self.sampling(cfg, iterations, gumbel, steps)
        s["cfg_scale"] = max(s["cfg_scale"], 10.0)  # the release enriches with strong guidance
        result = self.engine.enrich(image, rounds=int(rounds), fit=fit, seed=int(seed),
                                    progress=self.reporter(progress), **s)
        paths = self.save(result, result.params, request)
        return paths, paths

    def vary(self, image, fit, strength, n, seed, cfg, iterations, gumbel, steps, request: gr.Request = None,
             progress=gr.Progress()):
        if image is None:
            raise InputError("no image: upload a picture first")
        result = self.engine.vary(image, strength=float(strength), fit=fit, num_samples=self.samples(n), seed=int(seed),
                                  progress=self.reporter(progress), **self.sampling(cfg, iterations, gumbel, steps))
        paths = self.save(result, result.params, request)
        return paths, paths

    def explore_points(self, extra: tuple[float, float] | None = None):
        """The map as a table for gr.ScatterPlot (one row per reference image, plus the query)."""
        import pandas as pd

        idx = self.explore
        names = [idx.classes[int(k)] for k in idx.labels]
        rows = dict(x=idx.coords[:, 0], y=idx.coords[:, 1], cls=names, item=np.arange(len(idx)))
        table = pd.DataFrame(rows).rename(columns={"cls": "class"})
        if extra is not None:
            query = pd.DataFrame({"x": [extra[0]], "y": [extra[1]], "class": [YOUR_IMAGE], "item": [-1]})
            table = pd.concat([table, query], ignore_index=True)
        return table

    def explore_query(self, image, k):
        """Where an uploaded picture lands on the map, and its nearest reference pictures."""
        if self.explore is None:
            raise InputError(f"no map for this model: build one with `python -m bigr_app explore-index`")
        if image is None:
            raise InputError("no image: upload a picture first")
        idx = self.explore
        feature = self.engine.features(image, layer=idx.layer)[0]
        order, sims = idx.nearest(feature, int(k))
        x, y = idx.place(feature, int(k))
        neighbours = [(Image.fromarray(idx.thumbnails[i]), f"{idx.classes[int(idx.labels[i])]} · {s:.2f}")
                      for i, s in zip(order, sims)]
        votes = np.bincount(idx.labels[order], minlength=len(idx.classes))
        summary = ", ".join(f"{idx.classes[c]} ({votes[c]})" for c in np.argsort(-votes)[:3] if votes[c])
        return self.explore_points((float(x), float(y))), neighbours, f"**Nearest classes:** {summary}"


def load_explore_index(engine: Engine) -> ExploreIndex | None:
    path = engine.folder / INDEX_FILE if engine.folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return ExploreIndex.load(path)
    except InputError as e:
        log.warning("Explore tab disabled: %s", e)
        return None


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


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


def result_panel(label: str, elem_id: str):
    gallery = gr.Gallery(label=label, columns=4, height=320, format="png", interactive=False, elem_id=elem_id)
    files = gr.File(label="Download PNGs (parameters embedded)", file_count="multiple", interactive=False)
    with gr.Row():
        to_inpaint = gr.Button("Send to Inpaint", size="sm")
        to_edit = gr.Button("Send to Edit", size="sm")
        to_outpaint = gr.Button("Send to Outpaint", size="sm")
    return gallery, files, (to_inpaint, to_edit, to_outpaint)


def editor(label: str, elem_id: str) -> gr.ImageEditor:
    return gr.ImageEditor(
        label=label, type="pil", image_mode="RGBA", sources=["upload", "clipboard"], elem_id=elem_id,
        brush=gr.Brush(default_size=24, colors=["#ff2828"], color_mode="fixed"), eraser=gr.Eraser(default_size=24),
        transforms=[], layers=False, height=420,
    )


def mask_controls(choices: list[str], prefix: str, visible: bool = True) -> SimpleNamespace:
    """Class, then the mask options in a group (`group`) that a tab can hide."""
    cls = gr.Dropdown(choices, value=choices[0], label="Class", filterable=True)
    with gr.Column(visible=visible) as group:
        with gr.Row():
            blend_mode = gr.Radio(["none", "feather", "poisson"], value="feather", label="Blend",
                                  elem_id=f"{prefix}-blend")
            radius = gr.Slider(0, 32, value=4, step=1, label="Feather radius (px)")
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
                           grow=grow, mask_file=mask_file, group=group)


def masked_tab(prefix: str, title: str, editor_label: str, choices: list[str], button: str,
               examples: list[dict] | None = None) -> SimpleNamespace:
    """A tab with a paintable editor, the live cell preview, mask options and a result panel."""
    with gr.Tab(title, id=prefix):
        with gr.Row():
            ed = editor(editor_label, f"{prefix}-editor")
            preview = gr.Image(label="Cells that will be regenerated", type="pil", interactive=False,
                               elem_id=f"{prefix}-preview", height=420)
        controls = mask_controls(choices, prefix)
        btn = gr.Button(button, variant="primary", elem_id=f"{prefix}-button")
        stop = gr.Button("Stop", size="sm")
        gallery, files, send = result_panel("Results", f"{prefix}-gallery")
        if examples:
            gr.Examples([[e] for e in examples], inputs=[ed], label="Examples (image + mask)")
    return SimpleNamespace(editor=ed, preview=preview, **vars(controls), button=btn, stop=stop, gallery=gallery,
                           files=files, send=send)


def class_legend(colours: dict[str, str]) -> str:
    """Colour swatches for the map's classes (the plot's own legend is cut off below it)."""
    items = "".join(
        f'<span style="display:inline-block;margin:0 10px 4px 0;white-space:nowrap">'
        f'<span style="display:inline-block;width:10px;height:10px;border-radius:50%;background:{colour};'
        f'margin-right:4px"></span>{html.escape(name)}</span>'
        for name, colour in colours.items()
    )
    return f'<div style="font-size:0.85em;line-height:1.4">{items}</div>'


def explore_tab(studio: Studio) -> SimpleNamespace | None:
    """t-SNE of the reference set's BiGR features; an upload lands on it with its neighbours."""
    with gr.Tab("Explore", id="explore"):
        idx = studio.explore
        if idx is None:
            gr.Markdown("No map for this model yet. Build one from a folder of reference images (one sub-folder "
                        "per class):\n\n`python -m bigr_app explore-index --weights WEIGHTS --data DIR`")
            return None
        colours = {name: hex_colour(c) for name, c in zip(idx.classes, class_colours(len(idx.classes)))}
        gr.Markdown(f"{len(idx)} reference images, BiGR features of layer {idx.layer} (average-pooled, null class), "
                    "laid out by t-SNE. Hover a point for its class; upload a picture to see where it lands.")
        with gr.Row():
            plot = gr.ScatterPlot(studio.explore_points(), x="x", y="y", color="class", tooltip=["class", "item"],
                                  color_map={**colours, YOUR_IMAGE: "#000000"}, height=580, elem_id="explore-plot",
                                  x_lim=[-1.1, 1.1], y_lim=[-1.1, 1.1], label="Feature map (t-SNE)")
            with gr.Column():
                gr.HTML(class_legend({**colours, YOUR_IMAGE: "#000000"}), elem_id="explore-legend")
                image = gr.Image(label="Your picture", type="pil", sources=["upload", "clipboard"], height=240,
                                 elem_id="explore-image")
                k = gr.Slider(1, 24, value=8, step=1, label="Neighbours")
                button = gr.Button("Place on the map", variant="primary", elem_id="explore-button")
                summary = gr.Markdown(elem_id="explore-summary")
        neighbours = gr.Gallery(label="Nearest reference pictures (class · cosine similarity)", columns=8, height=200,
                                elem_id="explore-neighbours", interactive=False)
    return SimpleNamespace(plot=plot, image=image, k=k, button=button, summary=summary, neighbours=neighbours)


def build_ui(engine: Engine, max_samples: int = 8, models: ModelMenu | None = None) -> gr.Blocks:
    """The app serving `engine`; `models` (label -> loader, the first being `engine`'s) fills the model picker."""
    studio = Studio(engine, max_samples, models)
    names = list(engine.class_names)
    with_uncond = studio.class_choices(True)
    d = engine.defaults
    with gr.Blocks(title="BiGR Studio", delete_cache=(1800, 3600)) as demo:
        with gr.Row(equal_height=True):
            header = gr.Markdown(studio.header(), elem_id="header")
            model_pick = gr.Dropdown(list(studio.models), value=studio.model, label="Model", scale=0,
                                     min_width=260, elem_id="model-picker",
                                     info="official models download from the Hugging Face Hub on first use")
        with gr.Accordion("Sampling settings (all tabs)", open=False):
            with gr.Row():
                seed = gr.Number(value=0, precision=0, label="Seed", minimum=0)
                dice = gr.Button("🎲", size="sm", scale=0)
                n = gr.Slider(1, max_samples, value=min(4, max_samples), step=1, label="Samples")
            with gr.Row():
                cfg = gr.Slider(1.0, 10.0, value=d.cfg_scale, step=0.1, label="Guidance (cfg)")
                iterations = gr.Slider(1, 64, value=d.iterations, step=1, label="Iterations N")
                gumbel = gr.Slider(0.0, 5.0, value=d.gumbel, step=0.01, label="Gumbel temperature")
                steps = gr.Slider(1, 256, value=d.diffusion_steps, step=1, label="Diffusion steps T")
        timing = gr.Markdown(studio.expected_time(n.value, d.cfg_scale, d.iterations, d.diffusion_steps),
                             elem_id="expected-time")
        dice.click(lambda: random.randint(0, 2**31 - 1), None, seed, api_name=False)
        for knob in (n, cfg, iterations, steps):
            knob.change(studio.expected_time, [n, cfg, iterations, steps], timing, api_name=False,
                        show_progress="hidden")
        knobs = [seed, cfg, iterations, gumbel, steps]
        samp = [n, *knobs]

        with gr.Tabs() as tabs:
            with gr.Tab("Generate", id="generate"):
                gen_class = gr.Dropdown(with_uncond, value=names[0] if names else UNCONDITIONAL, label="Class",
                                        filterable=True)
                gen_btn = gr.Button("Generate", variant="primary")
                gen_stop = gr.Button("Stop", size="sm")
                gen_gallery, gen_files, gen_send = result_panel("Samples", "generate-gallery")
            inp = masked_tab("inpaint", "Inpaint", "Paint what to regenerate", with_uncond, "Inpaint", example_editors())
            with gr.Tab("Outpaint", id="outpaint"):
                with gr.Row():
                    out_editor = editor("Picture (in-frame mode: paint what to keep)", "outpaint-editor")
                    with gr.Column():
                        out_mode = gr.Radio([EXPAND, IN_FRAME], value=EXPAND, label="Mode", elem_id="outpaint-mode")
                        with gr.Column() as out_sides:
                            out_l = gr.Slider(0, 512, value=0, step=8, label="Left (px)")
                            out_t = gr.Slider(0, 512, value=0, step=8, label="Top (px)")
                            out_r = gr.Slider(0, 512, value=64, step=8, label="Right (px)")
                            out_b = gr.Slider(0, 512, value=0, step=8, label="Bottom (px)")
                out_opts = mask_controls(with_uncond, "outpaint", visible=False)
                out_class = out_opts.cls
                out_btn = gr.Button("Outpaint", variant="primary")
                out_stop = gr.Button("Stop", size="sm")
                out_gallery, out_files, out_send = result_panel("Outpainted", "outpaint-gallery")
            ed = masked_tab("edit", "Edit class", "Paint the region to change", names, "Edit")
            with gr.Tab("Interpolate", id="interpolate"):
                with gr.Row():
                    cls_a = gr.Dropdown(names, value=names[0], label="Class A (ratio 1)", filterable=True)
                    cls_b = gr.Dropdown(names, value=names[min(1, len(names) - 1)], label="Class B (ratio 0)",
                                        filterable=True, elem_id="interp-class-b")
                ratio = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Ratio r (r·A + (1−r)·B)",
                                  elem_id="ratio-slider")
                interp_image = gr.Image(label="Interpolation", type="filepath", format="png", interactive=False,
                                        elem_id="interp-image", height=320)
                with gr.Row():
                    frames = gr.Slider(3, 17, value=9, step=1, label="Sweep frames")
                    sweep_btn = gr.Button("Sweep (strip + GIF)")
                with gr.Row():
                    strip = gr.Image(label="Strip", type="filepath", interactive=False)
                    gif = gr.Image(label="Animation", type="filepath", interactive=False)
                sweep_files = gr.File(label="Download", file_count="multiple", interactive=False)
            with gr.Tab("Enrich & vary", id="enrich"):
                with gr.Row():
                    ev_image = gr.Image(label="Picture", type="pil", sources=["upload", "clipboard"], height=320)
                    ev_preview = gr.Image(label="What the model sees (dimmed: left out)", type="pil",
                                          interactive=False, height=320, elem_id="enrich-preview")
                    with gr.Column():
                        ev_fit = gr.Radio(["auto", "crop", "letterbox"], value="auto", label="Fit",
                                          info="auto: the whole picture; crop: its centre square only")
                        rounds = gr.Slider(1, 4, value=1, step=1, label="Enrichment rounds")
                        enrich_btn = gr.Button("Enrich", variant="primary")
                        strength = gr.Slider(0.05, 1.0, value=0.4, step=0.05, label="Variation strength")
                        vary_btn = gr.Button("Vary", variant="primary")
                ev_gallery, ev_files, ev_send = result_panel("Results", "enrich-gallery")
            explore = explore_tab(studio)

        # ---- wiring ------------------------------------------------------------------------
        wrap = friendly_errors
        gen_evt = gen_btn.click(wrap(studio.generate), [gen_class, *samp], [gen_gallery, gen_files],
                                api_name="generate")
        gen_evt.then(studio.expected_time, [n, cfg, iterations, steps], timing, api_name=False,
                     show_progress="hidden")
        gen_stop.click(None, None, None, cancels=[gen_evt], api_name=False)
        def mask_inputs(o):
            return [o.mask_file, o.cls, o.blend, o.radius, o.region, o.padding, o.fit, o.grow]

        for tab, fn in ((inp, studio.inpaint), (ed, studio.edit)):
            preview_inputs = [tab.editor, tab.mask_file, tab.region, tab.padding, tab.fit, tab.grow]
            for knob in preview_inputs:
                knob.change(wrap(studio.preview), preview_inputs, tab.preview, trigger_mode="always_last",
                            api_name=False, show_progress="hidden")
            evt = tab.button.click(wrap(fn), [tab.editor, *mask_inputs(tab), *samp], [tab.gallery, tab.files],
                                   api_name=fn.__name__)
            tab.stop.click(None, None, None, cancels=[evt], api_name=False)
        # expand mode has its sides; in-frame mode the mask options (each hidden in the other mode)
        out_mode.change(lambda mode: (gr.Column(visible=mode == EXPAND), gr.Column(visible=mode == IN_FRAME)),
                        out_mode, [out_sides, out_opts.group], api_name=False, show_progress="hidden")
        out_evt = out_btn.click(wrap(studio.outpaint),
                                [out_editor, out_mode, out_l, out_t, out_r, out_b, *mask_inputs(out_opts), *samp],
                                [out_gallery, out_files], api_name="outpaint")
        out_stop.click(None, None, None, cancels=[out_evt], api_name=False)
        # any change re-renders (a drag, arrow keys, a typed value, another class); while one renders, only
        # the latest change waits
        interp_inputs = [cls_a, cls_b, ratio, *knobs]
        for i, trigger in enumerate((ratio.change, cls_a.change, cls_b.change)):
            trigger(wrap(studio.interpolate), interp_inputs, interp_image, trigger_mode="always_last",
                    api_name="interpolate" if i == 0 else False, show_progress="minimal")
        sweep_btn.click(wrap(studio.sweep), [cls_a, cls_b, frames, *knobs], [strip, gif, sweep_files],
                        api_name="sweep")
        for knob in (ev_image, ev_fit):
            knob.change(studio.frame_preview, [ev_image, ev_fit], ev_preview, api_name=False, show_progress="hidden")
        enrich_btn.click(wrap(studio.enrich), [ev_image, ev_fit, rounds, *knobs], [ev_gallery, ev_files],
                         api_name="enrich")
        vary_btn.click(wrap(studio.vary), [ev_image, ev_fit, strength, *samp], [ev_gallery, ev_files], api_name="vary")
        if explore is not None:
            explore.button.click(wrap(studio.explore_query), [explore.image, explore.k],
                                 [explore.plot, explore.neighbours, explore.summary], api_name="explore")

        class_boxes = [(gen_class, True), (inp.cls, True), (out_class, True), (ed.cls, False), (cls_a, False),
                       (cls_b, False)]

        def served_model(n_value):
            """What depends on the served model; the model can change while a page is open, or before it opens."""
            names = list(studio.engine.class_names)
            d = studio.engine.defaults
            boxes = [gr.Dropdown(choices=studio.class_choices(u), value=names[min(1, len(names) - 1)] if box is cls_b
                                 else names[0]) for box, u in class_boxes]
            return (studio.model, studio.header(),
                    studio.expected_time(n_value, d.cfg_scale, d.iterations, d.diffusion_steps),
                    *boxes, d.cfg_scale, d.iterations, d.gumbel, d.diffusion_steps)

        model_outputs = [model_pick, header, timing, *(box for box, _ in class_boxes), cfg, iterations, gumbel, steps]
        model_pick.select(wrap(studio.switch_model), model_pick, model_pick, api_name="switch_model",
                          concurrency_limit=1).then(served_model, n, model_outputs, api_name=False,
                                                   show_progress="hidden")
        demo.load(served_model, n, model_outputs, api_name=False, show_progress="hidden").then(
            wrap(studio.interpolate), interp_inputs, interp_image, api_name=False, show_progress="hidden")

        # "send to": the picked gallery image becomes the editor's picture in the target tab
        selected = gr.State(None)
        targets = {"inpaint": inp.editor, "edit": ed.editor, "outpaint": out_editor}
        for gallery, buttons in ((gen_gallery, gen_send), (inp.gallery, inp.send), (out_gallery, out_send),
                                 (ed.gallery, ed.send), (ev_gallery, ev_send)):
            gallery.select(pick_from_gallery, [gallery], selected, api_name=False)
            for (tab_id, target), button in zip(targets.items(), buttons):
                button.click(functools.partial(send_to, tab_id), [selected, gallery], [target, tabs], api_name=False)
        demo.unload(studio.forget_session)
    demo.studio = studio
    return demo


def pick_from_gallery(gallery, evt: gr.SelectData):
    return gallery_path(gallery, evt.index)


def gallery_path(gallery, index: int = 0) -> str | None:
    if not gallery:
        return None
    item = gallery[index]
    image = item[0] if isinstance(item, (tuple, list)) else item
    return image if isinstance(image, str) else getattr(image, "path", None)


def send_to(tab_id: str, selected: str | None, gallery) -> tuple[Any, Any]:
    path = selected or gallery_path(gallery)
    if path is None:
        raise gr.Error("nothing to send: make a picture first", print_exception=False)
    image = Image.open(path).convert("RGB")
    return {"background": image, "layers": [], "composite": image}, gr.Tabs(selected=tab_id)
