"""Sampling the binary transcoder: Bernoulli diffusion over each token's K bits, from fair coin flips to the
clean-bit probabilities, given the backbone's output for the token (and the unconditional one, for guidance).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from ..model.transcoder import DenoiseMLP, Transcoder, linear_bernoulli_schedule
from .fused_transcoder import bit_path_weights, modulation_weights, step_modulations, step_of
from .graphs import GraphCache, bucket_rows, pad_rows
from .noise import Noise, uniform


def sampling_timesteps(sample_steps: int, train_steps: int) -> list[int]:
    """The release's choice of `sample_steps` of the training steps, largest first, ending at 1."""
    steps = np.arange(1, train_steps + 1)
    if sample_steps != train_steps:
        steps = steps[(np.linspace(0.0, 1.0, sample_steps) * (train_steps - 1)).astype(int)]
    return [int(t) for t in steps[::-1]]


MIN_ROWS = 16  # the fewest rows a recorded transcoder runs: fewer recordings


class SamplingWeights(NamedTuple):
    modulation: tuple[torch.Tensor, torch.Tensor]  # fused_transcoder.modulation_weights()
    bit_path: list[tuple[torch.Tensor, torch.Tensor]]  # fused_transcoder.bit_path_weights()


@dataclass(frozen=True)
class Step:
    net_t: int  # timestep fed to the network (t - 1)
    k_prev: float
    b_prev: float
    k_jump: float  # q(z_t | z_prev) = k_jump z_prev + (1 - k_jump) / 2
    last: bool

    @property
    def jump_log_odds(self) -> float:
        """log q(z_t = z | z_prev = z) / q(z_t = z | z_prev = 1 - z): what seeing z_t adds to the log-odds of z_prev."""
        return math.log((1 + self.k_jump) / (1 - self.k_jump))


@functools.lru_cache(maxsize=64)
def sampling_plan(sample_steps: int, train_steps: int) -> tuple[Step, ...]:
    """Per sampling step: the network timestep and the posterior's coefficients (computed once, on the
    host, so the sampling loop never reads tables back from the device)."""
    tables = linear_bernoulli_schedule(train_steps)
    beta, k_final, b_final = tables["beta"].double(), tables["k_final"], tables["b_final"]
    ts = sampling_timesteps(sample_steps, train_steps)
    plan = []
    for i, t in enumerate(ts):
        if t == 1 or i == len(ts) - 1:
            plan.append(Step(t - 1, 1.0, 0.0, 1.0, True))
            break
        t_prev = ts[i + 1]
        k_jump = float(torch.prod(beta[t_prev + 1 : t + 1]))
        plan.append(Step(t - 1, float(k_final[t_prev]), float(b_final[t_prev]), k_jump, False))
    return tuple(plan)


@torch.no_grad()
def sample_bits(
    transcoder: Transcoder,
    cond: torch.Tensor,
    uncond: torch.Tensor | None = None,
    cfg_scale: float = 1.0,
    steps: int = 100,
    temperature: float = 1.0,
    noise: Noise = None,
    graphs: GraphCache | None = None,
) -> torch.Tensor:
    """Bit probabilities [M, K] for M tokens with backbone outputs cond (and uncond) [M, D].

    The random draws happen here; `denoise` is the deterministic rest. With `graphs`, the rows are
    padded to a bucket size of at least MIN_ROWS and the whole diffusion loop replays as one recorded
    graph. BLAS rounds a row differently at some row counts, so padded probabilities can differ from
    plain ones in their last bits; the bits drawn from them are the same (tested). Eager rows are not
    padded: on a CPU, GEMMs padded to 16 rows made a small edit (a few tokens) a fifth slower.
    """
    m, device = cond.shape[0], cond.device
    net = transcoder.net
    guided = uncond is not None
    cond_h = net.cond_proj(torch.cat([cond, uncond]) if guided else cond)
    plan = sampling_plan(steps, transcoder.train_steps)
    t_embs = net.time_embed(torch.tensor([s.net_t for s in plan]).to(device, non_blocking=True))  # no wait on a GPU
    spins = torch.where(uniform((m, transcoder.bits), device, noise) < 0.5, 1.0, -1.0)
    draws = logistic_noise((len(plan) - 1, m, transcoder.bits), device, noise)  # all steps' draws at once
    dtype = cond_h.dtype

    def make_denoise():  # with the weights cast for it: once per call eagerly, once per recording with graphs
        weights = sampling_weights(net, dtype, temperature)
        return functools.partial(denoise, net, plan=plan, cfg_scale=cfg_scale, weights=weights)

    if graphs is None:
        return make_denoise()(cond_h, t_embs, spins, draws)
    rows = bucket_rows(max(m, MIN_ROWS))
    cond_h = pad_rows(cond_h.unflatten(0, (-1, m)), rows, dim=1).flatten(0, 1)
    spins, draws = pad_rows(spins, rows), pad_rows(draws, rows, dim=1)
    key = ("transcoder", steps, float(cfg_scale), float(temperature))
    return graphs(key, make_denoise, cond_h, t_embs, spins, draws)[:m]


