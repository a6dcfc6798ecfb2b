"""The binary transcoder: Bernoulli diffusion over a token's K bits, conditioned on the
backbone's output vector for that token.

The denoiser predicts, per bit, whether the noisy bit z_t differs from the clean bit z_0
(the release's "flip" parameterisation). Sampling starts from fair coin flips and runs T of the
256 training steps; guidance mixes conditional and unconditional logits; the last step is
deterministic and the clean-bit probabilities are returned.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .backbone import modulate
from .config import BiGRConfig


def linear_bernoulli_schedule(steps: int) -> dict[str, torch.Tensor]:
    """The release's 'linear' schedule: q(z_t | z_0) = k_t z_0 + b_t with k_t = 1 - t/steps.

    Tables have steps + 1 entries (index 0 is the clean data), computed in float64 like the
    release and stored as float32.
    """
    beta = 1.0 - 1.0 / (steps - np.arange(1, steps + 1) + 1)
    k, b = [1.0], [0.0]
    for bt in beta:
        k.append(k[-1] * bt)
        b.append(bt * b[-1] + 0.5 * (1.0 - bt))
    beta_t = torch.tensor(np.hstack([1.0, beta]), dtype=torch.float32)
    return {
        "k_final": torch.tensor(k, dtype=torch.float32),
        "b_final": torch.tensor(b, dtype=torch.float32),
        "beta": beta_t,
        "cumbeta": torch.cumprod(beta_t, 0),
    }


def sampling_timesteps(sample_steps: int, train_steps: int) -> list[int]:
    """The release's choice of `sample_steps` of the training steps, largest first, ending at 1."""
    steps = np.arange(1, train_steps + 1)
    if sample_steps != train_steps:
        steps = steps[(np.linspace(0.0, 1.0, sample_steps) * (train_steps - 1)).astype(int)]
    return [int(t) for t in steps[::-1]]


class TimestepEmbedder(nn.Module):
    def __init__(self, hidden: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.freq_dim // 2
        freqs = torch.exp(-math.log(10000) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t[:, None].float() * freqs[None]
        return self.mlp(torch.cat([torch.cos(args), torch.sin(args)], dim=-1).to(self.mlp[0].weight.dtype))


class ResidualBlock(nn.Module):
    def __init__(self, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.SiLU(), nn.Linear(hidden, hidden))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 3 * hidden))

    def forward(self, x: torch.Tensor, mod: torch.Tensor) -> torch.Tensor:
        shift, scale, gate = mod.chunk(3, dim=-1)
        return x + gate * self.mlp(modulate(self.norm(x), shift, scale))


class FinalLayer(nn.Module):
    def __init__(self, hidden: int, out_dim: int):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, elementwise_affine=False, eps=1e-6)
        self.linear = nn.Linear(hidden, out_dim)
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(hidden, 2 * hidden))

    def forward(self, x: torch.Tensor, mod: torch.Tensor) -> torch.Tensor:
        shift, scale = mod.chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


