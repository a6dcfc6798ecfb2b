"""The BiGR backbone: a bidirectional Llama transformer over a class token plus the token grid.

Input tokens are K-bit codes (or the learned mask token where a token is still unknown); the
output is one conditioning vector per grid token for the binary transcoder.
"""
from __future__ import annotations

from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import BiGRConfig
from .draws import Draws


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


def rope_2d_table(grid: int, head_dim: int, base: float, prefix_tokens: int) -> torch.Tensor:
    """Rotary (cos, sin) table of shape [prefix + grid*grid, head_dim/2, 2].

    The first head_dim/4 rotation pairs follow the token's row, the rest its column. The prefix
    (class-token) rows are zeros rather than the identity rotation, exactly as in the release:
    it zeroes the class token's query and key, and the official weights were trained that way.
    """
    quarter = head_dim // 4
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim // 2, 2)[:quarter].float() / (head_dim // 2)))
    angles = torch.outer(torch.arange(grid).float(), inv_freq)  # [grid, quarter]
    rows = angles[:, None, :].expand(grid, grid, quarter)
    cols = angles[None, :, :].expand(grid, grid, quarter)
    grid_angles = torch.cat([rows, cols], dim=-1).flatten(0, 1)  # [grid*grid, head_dim/2]
    table = torch.stack([grid_angles.cos(), grid_angles.sin()], dim=-1)
    return torch.cat([torch.zeros(prefix_tokens, head_dim // 2, 2), table])


def apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs (a, b) of x [B, S, H, hd] by the (cos, sin) in table [S, hd/2, 2]:
    (a + ib)(cos + i sin), one complex product instead of eight real kernels."""
    pairs = torch.view_as_complex(x.float().reshape(*x.shape[:-1], -1, 2))
    rotation = torch.view_as_complex(table.contiguous())[None, :, None, :]
    return torch.view_as_real(pairs * rotation).flatten(3).type_as(x)


def dropout(x: torch.Tensor, p: float, training: bool, draws: Draws | None) -> torch.Tensor:
    """Dropout whose mask for row i comes from the step's draws for row i of the global batch, so a batch split
    over processes drops exactly what one process holding it all drops; without draws, torch's own."""
    if not training or p == 0.0:
        return x
    if draws is None:
        return F.dropout(x, p, training=True)
    keep = draws.rows(x.shape[0], *x.shape[1:]).to(x.device) >= p
    return x * keep / (1.0 - p)


class Attention(nn.Module):
    def __init__(self, cfg: BiGRConfig):
        super().__init__()
        self.n_head, self.dropout = cfg.n_head, cfg.dropout
        self.qkv = nn.Linear(cfg.dim, 3 * cfg.dim, bias=False)
        self.out = nn.Linear(cfg.dim, cfg.dim, bias=False)

    def forward(self, x: torch.Tensor, rope: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        b, s, d = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, self.n_head, d // self.n_head).unbind(2)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        y = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return dropout(self.out(y.transpose(1, 2).reshape(b, s, d)), self.dropout, self.training, draws)


class SwiGLU(nn.Module):
    def __init__(self, cfg: BiGRConfig):
        super().__init__()
        self.w_gate = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)
        self.w_up = nn.Linear(cfg.dim, cfg.ffn_hidden, bias=False)
        self.w_down = nn.Linear(cfg.ffn_hidden, cfg.dim, bias=False)
        self.dropout = cfg.dropout

    def forward(self, x: torch.Tensor, draws: Draws | None = None) -> torch.Tensor:
        return dropout(self.w_down(F.silu(self.w_gate(x)) * self.w_up(x)), self.dropout, self.training, draws)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class Block(nn.Module):
    """Pre-norm Llama block with adaLN: shift/scale/gate come from the shared class modulation
    plus this layer's learned offset."""

    def __init__(self, cfg: BiGRConfig):
        super().__init__()
        self.attn_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.attn = Attention(cfg)
        self.mlp_norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.mlp = SwiGLU(cfg)
        self.modulation_offset = nn.Parameter(torch.randn(1, 1, 6, cfg.dim) / cfg.dim**0.5)

    def forward(self, x: torch.Tensor, modulation: torch.Tensor, rope: torch.Tensor,
                draws: Draws | None = None) -> torch.Tensor:
        shift_a, scale_a, gate_a, shift_m, scale_m, gate_m = (modulation + self.modulation_offset).unbind(2)
        x = x + gate_a * self.attn(modulate(self.attn_norm(x), shift_a, scale_a), rope, draws)
        return x + gate_m * self.mlp(modulate(self.mlp_norm(x), shift_m, scale_m), draws)


class Backbone(nn.Module):
    def __init__(self, cfg: BiGRConfig):
        super().__init__()
        self.cfg = cfg
        self.null_class = cfg.num_classes
        self.class_embed = nn.Embedding(cfg.num_classes + 1, cfg.dim)  # last row: the null class
        self.mask_token = nn.Parameter(torch.randn(1, cfg.dim))
        self.token_embed = nn.Linear(cfg.bits, cfg.dim)
        self.token_dropout = cfg.token_dropout
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(cfg.dim, 6 * cfg.dim))
        self.layers = nn.ModuleList(Block(cfg) for _ in range(cfg.n_layer))
        self.norm = RMSNorm(cfg.dim, cfg.norm_eps)
        self.pos_embed = nn.Parameter(torch.zeros(1, cfg.seq_len, cfg.dim))
        with torch.device("cpu"):  # computed, never loaded: real even when the model is built on "meta"
            rope = rope_2d_table(cfg.grid, cfg.dim // cfg.n_head, cfg.rope_base, prefix_tokens=1)
        self.register_buffer("rope", rope, persistent=False)

    def class_condition(self, classes: torch.Tensor) -> torch.Tensor:
        """Class ids [B] (long) or mixing weights [B, num_classes + 1] (float) -> embeddings [B, D]."""
        if classes.is_floating_point():
            return classes.to(self.class_embed.weight.dtype) @ self.class_embed.weight
        return self.class_embed(classes)

    def null_condition(self, batch: int) -> torch.Tensor:
        return self.class_embed.weight[self.null_class].expand(batch, -1)

    def layer_states(self, bits: torch.Tensor, masked: torch.Tensor | None, cond: torch.Tensor,
                     draws: Draws | None = None) -> Iterator[torch.Tensor]:
        """Run the transformer, yielding the residual stream [B, 1 + N, D] after each layer. `draws`: the training
        step's random numbers, for dropout."""
        tokens = self.token_embed(bits.to(self.token_embed.weight.dtype))
        if masked is not None:
            tokens = torch.where(masked[..., None], self.mask_token.to(tokens.dtype), tokens)
        cond = cond.to(tokens.dtype)
        h = dropout(torch.cat([cond[:, None, :], tokens], dim=1), self.token_dropout, self.training, draws)
        modulation = self.modulation(cond[:, None, :]).unflatten(-1, (6, -1))  # [B, 1, 6, D]
        rope = self.rope[: h.shape[1]]
        for block in self.layers:
            h = block(h, modulation, rope, draws)
            yield h

    def hidden_states(
        self, bits: torch.Tensor, masked: torch.Tensor | None, cond: torch.Tensor, layer: int | None = None
    ) -> torch.Tensor:
        """[B, 1 + N, D] after `layer` (0-based), or after all layers."""
        last = self.cfg.n_layer - 1 if layer is None else layer
        for i, h in enumerate(self.layer_states(bits, masked, cond)):
            if i == last:
                return h
        raise IndexError(f"layer {layer} out of range for {self.cfg.n_layer} layers")

    def forward(self, bits: torch.Tensor, masked: torch.Tensor | None, cond: torch.Tensor,
                draws: Draws | None = None) -> torch.Tensor:
        """bits [B, N, K], masked [B, N] (True = unknown), cond [B, D] -> transcoder conditions [B, N, D]."""
        *_, h = self.layer_states(bits, masked, cond, draws)
        return self.norm(h[:, 1:]).float() + self.pos_embed
