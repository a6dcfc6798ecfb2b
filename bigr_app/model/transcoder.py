"""The binary transcoder: Bernoulli diffusion over a token's K bits, conditioned on the
backbone's output vector for that token.

The denoiser predicts, per bit, whether the noisy bit z_t differs from the clean bit z_0
(the release's "flip" parameterisation). This module is the network, its noise schedule and its
training loss; sampling it is `sampling.bernoulli`.
"""
from __future__ import annotations

import math
from typing import Callable

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

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """x_t [M, K] in {0, 1} (read as spins 2 x_t - 1), t [M] each row's network timestep (diffusion step - 1),
        cond [M, D] the backbone's output -> per-bit flip logits [M, K]. (Sampling runs the same arithmetic fused:
        `sampling.fused_transcoder`.)"""
        c = self.cond_proj(cond) + self.time_embed(t)
        x = self.in_proj(x_t * 2 - 1)
        for blk in self.blocks:
            x = blk(x, blk.modulation(c))
        return self.final(x, self.final.modulation(c))


def class_balanced_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The release's weighted BCE (focal loss with gamma 0, alpha = -1): within each token the rarer
    bit value is weighted up. Returns per-bit losses."""
    k = target.shape[-1]
    ones = target.sum(-1, keepdim=True) / k
    alpha = (1 - ones) * target + ones * (1 - target) + 1.0 / k
    return alpha * F.binary_cross_entropy_with_logits(logits, target, reduction="none")


class Transcoder(nn.Module):
    def __init__(self, cfg: BiGRConfig):
        super().__init__()
        self.bits = cfg.bits
        self.train_steps = cfg.train_diffusion_steps
        self.net = DenoiseMLP(cfg.bits, cfg.transcoder_dim, cfg.dim, cfg.transcoder_blocks)
        with torch.device("cpu"):  # computed, never loaded: real even when the model is built on "meta"
            schedule = linear_bernoulli_schedule(cfg.train_diffusion_steps)
        for name, table in schedule.items():
            self.register_buffer(name, table, persistent=False)

    def loss(self, x0: torch.Tensor, cond: torch.Tensor,
             uniform: Callable[..., torch.Tensor] | None = None) -> torch.Tensor:
        """Per-bit loss [M, K] for clean bits x0 [M, K] under backbone conditions cond [M, D]. `uniform(*shape)`:
        U(0, 1) numbers [M, *shape] (default: torch.rand)."""
        m = x0.shape[0]
        uniform = uniform or (lambda *shape: torch.rand((m, *shape), device=x0.device))
        t = (uniform() * self.train_steps).long().clamp_(max=self.train_steps - 1) + 1
        p_t = self.k_final[t, None] * x0 + self.b_final[t, None]
        x_t = (uniform(x0.shape[1]) < p_t).to(x0.dtype)
        logits = self.net(x_t, t - 1, cond).float()
        return class_balanced_bce(logits, torch.logical_xor(x0 > 0.5, x_t > 0.5).float())
