"""The sampling knobs, and the schedules that turn them into per-iteration values."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import torch

from ..checks import one_of, real_number
from ..errors import SamplingError

MASK_SCHEDULES = ("auto", "cosine", "linear")
CFG_SCHEDULES = ("constant", "linear")  # linear: guidance ramps from 1 to cfg_scale
GUMBEL_SCHEDULES = ("constant", "down", "up")


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
            real_number(name, value, lo, hi, error=SamplingError)
        one_of("cfg_schedule", self.cfg_schedule, CFG_SCHEDULES, SamplingError)
        one_of("gumbel_schedule", self.gumbel_schedule, GUMBEL_SCHEDULES, SamplingError)
        one_of("mask_schedule", self.mask_schedule, MASK_SCHEDULES, SamplingError)
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
