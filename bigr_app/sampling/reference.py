"""The published sampling algorithm written the straightforward way, as the release does it:
guidance as separate conditional and unconditional calls, the transcoder on every token of the
grid at every diffusion step, a timestep embedding per token, each adaLN block on its own.

Only the speed benchmark and the distribution test use this; every task runs `masked_decoding`.
"""
from __future__ import annotations

import math

import torch

from ..model.bigr import BiGR
from ..model.transcoder import Transcoder
from .bernoulli import sampling_plan
from .masked_decoding import gumbel_noise
from .noise import Noise, SampleStreams
from .params import SamplingParams, scheduled, still_masked
from .timing import PhaseTimer


def denoise_logits(transcoder: Transcoder, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
    net = transcoder.net
    c = net.time_embed(t) + net.cond_proj(cond)
    x = net.in_proj((x_t - 0.5) * 2.0)
    for blk in net.blocks:
        x = blk(x, blk.modulation(c))
    return net.final(x, net.final.modulation(c))


def posterior(p0: torch.Tensor, x_t: torch.Tensor, step) -> torch.Tensor:
    """P(z_prev = 1 | z_t, P(z_0 = 1) = p0) for the Bernoulli forward process."""
    noise = 0.5 * (1 - step.k_jump)
    like1 = (step.k_prev * p0 + step.b_prev) * (step.k_jump * x_t + noise)
    like0 = (step.k_prev * (1 - p0) + step.b_prev) * (step.k_jump * (1 - x_t) + noise)
    return like1 / (like1 + like0)


def reference_transcoder_sample(transcoder: Transcoder, cond, uncond, cfg_scale, steps, temperature, generator):
    m = cond.shape[0]
    x_t = torch.bernoulli(torch.full((m, transcoder.bits), 0.5, device=cond.device), generator=generator)
    p0 = x_t
    for step in sampling_plan(steps, transcoder.train_steps):
        t = torch.full((m,), step.net_t, device=cond.device, dtype=torch.long)
        logit_c = denoise_logits(transcoder, x_t, t, cond).float() / temperature
        if uncond is not None:
            logit_u = denoise_logits(transcoder, x_t, t, uncond).float() / temperature
            logit_c = logit_u + cfg_scale * (logit_c - logit_u)
        flip = torch.sigmoid(logit_c)
        p0 = x_t * (1 - flip) + (1 - x_t) * flip
        if step.last:
            break
        x_t = torch.bernoulli(posterior(p0, x_t, step), generator=generator)
    return p0


@torch.inference_mode()
def reference_decode(
    model: BiGR, tokens: torch.Tensor, cells: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor | None,
    params: SamplingParams, noise: Noise = None, progress=None, timer: PhaseTimer | None = None,
    return_order: bool = False, graphs=None, exact: bool = True,
):
    """Same contract as `masked_decoding.masked_decode` (`graphs` is ignored), computed the slow, literal way, drawing from one stream
    for the whole batch (per-sample streams give it their first sample's)."""
    generator = noise.generators[0] if isinstance(noise, SampleStreams) else noise
    params = params.validated(model.cfg.train_diffusion_steps)
    b, n, k = tokens.shape
    tokens = torch.where(cells[..., None], torch.zeros_like(tokens), tokens).float()
    unknown = cells.clone()
    total = int(unknown[0].sum())  # the release assumes the same count in every row
    schedule = params.mask_schedule
    if schedule == "auto":
        schedule = "cosine" if bool(unknown.all()) else "linear"
    decided_at = torch.full((b, n), -1, dtype=torch.long, device=tokens.device)
    timer = timer or PhaseTimer()
    for it in range(params.iterations):
        ratio = (it + 1) / params.iterations
        n_fix = int(unknown[0].sum()) - still_masked(total, ratio, schedule)
        cfg = scheduled(params.cfg_scale, ratio, params.cfg_schedule)
        if progress is not None:
            progress(it + 1, params.iterations)
        h_cond = timer.measure("backbone", model.backbone, tokens, unknown, cond).reshape(b * n, -1)
        h_uncond = (timer.measure("backbone", model.backbone, tokens, unknown, uncond).reshape(b * n, -1)
                    if uncond is not None else None)
        p = timer.measure("transcoder", reference_transcoder_sample, model.transcoder, h_cond, h_uncond, cfg,
                          params.diffusion_steps, params.temperature, generator).reshape(b, n, k)
        confidence = (p - 0.5).abs().mul(2).mean(-1)
        confidence = torch.where(unknown, confidence, torch.full_like(confidence, -math.inf))
        gumbel = scheduled(params.gumbel, ratio, params.gumbel_schedule)
        confidence = confidence + gumbel * gumbel_noise(confidence.shape, confidence.device, generator)
        if n_fix <= 0:
            continue
        picked = confidence.topk(n_fix, dim=1).indices
        fix = torch.zeros_like(unknown).scatter_(1, picked, True) & unknown
        sampled = torch.bernoulli(p, generator=generator)
        tokens = torch.where(fix[..., None], sampled, tokens)
        unknown &= ~fix
        decided_at[fix] = it
    return (tokens, decided_at) if return_order else tokens
