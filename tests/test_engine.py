import numpy as np
import pytest
import torch
from PIL import Image

from bigr_app import InputError, SamplingError
from bigr_app.sampling.params import SamplingParams
from bigr_app.sampling.masked_decoding import masked_decode

from .conftest import FAST


def test_encode_decode_shapes(tiny_engine):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (50, 70, 3), dtype=np.uint8))
    bits = tiny_engine.encode([img, img])
    assert bits.shape == (2, 16, 16, 8) and bits.dtype == torch.bool
    out = tiny_engine.decode(bits)
    assert len(out) == 2 and out[0].size == (32, 32) and out[0].mode == "RGB"


def test_encode_is_deterministic(tiny_engine):
    img = Image.new("RGB", (32, 32), (200, 30, 90))
    assert torch.equal(tiny_engine.encode(img), tiny_engine.encode(img))


def test_generate_counts_and_sizes(tiny_engine):
    imgs = tiny_engine.generate([0, "c3", None], num_samples=2, seed=0, **FAST)
    assert len(imgs) == 6 and all(i.size == (32, 32) for i in imgs)


def test_same_seed_same_image_different_seed_different(tiny_engine):
    a = tiny_engine.generate(1, seed=7, **FAST)[0]
    b = tiny_engine.generate(1, seed=7, **FAST)[0]
    c = tiny_engine.generate(1, seed=8, **FAST)[0]
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


@pytest.mark.parametrize("iterations", [1, 3, 10, 257])
def test_every_token_decided_and_known_tokens_kept(tiny_models, iterations):
    _, model = tiny_models
    g = torch.Generator().manual_seed(0)
    tokens = torch.bernoulli(torch.full((3, 256, 8), 0.5), generator=g)
    to_generate = torch.rand(3, 256, generator=g) < 0.4
    to_generate[2] = True  # one sample generated from scratch
    cond = model.backbone.class_condition(torch.tensor([0, 1, 2]))
    out, order = masked_decode(
        model, tokens, to_generate, cond, model.backbone.null_condition(3),
        SamplingParams(iterations=iterations, diffusion_steps=2), g, return_order=True,
    )
    assert torch.equal(out[~to_generate], tokens[~to_generate])
    assert ((out == 0) | (out == 1)).all()
    assert (order[to_generate] >= 0).all() and (order[to_generate] < iterations).all()
    assert (order[~to_generate] == -1).all()


def test_cosine_schedule_decides_few_tokens_first(tiny_models):
    _, model = tiny_models
    tokens = torch.zeros(1, 256, 8)
    everything = torch.ones(1, 256, dtype=torch.bool)
    cond = model.backbone.class_condition(torch.tensor([0]))
    _, order = masked_decode(model, tokens, everything, cond, None, SamplingParams(iterations=4, diffusion_steps=2),
                             torch.Generator().manual_seed(0), return_order=True)
    counts = torch.bincount(order[0], minlength=4).tolist()
    stay = [int(np.floor(np.cos(np.pi / 2 * (i + 1) / 4) * 256)) for i in range(4)]  # 236, 181, 97, 0
    assert counts == [256 - stay[0], stay[0] - stay[1], stay[1] - stay[2], stay[2] - stay[3]]


def test_each_row_decides_its_own_share_of_tokens_every_iteration(tiny_models):
    _, model = tiny_models
    to_generate = torch.zeros(3, 256, dtype=torch.bool)
    for row, count in enumerate((256, 100, 7)):
        to_generate[row, torch.randperm(256, generator=torch.Generator().manual_seed(row))[:count]] = True
    cond = model.backbone.class_condition(torch.tensor([0, 1, 2]))
    _, order = masked_decode(model, torch.zeros(3, 256, 8), to_generate, cond, None,
                             SamplingParams(iterations=5, diffusion_steps=2), torch.Generator().manual_seed(0),
                             return_order=True)
    for row, count in enumerate((256, 100, 7)):
        if count == 256:  # generated from scratch: cosine, as alone
            left = [int(np.floor(np.cos(np.pi / 2 * (i + 1) / 5) * 256 + 1e-9)) for i in range(5)]
        else:  # tokens given: linear, floor(count * (1 - r))
            left = [count * (4 - i) // 5 for i in range(5)]
        expected = [count - left[0]] + [a - b for a, b in zip(left, left[1:])]
        assert torch.bincount(order[row][order[row] >= 0], minlength=5).tolist() == expected


def test_progress_is_reported(tiny_engine):
    seen = []
    tiny_engine.generate(0, seed=0, progress=lambda i, n: seen.append((i, n)), **FAST)
    assert seen == [(i, 4) for i in range(1, 5)]


@pytest.mark.parametrize("bad", [dict(iterations=0), dict(cfg_scale=float("nan")), dict(diffusion_steps=300),
                                 dict(gumbel=-1), dict(cfg_schedule="wobbly"), dict(temperature=0)])
def test_bad_sampling_parameters_are_refused(tiny_engine, bad):
    with pytest.raises(SamplingError):
        tiny_engine.generate(0, **bad)


@pytest.mark.parametrize("cls", [5, -1, "no such class", 2.5, True])
def test_unknown_class_is_refused(tiny_engine, cls):
    with pytest.raises(InputError):
        tiny_engine.generate(cls, **FAST)


def test_guidance_changes_the_output(tiny_engine):
    a = tiny_engine.generate(0, seed=3, cfg_scale=1.0, **FAST)[0]
    b = tiny_engine.generate(0, seed=3, cfg_scale=6.0, **FAST)[0]
    assert not np.array_equal(np.asarray(a), np.asarray(b))


def test_gumbel_noise_is_standard_gumbel():
    from bigr_app.sampling.masked_decoding import gumbel_noise

    g = gumbel_noise((200_000,), "cpu", torch.Generator().manual_seed(0))
    assert torch.isfinite(g).all()
    assert abs(float(g.mean()) - 0.5772) < 0.02 and abs(float(g.std()) - 1.2825) < 0.02


def test_ties_in_confidence_are_broken_at_random():
    from bigr_app.sampling.masked_decoding import confidence_rank

    conf = torch.ones(2000, 16)  # every position equally confident
    first = confidence_rank(conf, torch.Generator().manual_seed(0)).argmin(dim=1)
    counts = torch.bincount(first, minlength=16).float()
    assert counts.min() > 0.5 * counts.mean()  # not always the top-left token
