"""The PNG Info tab: drop a picture the app made, read its parameters, restore them into the tab that made it."""
from __future__ import annotations

from typing import Any

import gradio as gr

from ...errors import InputError
from ...tasks import EnrichRequest, InterpolateRequest, MaskedRequest, OutpaintRequest, VaryRequest, request_from_params
from ..saving import read_params
from .common import UNCONDITIONAL, friendly_errors
from .masked import EXPAND, IN_FRAME, OUTPAINT_SIDES, SYNC_FIT

TAB_OF_TASK = {"generate": "generate", "inpaint": "inpaint", "edit": "edit", "outpaint": "outpaint",
               "interpolate": "interpolate", "enrich": "enrich", "vary": "enrich"}
CLASS_FIELDS = ("class_id", "class_a", "class_b")


class PngInfoActions:
    def __init__(self, studio):
        self.studio = studio

    def png_info(self, path: str | None) -> tuple[dict | None, str, Any]:
        """The parameters of a dropped picture, a line on what restoring does, and whether it can."""
        if path is None:
            return None, "", gr.Button(interactive=False)
        try:
            params = read_params(path)
        except InputError as e:
            return None, f"**No parameters to restore.** {e}", gr.Button(interactive=False)
        tab = TAB_OF_TASK.get(params["task"])
        if tab is None:
            return params, f"Made by the task `{params['task']}`, which no tab runs.", gr.Button(interactive=False)
        seed = f", seed {params['seed']}" if "seed" in params else ""
        return (params, f"Made by **{params['task']}**{seed}. Restoring opens that tab with these settings"
                        f"{' and this picture' if tab not in ('generate', 'interpolate') else ''}.",
                gr.Button(interactive=True))

    def restored(self, path: str) -> tuple[str, dict[str, Any], list[str]]:
        """(tab id, {control: value}, notes) that set a tab as the picture's parameters say. Controls are named as
        the task's request (`tasks`) names its fields: the sampling knobs (seed, num_samples, cfg_scale...) and the
        tab's own (class_id, blend_mode...); a picture of an interpolation restores its own `ratio`, of a canvas
        expansion its sides."""
        params = read_params(path)
        task = request_from_params(params)
        tab = TAB_OF_TASK[task.task]
        notes: list[str] = []
        values: dict[str, Any] = {**task.to_params(), "num_samples": 1}  # its own seed makes it again, first
        values.update({key: self.class_choice(values.get(key), notes) for key in CLASS_FIELDS
                       if hasattr(task, key)})
        if isinstance(task, MaskedRequest):
            values["picture"] = str(path)
            expand = getattr(task, "expand", None)
            if isinstance(task, OutpaintRequest):
                values["mode"] = IN_FRAME if expand is None else EXPAND
                values.update(zip(OUTPAINT_SIDES, expand or ()))
            if expand is None:
                notes.append("the mask is not stored in the picture: paint it again")
        if isinstance(task, (EnrichRequest, VaryRequest)):
            values["picture"] = str(path)
        if isinstance(task, InterpolateRequest) and "ratio" in params:
            values["ratio"] = params["ratio"]
        return tab, {k: v for k, v in values.items() if v is not None or k == "class_id"}, notes

    def class_choice(self, spec, notes: list[str]) -> str | None:
        """A stored class (name, index or None) as the class boxes spell it, if the served model has it."""
        if spec is None:
            return UNCONDITIONAL
        try:
            engine = self.studio.engine
            return engine.class_names[engine.class_index(spec)]
        except InputError:
            notes.append(f"the served model has no class {spec!r}")
            return None


def png_info_tab(studio, tabs: gr.Tabs, controls: dict[str, dict[str, gr.components.Component]],
                 previews: list[dict]) -> None:
    """`controls`: for each tab id, its restorable controls by name ("" holds the sampling settings); `previews`:
    the editing tabs' preview events, run after a restore (a picture set by a function shows no preview itself)."""
    actions = PngInfoActions(studio)
    with gr.Tab("PNG Info", id="pnginfo"):
        with gr.Row():
            picture = gr.Image(label="Drop a PNG made by BiGR Studio", type="filepath", image_mode=None,
                               sources=["upload", "clipboard"], height=320, elem_id="pnginfo-image")
            with gr.Column():
                summary = gr.Markdown(elem_id="pnginfo-summary")
                params = gr.JSON(label="Parameters", elem_id="pnginfo-params")
                restore = gr.Button("Restore into its tab", variant="primary", interactive=False,
                                    elem_id="pnginfo-restore")
    picture.change(friendly_errors(actions.png_info), picture, [params, summary, restore], api_name="png_info",
                   show_progress="hidden")

    wire_restore(studio, restore, picture, tabs, controls, previews)


def wire_restore(studio, button: gr.Button, path: gr.components.Component, tabs: gr.Tabs,
                 controls: dict[str, dict[str, gr.components.Component]], previews: list[dict]) -> None:
    """`button` restores the picture whose file `path` holds into the tab that made it (PNG Info, History)."""
    actions = PngInfoActions(studio)
    targets = [c for tab_controls in controls.values() for c in tab_controls.values()]

    def restore_into_tab(path, request: gr.Request = None):
        if not path:
            raise InputError("pick a picture first")
        tab, values, notes = actions.restored(path)
        if "picture" in values and "editor" in controls.get(tab, {}):  # the same path as a dropped picture
            values["picture"], values["editor"], _ = studio.picture_uploaded(values["picture"], request)
        updates: dict[Any, Any] = {tabs: gr.Tabs(selected=tab)}
        for scope in ("", tab):
            updates.update({component: values[name] for name, component in controls.get(scope, {}).items()
                            if values.get(name) is not None})
        if notes:
            gr.Info("Restored; " + "; ".join(notes) + ".")
        return updates

    event = button.click(friendly_errors(restore_into_tab), path, [tabs, *targets], api_name=False)
    for preview in previews:
        event = event.then(**preview)
    event.then(None, None, None, js=SYNC_FIT, api_name=False)  # a restored region shows or hides Fit
