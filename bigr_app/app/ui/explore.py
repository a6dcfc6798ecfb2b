"""The Explore tab: a t-SNE map of reference pictures' BiGR features; an upload lands on it."""
from __future__ import annotations

import html

import gradio as gr
import numpy as np
from PIL import Image

from ...errors import InputError
from ...analysis.explore import INDEX_FILE, ExploreIndex, class_colours
from .common import friendly_errors, log

YOUR_IMAGE = "your image"
YOUR_IMAGE_COLOUR = "#000000"  # black: Kelly's list, which colours the classes, leaves it out
LIMIT, PARKED = 1.1, 9.0  # the plotted range is [-LIMIT, LIMIT]; PARKED is outside it
MARKER = 0.035  # the upload is drawn as its point and a ring of 8 around it, this far out (the plot has no sizes)


def load_explore_index(engine) -> ExploreIndex | None:
    path = engine.folder / INDEX_FILE if engine.folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return ExploreIndex.load(path)
    except InputError as e:
        log.warning("Explore tab disabled: %s", e)
        return None


class ExploreActions:
    def __init__(self, studio):
        self.studio = studio

    def explore_points(self, extra: tuple[float, float] | None = None):
        """The map as a table for gr.ScatterPlot: one row per reference image, and the query's marker (its
        point in a ring of 8, visible among hundreds of points of one size).

        The plot takes its colour scale's categories from the first table it draws (a category that comes
        later is drawn without colour), so a query row is always there: parked outside the plotted
        range, where the plot clips it, until there is a query."""
        import pandas as pd

        idx = self.studio.explore
        names = [idx.classes[int(k)] for k in idx.labels]
        rows = dict(x=idx.coords[:, 0], y=idx.coords[:, 1], cls=names, item=np.arange(len(idx)))
        table = pd.DataFrame(rows).rename(columns={"cls": "class"})
        if extra is None:
            xs, ys = [PARKED], [PARKED]
        else:
            angles = np.linspace(0, 2 * np.pi, 8, endpoint=False)
            xs, ys = np.r_[extra[0], extra[0] + MARKER * np.cos(angles)], np.r_[extra[1], extra[1] + MARKER * np.sin(angles)]
        query = pd.DataFrame({"x": xs, "y": ys, "class": YOUR_IMAGE, "item": -1})
        return pd.concat([table, query], ignore_index=True)

    def explore_colours(self) -> dict[str, str]:
        classes = self.studio.explore.classes
        return {**{name: hex_colour(c) for name, c in zip(classes, class_colours(len(classes)))},
                YOUR_IMAGE: YOUR_IMAGE_COLOUR}

    def explore_query(self, image, k, request: gr.Request = None):
        """Where an uploaded picture lands on the map, and its nearest reference pictures."""
        if self.studio.explore is None:
            raise InputError("no map for this model: build one with `python -m bigr_app explore-index`")
        if image is None:  # a hint, not an error: the map and its neighbours stay as they are
            gr.Warning("no image: upload a picture first, then place it on the map")
            return gr.skip(), gr.skip(), gr.skip()
        idx = self.studio.explore
        feature = self.studio.service.compute(lambda engine: engine.features(image, layer=idx.layer)[0],
                                              self.studio.context(request))
        order, sims = idx.nearest(feature, int(k))
        x, y = idx.place(feature, int(k))
        neighbours = [(Image.fromarray(idx.thumbnails[i]), f"{idx.classes[int(idx.labels[i])]} · {s:.2f}")
                      for i, s in zip(order, sims)]
        votes = np.bincount(idx.labels[order], minlength=len(idx.classes))
        summary = ", ".join(f"{idx.classes[c]} ({votes[c]})" for c in np.argsort(-votes)[:3] if votes[c])
        return self.explore_points((float(x), float(y))), neighbours, f"**Nearest classes:** {summary}"


def hex_colour(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


def class_legend(colours: dict[str, str]) -> str:
    """Colour swatches for the map's classes (the plot's own legend is cut off below it)."""
    items = "".join(
        f'<span style="display:inline-block;margin:0 10px 4px 0;white-space:nowrap">'
        f'<span style="display:inline-block;width:10px;height:10px;border-radius:50%;background:{colour};'
        f'margin-right:4px"></span>{html.escape(name)}</span>'
        for name, colour in colours.items()
    )
    return f'<div style="font-size:0.85em;line-height:1.4">{items}</div>'


def explore_tab(studio) -> None:
    actions = ExploreActions(studio)
    with gr.Tab("Explore", id="explore"):
        idx = studio.explore
        if idx is None:
            gr.Markdown("No map for this model yet. Build one from a folder of reference images (one sub-folder "
                        "per class):\n\n`python -m bigr_app explore-index --weights WEIGHTS --data DIR`")
            return
        gr.Markdown(f"{len(idx)} reference images, BiGR features of layer {idx.layer} (average-pooled, null class), "
                    "laid out by t-SNE. Hover a point for its class; upload a picture to see where it lands.")
        with gr.Row():
            plot = gr.ScatterPlot(actions.explore_points(), x="x", y="y", color="class", tooltip=["class", "item"],
                                  color_map=actions.explore_colours(), height=580, elem_id="explore-plot",
                                  x_lim=[-LIMIT, LIMIT], y_lim=[-LIMIT, LIMIT], label="Feature map (t-SNE)")
            with gr.Column():
                gr.HTML(class_legend(actions.explore_colours()), elem_id="explore-legend")
                image = gr.Image(label="Your picture", type="pil", sources=["upload", "clipboard"], height=240,
                                 elem_id="explore-image")
                k = gr.Slider(1, 24, value=8, step=1, label="Neighbours")
                button = gr.Button("Place on the map", variant="primary", elem_id="explore-button")
                summary = gr.Markdown(elem_id="explore-summary")
        neighbours = gr.Gallery(label="Nearest reference pictures (class · cosine similarity)", columns=8, height=200,
                                elem_id="explore-neighbours", interactive=False)
    button.click(friendly_errors(actions.explore_query), [image, k], [plot, neighbours, summary], api_name="explore")
