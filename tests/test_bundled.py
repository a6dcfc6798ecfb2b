import pytest

from bigr_app import Engine
from bigr_app.data import emoji
from bigr_app.engine import DEFAULT_WEIGHTS

pytestmark = pytest.mark.skipif(not (DEFAULT_WEIGHTS / "config.json").is_file(), reason="no bundled model")


def test_bundled_model_loads_by_default_and_generates():
    eng = Engine.from_pretrained()
    assert eng.resolution == 64 and eng.class_names == emoji.CLASSES  # the classes bigr_app.data.emoji builds
    assert eng.defaults.iterations == 10 and eng.defaults.diffusion_steps == 25
    images = eng.generate("flags", num_samples=2, seed=0)
    assert [im.size for im in images] == [(64, 64), (64, 64)]
