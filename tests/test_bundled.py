import pytest

from bigr_app import Engine
from bigr_app.engine import DEFAULT_WEIGHTS

pytestmark = pytest.mark.skipif(not (DEFAULT_WEIGHTS / "config.json").is_file(), reason="no bundled model")


def test_bundled_model_loads_by_default_and_generates():
    eng = Engine.from_pretrained()
    assert eng.resolution == 64 and eng.num_classes == 12 and "smiley" in eng.class_names
    assert eng.defaults.iterations == 10 and eng.defaults.diffusion_steps == 25
    images = eng.generate("flag", num_samples=2, seed=0)
    assert [im.size for im in images] == [(64, 64), (64, 64)]
