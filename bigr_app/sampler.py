"""The one masked-decoding loop that every task (generation, inpainting, editing, interpolation,
enrichment, variations) runs.

Start from known tokens and a mask of tokens to generate. Each iteration: the backbone sees the
grid with the still-unknown tokens replaced by the mask token; the transcoder turns the outputs
at unknown positions into bit probabilities; the most confident positions (mean |p - 0.5| * 2,
plus Gumbel noise) are fixed by sampling their bits; the schedule says how many stay unknown.
"""
from __future__ import annotations

import functools
import math
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable

import torch

from .errors import SamplingError
from .graphs import replayed
from .model import BiGR
from .noise import Noise, SampleStreams, uniform

MASK_SCHEDULES = ("auto", "cosine", "linear")
VALUE_SCHEDULES = ("constant", "linear", "down", "up")



@dataclass(frozen=True)
class SamplingParams:
    cfg_scale: float = 3.0
    cfg_schedule: str = "constant"  # constant | linear (1 -> cfg_scale)
    iterations: int = 20
    gumbel: float = 0.01
    gumbel_schedule: str = "constant"  # constant | down | up
    diffusion_steps: int = 100
    temperature: float = 1.0
    mask_schedule: str = "auto"  # auto: cosine for generation from scratch, linear when tokens are given

    def validated(self, train_steps: int = 256) -> "SamplingParams":
        checks = {
            "cfg_scale": (self.cfg_scale, 0.0, 50.0),
            "iterations": (self.iterations, 1, 1024),
            "gumbel": (self.gumbel, 0.0, 100.0),
            "diffusion_steps": (self.diffusion_steps, 1, train_steps),
            "temperature": (self.temperature, 1e-3, 100.0),
        }
        for name, (value, lo, hi) in checks.items():
            if not isinstance(value, (int, float)) or not math.isfinite(value) or not lo <= value <= hi:
                raise SamplingError(f"{name} must be a number in [{lo}, {hi}], got {value!r}")
        if self.cfg_schedule not in ("constant", "linear"):
            raise SamplingError(f"cfg_schedule must be 'constant' or 'linear', got {self.cfg_schedule!r}")
        if self.gumbel_schedule not in ("constant", "down", "up"):
            raise SamplingError(f"gumbel_schedule must be 'constant', 'down' or 'up', got {self.gumbel_schedule!r}")
        if self.mask_schedule not in MASK_SCHEDULES:
            raise SamplingError(f"mask_schedule must be one of {MASK_SCHEDULES}, got {self.mask_schedule!r}")
        return replace(self, iterations=int(self.iterations), diffusion_steps=int(self.diffusion_steps))

    def to_dict(self) -> dict:
        return asdict(self)


def share_still_masked(ratio: float, schedule: str) -> float:
    """Fraction of the tokens to generate that stay masked after an iteration at `ratio` in (0, 1]."""
    return math.cos(math.pi / 2 * ratio) if schedule == "cosine" else 1.0 - ratio


def still_masked(total, ratio: float, schedule: str):
    """How many of `total` tokens (int or LongTensor) stay masked after the iteration at `ratio`.

    Computed in float64 with a tolerance, so 1 - 0.8 = 0.19999... does not lose a token to rounding.
    """
    share = share_still_masked(ratio, schedule)
    if isinstance(total, torch.Tensor):
        return torch.floor(total.double() * share + 1e-9).long()
    return math.floor(total * share + 1e-9)


def scheduled(value: float, ratio: float, schedule: str) -> float:
    if schedule == "linear":  # guidance ramps from 1 to value
        return 1.0 + (value - 1.0) * ratio
    if schedule == "down":
        return value * (1.0 - ratio)
    if schedule == "up":
        return value * ratio
    return value


