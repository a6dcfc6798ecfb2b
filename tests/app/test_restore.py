"""Restoring a picture's parameters into its tab: the controls are named as the task's request names its fields,
and PNGs written by the previous version (tests/fixtures/pngs_v1) restore the same values as they did then."""
import json
from pathlib import Path
from types import SimpleNamespace

from bigr_app.app.saving import picture_params, save_png
from bigr_app.app.ui.pnginfo import PngInfoActions
from bigr_app.tasks import OutpaintRequest, Sampling

V1 = Path(__file__).parents[1] / "fixtures" / "pngs_v1"
RENAMED = {"blend": "blend_mode", "radius": "feather_radius", "samples": "num_samples"}  # the page's old names


def test_pngs_of_the_previous_version_restore_what_they_did(tiny_engine):
    actions = PngInfoActions(SimpleNamespace(engine=tiny_engine))
    then = json.loads((V1 / "restored.json").read_text())  # what that version's restore set, made with it
    for name, before in then.items():
        tab, values, _ = actions.restored(str(V1 / f"{name}.png"))
        assert tab == before["tab"], name
        for key, value in before["values"].items():
            assert values[RENAMED.get(key, key)] == value, (name, key)
        assert values.get("picture") == (None if tab in ("generate", "interpolate") else str(V1 / f"{name}.png"))


def test_a_new_picture_restores_its_own_request(tiny_engine, tmp_path):
    request = OutpaintRequest(picture=None, expand=(8, 0, 24, 16), class_id="c2", num_samples=3, seed=20,
                              sampling=Sampling(iterations=3, diffusion_steps=2, cfg_scale=1.5))
    path = save_png(tiny_engine.generate(None, seed=1, iterations=2, diffusion_steps=2)[0], tmp_path / "x.png",
                    picture_params(request.to_params(), 2))
    tab, values, notes = PngInfoActions(SimpleNamespace(engine=tiny_engine)).restored(str(path))
    assert tab == "outpaint" and values["mode"] == "expand the canvas" and not notes
    assert (values["side_left"], values["side_top"], values["side_right"], values["side_bottom"]) == (8, 0, 24, 16)
    assert (values["seed"], values["num_samples"], values["class_id"]) == (22, 1, "c2")  # the third picture's own
    assert (values["iterations"], values["cfg_scale"]) == (3, 1.5)
