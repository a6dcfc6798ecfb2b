"""Reproducible samples: sample i of a batch made with seed s is the picture that seed s + i makes alone."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from bigr_app.errors import InputError
from bigr_app.sampling.noise import SampleStreams, sample_seeds
from bigr_app.app.saving import picture_params, read_params, save_png

from ..conftest import FAST


def photo(w=80, h=50, seed=0):
    return Image.fromarray((np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8))


def same(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and np.array_equal(np.asarray(a), np.asarray(b))


def test_streams_draw_per_sample_what_each_draws_alone():
    streams = SampleStreams.from_seeds([3, 4, 5], "cpu").rows([2, 0, 4])
    both = streams.uniform((7, 6, 5), dim=1)  # e.g. [steps, rows, bits]
    alone = [torch.rand((7, c, 5), generator=torch.Generator().manual_seed(s)) for s, c in ((3, 2), (4, 0), (5, 4))]
    assert torch.equal(both, torch.cat(alone, 1))
    with pytest.raises(ValueError, match="cover 6 slices"):
        streams.uniform((5, 5))


def test_later_steps_get_streams_of_their_own():
    first, later = sample_seeds(10, 3), sample_seeds(10, 3, step=1)
    assert first == [10, 11, 12]
    assert len(set(first + later)) == 6
    assert sample_seeds(11, 2, step=1) == later[1:]  # a sample's stream depends on its own seed only
    assert all(0 <= s < 2**63 for s in later)


@pytest.mark.parametrize("task", ["generate", "inpaint", "vary", "expand", "outpaint"])
def test_any_sample_of_a_batch_is_reproduced_alone(tiny_engine, task):
    img, mask = photo(), np.zeros((50, 80), bool)
    mask[10:30, 20:50] = True
    run = {
        "generate": lambda n, s: tiny_engine.generate(1, num_samples=n, seed=s, **FAST),
        "inpaint": lambda n, s: tiny_engine.inpaint(img, mask, num_samples=n, seed=s, **FAST),
        "vary": lambda n, s: tiny_engine.vary(img, 0.4, num_samples=n, seed=s, **FAST),
        "expand": lambda n, s: tiny_engine.outpaint(img, expand=(40, 0, 40, 8), num_samples=n, seed=s, **FAST),
        "outpaint": lambda n, s: tiny_engine.outpaint(img, mask=mask, num_samples=n, seed=s, **FAST),
    }[task]
    batch = run(3, 7)
    assert not same(batch[0], batch[1])
    for i in (1, 2):
        assert same(run(1, 7 + i)[0], batch[i])


def test_unset_seed_is_drawn_and_recorded(tiny_engine):
    img, mask = photo(), np.ones((50, 80), bool)
    result = tiny_engine.inpaint(img, mask, seed=None, **FAST)
    seed = result.params["seed"]
    assert isinstance(seed, int)
    assert same(tiny_engine.inpaint(img, mask, seed=seed, **FAST)[0], result[0])
    with pytest.raises(InputError, match="seed"):
        tiny_engine.inpaint(img, mask, seed=-1, **FAST)


def test_png_records_each_pictures_own_seed(tiny_engine, tmp_path):
    params = dict(task="generate", class_id=1, num_samples=4, seed=7)
    path = save_png(photo(), tmp_path / "a.png", picture_params(params, 2))
    stored = read_params(path)
    assert (stored["seed"], stored["batch_seed"], stored["index"]) == (9, 7, 2)
    assert json.loads(path.with_suffix(".json").read_text()) == stored
    ratios = picture_params(dict(task="interpolate", seed=3, ratios=[0.0, 0.5, 1.0]), 1)
    assert (ratios["seed"], ratios["ratio"]) == (3, 0.5)
