"""Pictures that form as they sample: the page's stream shows intermediate states, then exactly the picture that the
same request makes without previews."""
import gradio as gr
import numpy as np
import pytest
import torch

from bigr_app import Engine
from bigr_app.app.ui.previews import MASK_GREY, Previews
from bigr_app.app.ui.studio import Studio
from bigr_app.engine import DEFAULT_WEIGHTS
from bigr_app.tasks import GenerateRequest, Sampling
from PIL import Image


@pytest.fixture(scope="module")
def bundled():
    if not (DEFAULT_WEIGHTS / "config.json").is_file():
        pytest.skip("the bundled model is not here")
    return Engine.from_pretrained(precision="fp32")


def quietly(*args, **kwargs):
    pass


def test_the_stream_shows_pictures_forming_then_the_picture_made_without_previews(bundled):
    studio = Studio(bundled)

    def make():
        return studio.run(GenerateRequest(class_id=1, num_samples=2, seed=3, sampling=Sampling(iterations=10)), None,
                          quietly)

    *shown, (_, made) = list(studio.streaming(make)())
    forming = [update for update in shown if isinstance(update[0], list)]  # the others: heartbeats, no change
    assert len(forming) >= 2, len(forming)  # pictures forming on a 10-iteration run
    for shown, _ in forming:
        assert len(shown) == 2 and all(caption == "forming…" for _, caption in shown)
    first = np.asarray(forming[0][0][0][0])
    assert (first == MASK_GREY).all(-1).mean() > 0.3  # early on, most of the picture is still mask
    alone = bundled.generate(1, num_samples=2, seed=3, iterations=10)
    assert all(np.array_equal(np.asarray(Image.open(a).convert("RGB")), np.asarray(b))
               for a, b in zip(made, alone, strict=True))


def test_previews_are_throttled_to_their_share_of_the_time(tiny_engine):
    previews = Previews(share=0.1)
    previews.engine = tiny_engine
    tokens = torch.zeros(1, tiny_engine.grid**2, tiny_engine.bits)
    unknown = torch.ones(1, tiny_engine.grid**2, dtype=torch.bool)
    previews.preview(tokens, unknown)
    assert previews.pictures() is not None and previews.pictures() is None  # nothing new: nothing made
    previews.preview(tokens, unknown)
    assert previews.pictures() is None  # new, but too soon after the last
    assert previews.next_at > 0 and previews.shown == 1


def test_a_page_without_previews_shows_no_pictures_forming(tiny_engine):
    """It still streams (a request its user can stop is a generator that gradio can close), changing nothing
    until the result."""
    studio = Studio(tiny_engine, previews=False)

    def make():
        return "done"

    *beats, final = list(studio.streaming(make)())
    assert final == "done" and beats and all(beat == (gr.skip(), gr.skip()) for beat in beats)
