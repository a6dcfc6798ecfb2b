"""The fast sampler draws from the same distribution as the published algorithm."""
import numpy as np
import torch

from bigr_app.sampling.reference import reference_decode
from bigr_app.sampling.params import SamplingParams
from bigr_app.sampling.masked_decoding import masked_decode

B = 96


def draw(decode, model, params, seed, to_generate=None):
    g = torch.Generator().manual_seed(seed)
    tokens = torch.zeros(B, 256, 8)
    to_generate = torch.ones(B, 256, dtype=torch.bool) if to_generate is None else to_generate
    cond = model.backbone.class_condition(torch.full((B,), 1))
    bits, order = decode(model, tokens, to_generate, cond, model.backbone.null_condition(B), params, g,
                         return_order=True)
    return bits.numpy(), order.numpy().astype(float)


def statistics(bits, order):
    return bits.mean(axis=(0, 1)), bits.mean(axis=(0, 2)), order.mean(axis=0)


def distance(a, b):
    (bit_a, pos_a, ord_a), (bit_b, pos_b, ord_b) = statistics(*a), statistics(*b)
    return (np.abs(bit_a - bit_b).max(), np.abs(pos_a - pos_b).mean(), np.corrcoef(ord_a, ord_b)[0, 1])


def test_fast_and_reference_paths_agree_in_distribution(tiny_models):
    _, model = tiny_models
    params = SamplingParams(cfg_scale=3.0, iterations=4, diffusion_steps=8, gumbel=0.01)
    fast = draw(masked_decode, model, params, seed=0)
    ref = draw(reference_decode, model, params, seed=1)
    other_seed = draw(masked_decode, model, params, seed=2)
    bit_gap, pos_gap, order_corr = distance(fast, ref)
    seed_bit_gap, seed_pos_gap, seed_corr = distance(fast, other_seed)  # pure sampling noise
    assert bit_gap < 0.03 and pos_gap < 1.5 * seed_pos_gap + 0.01 and order_corr > 0.8 * seed_corr
    # the comparison can tell a different distribution apart: no guidance
    unguided = draw(masked_decode, model, SamplingParams(cfg_scale=1.0, iterations=4, diffusion_steps=8, gumbel=0.01), 3)
    bad_bit_gap, bad_pos_gap, _ = distance(fast, unguided)
    assert bad_bit_gap > 0.03 or bad_pos_gap > 1.5 * seed_pos_gap + 0.01


def test_known_tokens_are_kept_by_both_paths(tiny_models):
    _, model = tiny_models
    params = SamplingParams(iterations=3, diffusion_steps=4)
    todo = torch.zeros(B, 256, dtype=torch.bool)
    todo[:, :100] = True
    for decode in (masked_decode, reference_decode):
        bits, order = draw(decode, model, params, 0, todo)
        assert (order[:, 100:] == -1).all() and (bits[:, 100:] == 0).all() and (order[:, :100] >= 0).all()


def test_bf16_fast_path_matches_the_fp32_reference_in_distribution(tiny_models):
    """The CPU/GPU default precision: bf16 autocast must not change what is sampled."""
    _, model = tiny_models
    params = SamplingParams(cfg_scale=3.0, iterations=4, diffusion_steps=8, gumbel=0.01)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast_bf16 = draw(masked_decode, model, params, seed=0)
    ref = draw(reference_decode, model, params, seed=1)
    other_seed = draw(reference_decode, model, params, seed=2)
    bit_gap, pos_gap, order_corr = distance(fast_bf16, ref)
    _, seed_pos_gap, seed_corr = distance(ref, other_seed)
    assert bit_gap < 0.03 and pos_gap < 1.5 * seed_pos_gap + 0.01 and order_corr > 0.8 * seed_corr
