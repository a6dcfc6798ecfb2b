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
from typing import Iterator, NamedTuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .backbone import modulate
from .config import BiGRConfig
from .graphs import GraphCache, bucket_rows, pad_rows
from .noise import Noise, uniform


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


MIN_ROWS = 16  # the fewest rows a recorded transcoder runs: fewer recordings


class SamplingWeights(NamedTuple):
    modulation: tuple[torch.Tensor, torch.Tensor]  # DenoiseMLP.modulation_weights()
    bit_path: list[tuple[torch.Tensor, torch.Tensor]]  # DenoiseMLP.bit_path_weights()


@dataclass(frozen=True)
class _Step:
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
        with torch.device("cpu"):  # computed, never loaded: real even when the model is built on "meta"
            schedule = linear_bernoulli_schedule(cfg.train_diffusion_steps)
        for name, table in schedule.items():
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
        net = self.net
        guided = uncond is not None
        cond_h = net.cond_proj(torch.cat([cond, uncond]) if guided else cond)
        plan = self.plan(steps)
        t_embs = net.time_embed(torch.tensor([s.net_t for s in plan]).to(device, non_blocking=True))  # no wait on a GPU
        spins = torch.where(uniform((m, self.bits), device, noise) < 0.5, 1.0, -1.0)
        draws = logistic_noise((len(plan) - 1, m, self.bits), device, noise)  # all steps' draws at once
        dtype = cond_h.dtype

        def make_denoise():  # with the weights cast for it: once per call eagerly, once per recording with graphs
            weights = self.sampling_weights(dtype, temperature)
            return functools.partial(self.denoise, plan=plan, cfg_scale=cfg_scale, weights=weights)

        if graphs is None:
            return make_denoise()(cond_h, t_embs, spins, draws)
        rows = bucket_rows(max(m, MIN_ROWS))
        cond_h = pad_rows(cond_h.unflatten(0, (-1, m)), rows, dim=1).flatten(0, 1)
        spins, draws = pad_rows(spins, rows), pad_rows(draws, rows, dim=1)
        key = ("transcoder", steps, float(cfg_scale), float(temperature))
        return graphs(key, make_denoise, cond_h, t_embs, spins, draws)[:m]

    def sampling_weights(self, dtype: torch.dtype, temperature: float) -> SamplingWeights:
        """The weights `denoise` uses, cast to the compute dtype once per call (autocast would cast them
        again at every diffusion step); the output layer is negated and divided by the temperature."""
        fused = tuple(w.to(dtype) for w in self.net.modulation_weights())
        return SamplingWeights(fused, self.net.bit_path_weights(dtype, out_scale=-1.0 / temperature))

    def denoise(self, cond_h: torch.Tensor, t_embs: torch.Tensor, spins: torch.Tensor, noise: torch.Tensor, *,
                plan: tuple[_Step, ...], cfg_scale: float, weights: SamplingWeights) -> torch.Tensor:
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
        mods_per_step = self.net.step_modulations(cond_h, t_embs, weights.modulation)
        for i, (step, mods) in enumerate(zip(plan, mods_per_step)):
            if guided:
                out = self.net.forward_modulated(spins, mods.unflatten(0, (2, m)), weights.bit_path, cfg_scale)
            else:
                out = self.net.forward_modulated(spins, mods, weights.bit_path)
            p0 = torch.sigmoid(out * spins)  # P(z_0 = 1), in fp32 (the spins are)
            if step.last:
                break
            spins = self.draw_previous(p0, spins, step, noise[i])
        return p0

    @staticmethod
    def draw_previous(p0: torch.Tensor, spins: torch.Tensor, step: _Step, noise: torch.Tensor) -> torch.Tensor:
        """z_prev ~ q(z_prev | z_t, P(z_0 = 1) = p0) as spins. Its log-odds are those of the prior
        q(z_prev = 1 | p0) = k_prev p0 + b_prev plus the evidence of z_t; z_prev = 1 where they exceed
        the logistic `noise`."""
        log_odds = torch.logit(p0 * step.k_prev + step.b_prev).add_(spins, alpha=step.jump_log_odds)
        return torch.where(noise < log_odds, 1.0, -1.0)


def logistic_noise(shape: tuple[int, ...], device: torch.device, noise: Noise) -> torch.Tensor:
    """Standard logistic draws: x < log-odds(p) happens with probability p. The token rows are dim 1."""
    return torch.logit(uniform(shape, device, noise, dim=1))
