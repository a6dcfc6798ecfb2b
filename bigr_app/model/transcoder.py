"""The binary transcoder: Bernoulli diffusion over a token's K bits, conditioned on the
backbone's output vector for that token.

The denoiser predicts, per bit, whether the noisy bit z_t differs from the clean bit z_0
(the release's "flip" parameterisation). This module is the network, its noise schedule and its
training loss; sampling it is `sampling.bernoulli`.
"""
from __future__ import annotations

import math
from typing import Callable, Iterator

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

    def modulation_weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All blocks' adaLN projections stacked into one matrix, so they take one GEMM. The bias of each
        scale part carries modulate()'s "+ 1", so a block applies shift + norm(x) * scale in one kernel."""
        layers = [blk.modulation[1] for blk in self.blocks] + [self.final.modulation[1]]
        bias = torch.cat([m.bias for m in layers])
        hidden = self.in_proj.out_features
        ones = torch.zeros_like(bias).unflatten(0, (-1, hidden))
        ones[[3 * i + 1 for i in range(len(self.blocks))] + [3 * len(self.blocks) + 1]] = 1.0
        return torch.cat([m.weight for m in layers]), bias + ones.flatten()

    def modulations(self, cond_h: torch.Tensor, t_emb: torch.Tensor,
                    fused: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """adaLN (shift, 1 + scale, gate) of every block and (shift, 1 + scale) of the final layer,
        stacked on the last dim: [..., (3 * blocks + 2) * H]."""
        weight, bias = fused if fused is not None else self.modulation_weights()
        return F.linear(F.silu(cond_h + t_emb), weight, bias)

    def step_modulations(self, cond_h: torch.Tensor, t_embs: torch.Tensor, fused: tuple[torch.Tensor, torch.Tensor],
                         budget_bytes: int = 8 * 2**20) -> Iterator[torch.Tensor]:
        """Per sampling step, the modulations of all rows. They do not depend on the noisy bits, so
        several steps are computed in one large GEMM (a batch-1 step alone is too small to run the
        matrix units well), as many as fit in `budget_bytes`. `fused`: `modulation_weights()` in the
        compute dtype."""
        per_step = cond_h.shape[0] * fused[0].shape[0] * cond_h.element_size()
        chunk = max(1, budget_bytes // max(1, per_step))
        for start in range(0, len(t_embs), chunk):
            yield from self.modulations(cond_h[None], t_embs[start : start + chunk, None], fused)

    def bit_path_weights(self, dtype: torch.dtype | None = None,
                         out_scale: float = 1.0) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(weight, bias) of the linear layers the noisy bits pass through: the input projection, each
        block's two MLP layers, the output layer (scaled by `out_scale`). With `dtype` they are cast once
        per sampling call; under autocast F.linear would cast them again at every diffusion step."""
        layers = [self.in_proj, *(lin for blk in self.blocks for lin in (blk.mlp[0], blk.mlp[2])), self.final.linear]
        pairs = [(lin.weight, lin.bias) for lin in layers]
        if out_scale != 1.0:
            pairs[-1] = (pairs[-1][0] * out_scale, pairs[-1][1] * out_scale)
        return pairs if dtype is None else [(w.to(dtype), b.to(dtype)) for w, b in pairs]

    def forward_modulated(self, spins: torch.Tensor, mods: torch.Tensor,
                          weights: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
                          cfg_scale: float | None = None) -> torch.Tensor:
        """Noisy bits as spins [M, K] (2 z_t - 1, what the network reads) and modulations from
        `modulations` [M, F] -> flip logits [M, K], through `weights` from `bit_path_weights` (default:
        the layers' own). The blocks' arithmetic is ResidualBlock's, in fused kernels.

        With `cfg_scale`, mods are [2, M, F] (conditional, unconditional) and the result is the guided
        logits uncond + cfg_scale * (cond - uncond). The input layer and first norm see only the bits, so
        they run once for both; guidance mixes the output layer's inputs, since that layer is affine."""
        hidden = self.in_proj.out_features
        *block_mods, final_mod = mods.split([3 * hidden] * len(self.blocks) + [2 * hidden], -1)
        (w_in, b_in), *mlp, (w_out, b_out) = weights if weights is not None else self.bit_path_weights()
        x = F.linear(spins.to(mods.dtype), w_in, b_in)
        for blk, mod, (w1, b1), (w2, b2) in zip(self.blocks, block_mods, mlp[::2], mlp[1::2]):
            shift, scale, gate = mod.chunk(3, dim=-1)
            h = F.linear(F.silu(F.linear(torch.addcmul(shift, blk.norm(x), scale), w1, b1)), w2, b2)
            x = torch.addcmul(x, gate, h)
        shift, scale = final_mod.chunk(2, dim=-1)
        y = torch.addcmul(shift, self.final.norm(x), scale)
        if cfg_scale is not None:
            y = torch.lerp(y[1], y[0], cfg_scale)
        return F.linear(y, w_out, b_out)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Training form: x_t [M, K] in {0, 1}, t [M] each row's network timestep (diffusion step - 1)."""
        return self.forward_modulated(x_t * 2 - 1, self.modulations(self.cond_proj(cond), self.time_embed(t)))


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