def sampling_weights(net: DenoiseMLP, dtype: torch.dtype, temperature: float) -> SamplingWeights:
    """The weights `denoise` uses, cast to the compute dtype once per call (autocast would cast them
    again at every diffusion step); the output layer is negated and divided by the temperature."""
    fused = tuple(w.to(dtype) for w in modulation_weights(net))
    return SamplingWeights(fused, bit_path_weights(net, dtype, out_scale=-1.0 / temperature))

def denoise(net: DenoiseMLP, cond_h: torch.Tensor, t_embs: torch.Tensor, spins: torch.Tensor, noise: torch.Tensor, *,
            plan: tuple[Step, ...], cfg_scale: float, weights: SamplingWeights) -> torch.Tensor:
    """The diffusion loop from coin-flip spins to P(z_0 = 1) [M, K], given the projected conditions cond_h
    ([M, H], or [2M, H] conditional then unconditional for guidance) and all steps' logistic noise.

    Few kernels per step, because at batch 1 their count, not the arithmetic, sets the time: the bits
    are carried as spins s = 2 z - 1, the output layer comes negated and divided by the temperature
    (guidance is linear, so it commutes), which makes P(z_0 = 1) = sigmoid(s * out), and the next bits
    are drawn by comparing logistic noise with the posterior's log-odds. Every operation acts row by
    row, so padding rows changes nothing in the others; nothing here reads from the host.
    """
    m = spins.shape[0]
    guided = cond_h.shape[0] == 2 * m
    mods_per_step = step_modulations(net, cond_h, t_embs, weights.modulation)
    step_fn = step_of(net)
    for i, (step, mods) in enumerate(zip(plan, mods_per_step)):
        if guided:
            out = step_fn(net, spins, mods.unflatten(0, (2, m)), weights.bit_path, cfg_scale)
        else:
            out = step_fn(net, spins, mods, weights.bit_path)
        p0 = torch.sigmoid(out * spins)  # P(z_0 = 1), in fp32 (the spins are)
        if step.last:
            break
        spins = draw_previous(p0, spins, step, noise[i])
    return p0

def draw_previous(p0: torch.Tensor, spins: torch.Tensor, step: Step, noise: torch.Tensor) -> torch.Tensor:
    """z_prev ~ q(z_prev | z_t, P(z_0 = 1) = p0) as spins. Its log-odds are those of the prior
    q(z_prev = 1 | p0) = k_prev p0 + b_prev plus the evidence of z_t; z_prev = 1 where they exceed
    the logistic `noise`."""
    log_odds = torch.logit(p0 * step.k_prev + step.b_prev).add_(spins, alpha=step.jump_log_odds)
    return torch.where(noise < log_odds, 1.0, -1.0)


def logistic_noise(shape: tuple[int, ...], device: torch.device, noise: Noise) -> torch.Tensor:
    """Standard logistic draws: x < log-odds(p) happens with probability p. The token rows are dim 1."""
    return torch.logit(uniform(shape, device, noise, dim=1))
