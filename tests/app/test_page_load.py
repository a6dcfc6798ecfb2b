"""Opening the page samples nothing: its load events only register the browser and read the served model. The
Interpolate tab renders its first mix when it is opened, once (the browser test sees the picture appear)."""
from pathlib import Path

import gradio as gr

from bigr_app.app.ui.interpolate import InterpolateActions
from bigr_app.app.ui.page import build_ui
from bigr_app.app.ui.requests import Sampling
from bigr_app.app.ui.studio import Studio


def chained(demo, first: set[int]) -> set[int]:
    """The events in `first` and every event run after them (`.then`), transitively."""
    found, grew = set(first), True
    while grew:
        after = {i for i, f in demo.fns.items() if f.trigger_after in found}
        grew = not after <= found
        found |= after
    return found


def test_the_page_load_runs_no_task_and_the_interpolate_tab_renders_when_opened(tiny_engine):
    demo = build_ui(tiny_engine)
    loads = chained(demo, {i for i, f in demo.fns.items() if any(event == "load" for _, event in f.targets)})
    assert {demo.fns[i].name for i in loads} == {"register_browser", "served_model"}
    (tab,) = [b for b in demo.blocks.values() if isinstance(b, gr.Tab) and b.id == "interpolate"]
    assert [f.name for f in demo.fns.values() if (tab._id, "select") in f.targets] == ["first_look"]


def test_the_first_look_renders_only_when_nothing_is_shown(tiny_engine):
    actions = InterpolateActions(Studio(tiny_engine))
    sampling = Sampling.read(seed=0, cfg=3.0, iterations=2, gumbel=1.0, steps=2, n=1)
    view, file = actions.first_look(None, "c0", "c1", 0.5, sampling, progress=lambda *a, **k: None)
    assert Path(view).is_file() and Path(file).is_file()
    assert actions.first_look(view, "c0", "c1", 0.5, sampling) == (gr.skip(), gr.skip())
