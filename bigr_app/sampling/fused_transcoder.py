"""The transcoder network run for sampling (`model.transcoder.DenoiseMLP` is the network and its training
forward): the same arithmetic in fewer, larger kernels. All blocks' adaLN projections take one GEMM, several
diffusion steps' at once; the layers the noisy bits pass through are cast once per sampling call; guidance mixes
the output layer's inputs."""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn.functional as F

from ..model.transcoder import DenoiseMLP

Linear = tuple[torch.Tensor, torch.Tensor]  # (weight, bias)


def modulation_weights(net: DenoiseMLP) -> Linear:
    """All blocks' adaLN projections stacked into one matrix, so they take one GEMM. The bias of each scale
    part carries modulate()'s "+ 1", so a block applies shift + norm(x) * scale in one kernel."""
    layers = [blk.modulation[1] for blk in net.blocks] + [net.final.modulation[1]]
    bias = torch.cat([m.bias for m in layers])
    hidden = net.in_proj.out_features
    ones = torch.zeros_like(bias).unflatten(0, (-1, hidden))
    ones[[3 * i + 1 for i in range(len(net.blocks))] + [3 * len(net.blocks) + 1]] = 1.0
    return torch.cat([m.weight for m in layers]), bias + ones.flatten()


def modulations(net: DenoiseMLP, cond_h: torch.Tensor, t_emb: torch.Tensor, fused: Linear | None = None) -> torch.Tensor:
    """adaLN (shift, 1 + scale, gate) of every block and (shift, 1 + scale) of the final layer, stacked on the
    last dim: [..., (3 * blocks + 2) * H]. `fused`: `modulation_weights(net)` (default: made now)."""
    weight, bias = fused if fused is not None else modulation_weights(net)
    return F.linear(F.silu(cond_h + t_emb), weight, bias)


def step_modulations(net: DenoiseMLP, cond_h: torch.Tensor, t_embs: torch.Tensor, fused: Linear,
                     budget_bytes: int = 8 * 2**20) -> Iterator[torch.Tensor]:
    """Per sampling step, the modulations of all rows. They do not depend on the noisy bits, so several steps
    are computed in one large GEMM (a batch-1 step alone is too small to run the matrix units well), as many as
    fit in `budget_bytes`. `fused`: `modulation_weights(net)` in the compute dtype."""
    per_step = cond_h.shape[0] * fused[0].shape[0] * cond_h.element_size()
    chunk = max(1, budget_bytes // max(1, per_step))
    for start in range(0, len(t_embs), chunk):
        yield from modulations(net, cond_h[None], t_embs[start : start + chunk, None], fused)


def bit_path_weights(net: DenoiseMLP, dtype: torch.dtype | None = None, out_scale: float = 1.0) -> list[Linear]:
    """(weight, bias) of the linear layers the noisy bits pass through: the input projection, each block's two
    MLP layers, the output layer (scaled by `out_scale`). With `dtype` they are cast once per sampling call; under
    autocast F.linear would cast them again at every diffusion step."""
    layers = [net.in_proj, *(lin for blk in net.blocks for lin in (blk.mlp[0], blk.mlp[2])), net.final.linear]
    pairs = [(lin.weight, lin.bias) for lin in layers]
    if out_scale != 1.0:
        pairs[-1] = (pairs[-1][0] * out_scale, pairs[-1][1] * out_scale)
    return pairs if dtype is None else [(w.to(dtype), b.to(dtype)) for w, b in pairs]


def forward_modulated(net: DenoiseMLP, spins: torch.Tensor, mods: torch.Tensor, weights: list[Linear] | None = None,
                      cfg_scale: float | None = None) -> torch.Tensor:
    """Noisy bits as spins [M, K] (2 z_t - 1, what the network reads) and modulations from `modulations`
    [M, F] -> flip logits [M, K], through `weights` from `bit_path_weights` (default: the layers' own). The
    blocks' arithmetic is ResidualBlock's, in fused kernels.

    With `cfg_scale`, mods are [2, M, F] (conditional, unconditional) and the result is the guided logits
    uncond + cfg_scale * (cond - uncond). The input layer and first norm see only the bits, so they run once for
    both; guidance mixes the output layer's inputs, since that layer is affine."""
    hidden = net.in_proj.out_features
    *block_mods, final_mod = mods.split([3 * hidden] * len(net.blocks) + [2 * hidden], -1)
    (w_in, b_in), *mlp, (w_out, b_out) = weights if weights is not None else bit_path_weights(net)
    x = F.linear(spins.to(mods.dtype), w_in, b_in)
    for blk, mod, (w1, b1), (w2, b2) in zip(net.blocks, block_mods, mlp[::2], mlp[1::2]):
        shift, scale, gate = mod.chunk(3, dim=-1)
        h = F.linear(F.silu(F.linear(torch.addcmul(shift, blk.norm(x), scale), w1, b1)), w2, b2)
        x = torch.addcmul(x, gate, h)
    shift, scale = final_mod.chunk(2, dim=-1)
    y = torch.addcmul(shift, net.final.norm(x), scale)
    if cfg_scale is not None:
        y = torch.lerp(y[1], y[0], cfg_scale)
    return F.linear(y, w_out, b_out)


def compile_step(net: DenoiseMLP) -> None:
    """torch.compile the transcoder step for `net` (the masked-token count varies: dynamic shapes)."""
    net.compiled_step = torch.compile(forward_modulated, dynamic=True)


def step_of(net: DenoiseMLP):
    """The step function sampling runs for `net`: compiled if `compile_step` was called for it."""
    return getattr(net, "compiled_step", forward_modulated)