class DenoiseMLP(nn.Module):
    """adaLN residual MLP: noisy bits + timestep + backbone condition -> per-bit flip logits."""

    def __init__(self, bits: int, hidden: int, cond_dim: int, num_blocks: int):
        super().__init__()
        self.time_embed = TimestepEmbedder(hidden)
        self.in_proj = nn.Linear(bits, hidden)
        self.cond_proj = nn.Linear(cond_dim, hidden)
        self.blocks = nn.ModuleList(ResidualBlock(hidden) for _ in range(num_blocks))
        self.final = FinalLayer(hidden, bits)

    def modulation_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All blocks' adaLN projections stacked into one matrix, so they take one GEMM."""
        layers = [blk.modulation[1] for blk in self.blocks] + [self.final.modulation[1]]
        return torch.cat([m.weight for m in layers]), torch.cat([m.bias for m in layers])

    def modulations(self, cond_h: torch.Tensor, t_emb: torch.Tensor,
                    fused: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """adaLN shift/scale/gate of every block, stacked on the last dim: [..., (3 * blocks + 2) * H]."""
        weight, bias = fused if fused is not None else self.modulation_weights()
        return F.linear(F.silu(cond_h + t_emb), weight, bias)

    def step_modulations(self, cond_h: torch.Tensor, t_embs: torch.Tensor,
                         budget_bytes: int = 8 * 2**20) -> Iterator[torch.Tensor]:
        """Per sampling step, the modulations of all rows. They do not depend on the noisy bits, so
        several steps are computed in one large GEMM (a batch-1 step alone is too small to run the
        matrix units well), as many as fit in `budget_bytes`."""
        fused = self.modulation_weights()
        per_step = cond_h.shape[0] * fused[0].shape[0] * cond_h.element_size()
        chunk = max(1, budget_bytes // max(1, per_step))
        for start in range(0, len(t_embs), chunk):
            yield from self.modulations(cond_h[None], t_embs[start : start + chunk, None], fused)

    def forward_modulated(self, x_t: torch.Tensor, mods: torch.Tensor) -> torch.Tensor:
        """x_t [M, K] in {0,1} and modulations [M, (3 * blocks + 2) * H] -> flip logits [M, K]."""
        hidden = self.in_proj.out_features
        mods = mods.split([3 * hidden] * len(self.blocks) + [2 * hidden], -1)
        x = self.in_proj((x_t.to(mods[0].dtype) - 0.5) * 2.0)
        for blk, mod in zip(self.blocks, mods):
            x = blk(x, mod)
        return self.final(x, mods[-1])

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Reference form: t [M] holds each row's network timestep (diffusion step - 1)."""
        return self.forward_modulated(x_t, self.modulations(self.cond_proj(cond), self.time_embed(t)))


def class_balanced_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The release's weighted BCE (focal loss with gamma 0, alpha = -1): within each token the rarer
    bit value is weighted up. Returns per-bit losses."""
    k = target.shape[-1]
    ones = target.sum(-1, keepdim=True) / k
    alpha = (1 - ones) * target + ones * (1 - target) + 1.0 / k
    return alpha * F.binary_cross_entropy_with_logits(logits, target, reduction="none")


@dataclass(frozen=True)
class _Step:
    net_t: int  # timestep fed to the network (t - 1)
    k_prev: float
    b_prev: float
    k_jump: float  # q(z_t | z_prev) = k_jump z_prev + (1 - k_jump) / 2
    last: bool


@functools.lru_cache(maxsize=64)
def sampling_plan(sample_steps: int, train_steps: int) -> tuple[_Step, ...]:
    """Per sampling step: the network timestep and the posterior's coefficients (computed once, on the
    host, so the sampling loop never reads tables back from the device)."""
    tables = linear_bernoulli_schedule(train_steps)
    beta, k_final, b_final = tables["beta"].double(), tables["k_final"], tables["b_final"]
    ts = sampling_timesteps(sample_steps, train_steps)
    plan = []
    for i, t in enumerate(ts):
        if t == 1 or i == len(ts) - 1:
            plan.append(_Step(t - 1, 1.0, 0.0, 1.0, True))
            break
        t_prev = ts[i + 1]
        k_jump = float(torch.prod(beta[t_prev + 1 : t + 1]))
        plan.append(_Step(t - 1, float(k_final[t_prev]), float(b_final[t_prev]), k_jump, False))
    return tuple(plan)


class Transcoder(nn.Module):
    def __init__(self, cfg: BiGRConfig):
        super().__init__()
        self.bits = cfg.bits
        self.train_steps = cfg.train_diffusion_steps
        self.net = DenoiseMLP(cfg.bits, cfg.transcoder_dim, cfg.dim, cfg.transcoder_blocks)
        for name, table in linear_bernoulli_schedule(cfg.train_diffusion_steps).items():
            self.register_buffer(name, table, persistent=False)

    # ---- training -------------------------------------------------------------------------
    def loss(self, x0: torch.Tensor, cond: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Per-bit loss [M, K] for clean bits x0 [M, K] under backbone conditions cond [M, D]."""
        m = x0.shape[0]
        t = torch.randint(1, self.train_steps + 1, (m,), device=x0.device, generator=generator)
        p_t = self.k_final[t, None] * x0 + self.b_final[t, None]
        x_t = torch.bernoulli(p_t, generator=generator)
        logits = self.net(x_t, t - 1, cond).float()
        return class_balanced_bce(logits, torch.logical_xor(x0 > 0.5, x_t > 0.5).float())

    # ---- sampling -------------------------------------------------------------------------
    def plan(self, sample_steps: int) -> tuple[_Step, ...]:
        return sampling_plan(sample_steps, self.train_steps)

    @torch.no_grad()
    def sample(
        self,
        cond: torch.Tensor,
        uncond: torch.Tensor | None = None,
        cfg_scale: float = 1.0,
        steps: int = 100,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """Bit probabilities [M, K] for M tokens with backbone outputs cond (and uncond) [M, D]."""
        m, device = cond.shape[0], cond.device
        guided = uncond is not None
        cond_h = self.net.cond_proj(torch.cat([cond, uncond]) if guided else cond)
        plan = self.plan(steps)
        t_embs = self.net.time_embed(torch.tensor([s.net_t for s in plan], device=device))
        x_t = torch.bernoulli(torch.full((m, self.bits), 0.5, device=device), generator=generator)
        p0 = x_t
        for step, mods in zip(plan, self.net.step_modulations(cond_h, t_embs)):
            x_in = torch.cat([x_t, x_t]) if guided else x_t
            logits = self.net.forward_modulated(x_in, mods).float()
            if guided:
                logit_c, logit_u = logits.chunk(2)
                logits = logit_u + cfg_scale * (logit_c - logit_u)
            flip = torch.sigmoid(logits / temperature)
            p0 = x_t * (1 - flip) + (1 - x_t) * flip  # P(z_0 = 1)
            if step.last:
                break
            x_t = torch.bernoulli(self.posterior(p0, x_t, step), generator=generator)
        return p0

    @staticmethod
    def posterior(p0: torch.Tensor, x_t: torch.Tensor, step: _Step) -> torch.Tensor:
        """P(z_prev = 1 | z_t, P(z_0 = 1) = p0) for the Bernoulli forward process."""
        noise = 0.5 * (1 - step.k_jump)
        like1 = (step.k_prev * p0 + step.b_prev) * (step.k_jump * x_t + noise)
        like0 = (step.k_prev * (1 - p0) + step.b_prev) * (step.k_jump * (1 - x_t) + noise)
        return like1 / (like1 + like0)
