"""A lower strength changes the picture less: on a photograph with the bundled model, only the resampled cells
are pasted back, so the kept cells' pixels stay the original's."""
import numpy as np
import pytest
from PIL import Image

from bigr_app.app.server_process import ROOT
from bigr_app.edits import strength_cells
from bigr_app.edits.masks import cells_to_pixels
from bigr_app.edits.regions import prepare_region
from bigr_app.engine import Engine

PHOTO = ROOT / "assets" / "photos" / "sunset.jpg"


@pytest.fixture(scope="module")
def photo_edit():
    engine = Engine.from_pretrained(None, device="cpu")
    picture = Image.open(PHOTO).convert("RGB")
    mask = np.zeros((picture.height, picture.width), bool)
    mask[250:600, 350:900] = True
    original = np.asarray(picture).astype(np.int16)
    results = {s: engine.inpaint(picture, mask, strength=s, num_samples=2, seed=3) for s in (0.3, 1.0)}
    return engine, picture, mask, original, results


def test_a_lower_strength_changes_the_photo_less(photo_edit):
    _, _, mask, original, results = photo_edit

    def mean_change(strength):
        return np.mean([np.abs(np.asarray(r).astype(np.int16) - original)[mask].mean() for r in results[strength]])

    assert mean_change(0.3) <= 0.5 * mean_change(1.0)
    assert mean_change(0.3) > 0


def test_kept_cells_keep_the_originals_pixels(photo_edit):
    engine, picture, mask, original, results = photo_edit
    prepared = prepare_region(engine, picture, mask, "crop", 0.0, 0, "auto", None)
    resampled = strength_cells(engine, prepared.cells, 0.3, 3, 2)
    for result, cells in zip(results[0.3], resampled):
        touched = np.zeros(mask.shape, bool)
        x0, y0, x1, y1 = prepared.box or (0, 0, picture.width, picture.height)
        touched[y0:y1, x0:x1] = cells_to_pixels(cells, prepared.place)
        changed = (np.asarray(result).astype(np.int16) != original).any(-1)
        assert not (changed & ~touched).any()
        assert changed[touched & mask].mean() > 0.5
