"""What the page asks of the model between requests (a picture's note: one encode and decode of it) runs on an
engine leased from the pool, like every request, and is never refused for its user's share."""
import contextlib

import numpy as np
import pytest

from bigr_app.app.edit_time import sample_photo
from bigr_app.app.ui.enrich import EnrichActions
from bigr_app.app.ui.masked import MaskedActions
from bigr_app.app.ui.picture import load_picture
from bigr_app.app.ui.studio import Studio


@pytest.fixture
def leases(tiny_engine, monkeypatch):
    """A studio whose pool records each engine it leases, and that list."""
    studio = Studio(tiny_engine, per_user=True, max_waiting_per_user=1)
    leased, lease = [], studio.pool.request

    @contextlib.contextmanager
    def recorded(who=None):
        with lease(who) as engine:
            leased.append(engine)
            yield engine

    monkeypatch.setattr(studio.pool, "request", recorded)
    return studio, leased


def test_each_note_runs_on_a_leased_engine_even_when_its_user_has_no_share_left(leases, tmp_path):
    studio, leased = leases
    sample_photo(900, 600).save(tmp_path / "photo.jpg")
    picture = load_picture(tmp_path / "photo.jpg", tmp_path / "session")
    painted = np.zeros(picture.working.size[::-1], bool)
    painted[100:160, 200:300] = True
    masked, enrich = MaskedActions(studio), EnrichActions(studio)
    with studio.shares.hold("alice"):  # alice's one request in progress: her share is full
        notes = [masked.preview(picture, None, None, "masked", 0, "crop", 0)[1],
                 masked.preview(picture, painted, None, "masked", 0, "crop", 0)[1],
                 enrich.frame_preview(str(tmp_path / "photo.jpg"), "crop")[1]]
    assert "900x600" in notes[0] and "Expected time of this edit" in notes[1] and "900x600" in notes[2]
    assert leased == [studio.pool.engines[0]] * 3 and studio.pool.requests == [0]
