"""Expected sampling time for given settings, from a few timings taken once on the current device.

The sampler's cost is one backbone pass per iteration (two sequences with guidance) plus, per
diffusion step, a transcoder pass over the rows still masked; the mask schedule says how many
rows that is at every iteration, so the total follows from three measured unit costs.
"""
from __future__ import annotations

import math
import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

import torch

from ..model.bigr import BiGR
from .bernoulli import sample_bits
from .graphs import GraphCache, replayed
from .params import SamplingParams, still_masked


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


@dataclass(frozen=True)
class CostModel:
    backbone_s: float  # one backbone pass over one sequence
    step_s: float  # fixed cost of one transcoder step
    row_step_s: float  # plus this per token row in the step
    decode_s: float  # tokenizer decode of one image
    device: str

    def estimate(self, params: SamplingParams, to_generate: int, grid_tokens: int, batch: int = 1) -> float:
        """Seconds to fill `to_generate` of `grid_tokens` tokens in each of `batch` images."""
        if to_generate <= 0:
            return batch * self.decode_s
        guided = 2 if params.cfg_scale != 1.0 else 1
        schedule = params.mask_schedule
        if schedule == "auto":
            schedule = "cosine" if to_generate == grid_tokens else "linear"
        seconds, unknown = 0.0, to_generate
        for it in range(params.iterations):
            stay = still_masked(to_generate, (it + 1) / params.iterations, schedule)
            if unknown - stay > 0:
                rows = unknown * batch * guided
                seconds += guided * batch * self.backbone_s + params.diffusion_steps * (self.step_s + rows * self.row_step_s)
                unknown = stay
        return seconds + batch * self.decode_s


def _best_time(fn, repeats: int, device: torch.device) -> float:
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


@torch.inference_mode()
def measure_costs(model: BiGR, graphs: GraphCache | None, device: torch.device, autocast: Callable,
                  decode_one: Callable[[], object], repeats: int = 3) -> CostModel:
    """Time the three unit costs of `model` (the engine's sampling model) on `device`, under `autocast()`;
    `decode_one()` decodes one image (about a second in all for the bundled model)."""
    n, dim = model.cfg.seq_len, model.cfg.dim
    bits = torch.zeros(2, n, model.cfg.bits, device=device)
    masked = torch.ones(2, n, dtype=torch.bool, device=device)
    cond = model.backbone.null_condition(2)
    g = torch.Generator(device).manual_seed(0)
    steps, small, large = 4, 8, min(2 * n, 512)

    def transcoder(rows: int):
        h = torch.zeros(rows, dim, device=device)
        return lambda: sample_bits(model.transcoder, h, h, cfg_scale=3.0, steps=steps, temperature=1.0, noise=g,
                                   graphs=graphs)

    with autocast():  # the first of the repeats records the graphs, when the engine replays them
        backbone = _best_time(lambda: replayed(graphs, "backbone", model.backbone, bits, masked, cond), repeats,
                              device) / 2
        t_small = _best_time(transcoder(small), repeats, device) / steps
        t_large = _best_time(transcoder(large), repeats, device) / steps
    decode = _best_time(decode_one, repeats, device)
    # the transcoder's rows count twice under guidance (conditional and unconditional)
    per_row = max(0.0, (t_large - t_small) / (2 * (large - small)))
    return CostModel(backbone, max(0.0, t_small - 2 * small * per_row), per_row, decode, device.type)


class Calibration:
    """How the last few generations' wall times compare with the cost model's estimates: the start-up
    measurement misses what changes later (other load on the machine, a throttled GPU). The factor is the
    median ratio of measured to estimated time over the last `keep` runs, 1 before any."""

    def __init__(self, keep: int = 5):
        self.ratios: deque[float] = deque(maxlen=keep)

    def record(self, measured_s: float, estimated_s: float) -> None:
        if estimated_s > 0 and measured_s > 0:
            self.ratios.append(measured_s / estimated_s)

    @property
    def factor(self) -> float:
        return statistics.median(self.ratios) if self.ratios else 1.0
