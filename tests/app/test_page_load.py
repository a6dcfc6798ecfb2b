"""Opening the page samples nothing: its load events only register the browser and read the served model. The
Interpolate tab renders its mix when it is opened and shows another (or none), a change made in the page renders
again, and a picture restored into the tab is sampled once."""
from pathlib import Path

import gradio as gr
import pytest

from bigr_app.app.ui import build_ui
from bigr_app.app.ui.interpolate import InterpolateActions
from bigr_app.app.ui.requests import Sampling
from bigr_app.app.ui.studio import Studio

from .conftest import CHROMIUM, open_page, served

SAMPLING = Sampling.read(seed=0, cfg=3.0, iterations=2, gumbel=1.0, steps=2, n=1)


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
    assert [f.name for f in demo.fns.values() if (tab._id, "select") in f.targets] == ["look"]
    (mix,) = [f for f in demo.fns.values() if f.api_name == "interpolate"]
    assert {event for _, event in mix.targets} == {"input"}  # a change by the user, not one set by a restore
    assert len(mix.targets) == 3 and mix.trigger_mode == "always_last"  # one event: a restore's values wait as one
    switch = chained(demo, {i for i, f in demo.fns.items() if f.api_name == "switch_model"})
    assert "refresh" in {demo.fns[i].name for i in switch}  # a shown mix is made again by the new model


def test_the_look_renders_unless_the_tab_shows_that_mix(tiny_engine):
    actions = InterpolateActions(Studio(tiny_engine))
    quiet = dict(progress=lambda *a, **k: None)
    view, file = actions.look(None, "c0", "c1", 0.5, SAMPLING, **quiet)
    assert Path(view).is_file() and Path(file).is_file()
    assert actions.look(file, "c0", "c1", 0.5, SAMPLING, **quiet) == (gr.skip(), gr.skip())
    for other in [("c0", "c1", 0.3, SAMPLING), ("c0", "c2", 0.5, SAMPLING),
                  ("c0", "c1", 0.5, Sampling.read(seed=1, cfg=3.0, iterations=2, gumbel=1.0, steps=2))]:
        assert actions.look(file, *other, **quiet) != (gr.skip(), gr.skip()), other
    assert actions.look(str(Path(file).with_name("gone.png")), "c0", "c1", 0.5, SAMPLING, **quiet) != \
        (gr.skip(), gr.skip())  # a PNG gone from gradio's cache: rendered again, not an error
    assert actions.refresh(None, "c0", "c1", 0.5, SAMPLING, **quiet) == (gr.skip(), gr.skip())  # none to redo
    assert actions.refresh(file, "c0", "c1", 0.5, SAMPLING, **quiet) != (gr.skip(), gr.skip())


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)")
def test_a_restored_interpolation_is_sampled_once_with_its_own_values(tiny_engine, browser):
    demo = build_ui(tiny_engine)
    studio = demo.studio
    _, made = InterpolateActions(studio).interpolate("c2", "c3", 0.3, Sampling.read(seed=3, cfg=3.0, iterations=2,
                                                                                    gumbel=1.0, steps=2))
    sampled, run = [], studio.run

    def recorded(task, *args, **kwargs):
        sampled.append(task)
        return run(task, *args, **kwargs)

    studio.run = recorded
    with served(demo) as url:
        page = open_page(browser, url)
        page.get_by_role("tab", name="PNG Info").click()
        page.locator("#pnginfo-image input[type=file]").set_input_files(made)
        page.get_by_text("Made by interpolate").wait_for(state="visible")
        page.locator("#pnginfo-restore").click()
        page.locator("#interp-file a").wait_for(state="attached")
        shown = page.locator("#interp-file a").get_attribute("href")
        page.locator("#interp-image img").wait_for(state="visible")
        page.evaluate("() => new Promise(done => setTimeout(done, 1000))")  # room for a second run, if one came
        page.close()
    assert [(t.class_a, t.class_b, t.ratios, t.seed) for t in sampled] == [("c2", "c3", (0.3,), 3)]
    assert shown.split("?")[0].endswith(".png")
