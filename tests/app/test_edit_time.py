"""The expected time of a masked edit covers the picture's own work (reading it, pasting each result back, writing
the PNGs), which on a 12 MP photo is most of the wait: the estimate is within ±50% of the edit's real time."""
import time

import numpy as np
from PIL import Image

from bigr_app.app.edit_time import PictureCosts, sample_photo
from bigr_app.app.outputs import Outputs
from bigr_app.app.ui.mask_canvas import Painting
from bigr_app.app.ui.masked import MaskedActions
from bigr_app.app.ui.picture import load_picture
from bigr_app.app.ui.requests import MaskOptions, Sampling
from bigr_app.app.ui.studio import Studio
from bigr_app.app import edit_previews


def test_picture_costs_grow_with_the_picture_and_the_results():
    costs = PictureCosts.measure(side=300)
    assert 0 < costs.estimate(1_000_000, 1, 5e-8) < costs.estimate(12_000_000, 1, 5e-8) < costs.estimate(12_000_000, 4, 5e-8)


def test_a_12_mp_inpaint_takes_its_expected_time_within_half(tiny_engine, tmp_path):
    sample_photo(4000, 3000).save(tmp_path / "photo.jpg", quality=92)
    studio = Studio(tiny_engine, outputs=Outputs(tmp_path / "outputs"))
    actions = MaskedActions(studio)
    picture = load_picture(tmp_path / "photo.jpg", tmp_path / "session")
    painted = np.zeros(picture.working.size[::-1], bool)
    painted[300:420, 400:600] = True
    sampling = Sampling(seed=0, cfg=3.0, iterations=8, gumbel=1.0, steps=10, n=2)
    knobs = (sampling.n, sampling.cfg, sampling.iterations, sampling.steps)
    _, note = actions.preview(picture, painted, None, "masked", 0, "crop", 0, *knobs)
    assert "Expected time of this edit" in note and "4000x3000" in note
    cells = edit_previews.mask_preview_and_note(tiny_engine, picture.working, painted, region="masked", size=picture.size)[2]
    expected = sum(studio.expected.edit_seconds(cells, picture.size, picture.png_px, *knobs))
    picture.working.save(tmp_path / "working.png")
    canvas = Painting(str(tmp_path / "working.png"), picture.working.size, painted)  # the original is edited
    mask = MaskOptions(None, None, "feather", 4, "masked", 0, "crop", 0)
    progress = lambda *args, **kwargs: None  # noqa: E731
    measured = []
    for _ in range(2):  # the first edit of a process also pays for warming up
        start = time.perf_counter()
        views, files = actions.inpaint(canvas, picture, mask, sampling, progress=progress)
        measured.append(time.perf_counter() - start)
    assert len(files) == 2 and Image.open(files[0]).size == (4000, 3000)
    assert 0.5 * expected <= measured[-1] <= 1.5 * expected, (expected, measured)