def gumbel_noise(shape, device, noise: Noise) -> torch.Tensor:
    u = uniform(shape, device, noise).clamp_(1e-20, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def confidence_rank(confidence: torch.Tensor, noise: Noise) -> torch.Tensor:
    """Rank of each position by confidence (0 = most confident) per row, ties broken at random.

    Saturated probabilities make exact ties common; breaking them by position would always
    decide the top-left tokens first.
    """
    shuffle = uniform(confidence.shape, confidence.device, noise).argsort(dim=1)
    order = confidence.gather(1, shuffle).argsort(dim=1, descending=True, stable=True)
    return shuffle.gather(1, order).argsort(dim=1)


def synchronize(device: torch.device | None) -> None:
    """Wait for queued GPU work, so a wall-clock reading covers it (no-op elsewhere)."""
    if device is not None and device.type == "cuda":
        torch.cuda.synchronize(device)


class PhaseTimer:
    """Wall time spent in the backbone and in the transcoder (waiting for the GPU when `device` is one)."""

    def __init__(self, device: torch.device | None = None):
        self.device = device
        self.seconds = {"backbone": 0.0, "transcoder": 0.0}

    def measure(self, phase: str, fn: Callable, *args, **kwargs):
        synchronize(self.device)
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        synchronize(self.device)
        self.seconds[phase] += time.perf_counter() - start
        return out


@torch.inference_mode()
def masked_decode(
    model: BiGR,
    tokens: torch.Tensor,
    to_generate: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor | None,
    params: SamplingParams,
    noise: Noise = None,
    progress: Callable[[int, int], None] | None = None,
    timer: PhaseTimer | None = None,
    return_order: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Fill in the tokens marked in `to_generate`.

    tokens [B, N, K] (values where to_generate is True are ignored), to_generate [B, N] bool,
    cond / uncond [B, D] class embeddings (uncond None: no guidance). Returns [B, N, K] bits in
    {0, 1}; positions outside `to_generate` are returned unchanged. With `return_order`, also
    [B, N] ints: the iteration at which each token was decided (-1 for given tokens). `noise`: one
    generator for the batch, or `SampleStreams` (one per row, so a row samples the same beside any others,
    given the same number of tokens to generate).
    """
    params = params.validated(model.cfg.train_diffusion_steps)
    timer = timer or PhaseTimer()
    tokens = torch.where(to_generate[..., None], torch.zeros_like(tokens), tokens).float()
    unknown = to_generate.clone()
    # Each row's count of unknown tokens before and after an iteration follows from the schedule alone,
    # so the host knows it: reading the starting counts here is the only wait for the device until the end.
    total = unknown.sum(1)
    totals = total.tolist()
    schedule = params.mask_schedule
    if schedule == "auto":
        schedule = "cosine" if all(t == unknown.shape[1] for t in totals) else "linear"
    use_cfg = uncond is not None and params.cfg_scale != 1.0
    both_conds = torch.cat([cond, uncond]) if use_cfg else cond
    decided_at = torch.full(unknown.shape, -1, dtype=torch.long, device=tokens.device)
    graphs = model.graphs  # recorded replays of the backbone and transcoder loop (CUDA), or None
    backbone = functools.partial(replayed, graphs, "backbone", model.backbone)

    for it in range(params.iterations):
        ratio = (it + 1) / params.iterations
        before = [still_masked(t, it / params.iterations, schedule) for t in totals]
        if progress is not None:
            progress(it + 1, params.iterations)
        if before == [still_masked(t, ratio, schedule) for t in totals]:
            continue
        batch_tokens = torch.cat([tokens, tokens]) if use_cfg else tokens
        batch_unknown = torch.cat([unknown, unknown]) if use_cfg else unknown
        hidden = timer.measure("backbone", backbone, batch_tokens, batch_unknown, both_conds)
        rows = torch.nonzero_static(unknown, size=sum(before)).unbind(1)  # nonzero() would wait for the device
        row_noise = noise.rows(before) if isinstance(noise, SampleStreams) else noise  # rows are row-major
        h_cond = hidden[: len(tokens)][rows]
        h_uncond = hidden[len(tokens):][rows] if use_cfg else None
        p = timer.measure(
            "transcoder", model.transcoder.sample, h_cond, h_uncond,
            cfg_scale=scheduled(params.cfg_scale, ratio, params.cfg_schedule),
            steps=params.diffusion_steps, temperature=params.temperature, noise=row_noise, graphs=graphs,
        )
        confidence = torch.full(unknown.shape, -math.inf, device=tokens.device)
        score = (p - 0.5).abs().mul(2).mean(-1)
        gumbel = scheduled(params.gumbel, ratio, params.gumbel_schedule)
        if gumbel > 0:
            score = score + gumbel * gumbel_noise(score.shape, score.device, row_noise)
        confidence[rows] = score
        n_fix = unknown.sum(1) - still_masked(total, ratio, schedule)  # the host's counts, without a copy to the device
        fix = (confidence_rank(confidence, noise) < n_fix[:, None]) & unknown
        new_bits = torch.zeros_like(tokens)
        new_bits[rows] = (uniform(p.shape, p.device, row_noise) < p).to(tokens.dtype)
        tokens = torch.where(fix[..., None], new_bits, tokens)
        unknown &= ~fix
        decided_at = torch.where(fix, it, decided_at)  # not decided_at[fix] = it: a boolean index waits for the GPU

    if bool(unknown.any()):  # cannot happen with the schedules above; kept as a guard
        raise SamplingError(f"{int(unknown.sum())} tokens were left undecided")
    return (tokens, decided_at) if return_order else tokens
