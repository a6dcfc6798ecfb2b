"""Binary autoencoder (B-AE): images in [0, 1] <-> a grid of K-bit binary codes.

encoder -> 1x1 conv to K logits -> sigmoid -> binarise (straight-through) -> bits @ codebook
-> decoder. The block layout follows the taming-transformers VQGAN that the release builds on,
so official checkpoints map onto it one key at a time (see `checkpoints.py`).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .config import TokenizerConfig
from .draws import Draws


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(num_groups=min(groups, channels), num_channels=channels, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, groups: int):
        super().__init__()
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = group_norm(out_ch, groups)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        # The release creates the 1x1 shortcut even when it is unused (in_ch == out_ch).
        self.conv_out = nn.Conv2d(in_ch, out_ch, 1)
        self.project_skip = in_ch != out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return h + (self.conv_out(x) if self.project_skip else x)


class AttnBlock(nn.Module):
    """Single-head self-attention over the spatial positions."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        y = self.norm(x)
        q, k, v = (proj(y).reshape(b, 1, c, h * w).transpose(-1, -2) for proj in (self.q, self.k, self.v))
        out = F.scaled_dot_product_attention(q, k, v)
        return x + self.proj_out(out.transpose(-1, -2).reshape(b, c, h, w))


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _middle(channels: int, groups: int) -> list[nn.Module]:
    return [ResBlock(channels, channels, groups), AttnBlock(channels, groups), ResBlock(channels, channels, groups)]


class Encoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        g = cfg.norm_groups
        blocks: list[nn.Module] = [nn.Conv2d(cfg.in_channels, cfg.nf, 3, padding=1)]
        res, ch = cfg.resolution, cfg.nf
        for level, mult in enumerate(cfg.ch_mult):
            for _ in range(cfg.res_blocks):
                blocks.append(ResBlock(ch, cfg.nf * mult, g))
                ch = cfg.nf * mult
                if res in cfg.attn_resolutions:
                    blocks.append(AttnBlock(ch, g))
            if level != len(cfg.ch_mult) - 1:
                blocks.append(Downsample(ch))
                res //= 2
        blocks += _middle(ch, g)
        # No activation between the last norm and conv: the release has none.
        blocks += [group_norm(ch, g), nn.Conv2d(ch, cfg.emb_dim, 3, padding=1)]
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class Decoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        g = cfg.norm_groups
        ch = cfg.nf * cfg.ch_mult[-1]
        res = cfg.grid
        blocks: list[nn.Module] = [group_norm(cfg.emb_dim, g)] if cfg.norm_first else []
        blocks.append(nn.Conv2d(cfg.emb_dim, ch, 3, padding=1))
        blocks += _middle(ch, g)
        for level in reversed(range(len(cfg.ch_mult))):
            for _ in range(cfg.res_blocks):
                blocks.append(ResBlock(ch, cfg.nf * cfg.ch_mult[level], g))
                ch = cfg.nf * cfg.ch_mult[level]
                if res in cfg.attn_resolutions:
                    blocks.append(AttnBlock(ch, g))
            if level != 0:
                blocks.append(Upsample(ch))
                res *= 2
        blocks += [group_norm(ch, g), nn.Conv2d(ch, cfg.in_channels, 3, padding=1)]
        self.blocks = nn.Sequential(*blocks)
        # Present in the release's checkpoints (an ELBO head fine-tuned after training); never used.
        self.logsigma = nn.Sequential(
            nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, cfg.in_channels, 1)
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.blocks(z)


class BinaryQuantizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.proj = nn.Conv2d(cfg.emb_dim, cfg.bits, 1)
        self.codebook = nn.Embedding(cfg.bits, cfg.emb_dim)

    def probabilities(self, h: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.proj(h))

    def embed(self, bits: torch.Tensor) -> torch.Tensor:
        """[B, K, h, w] bits (or soft bits) -> [B, D, h, w] decoder input."""
        # contiguous: backward through the decoder segfaults on einsum's strides when this input needs no gradient
        return torch.einsum("bkhw,kd->bdhw", bits, self.codebook.weight).contiguous()


def binarize(p: torch.Tensor, deterministic: bool, draws: Draws | None = None) -> torch.Tensor:
    """Bits from probabilities with a straight-through gradient (sampled with `draws`' numbers, or unseeded)."""
    if deterministic:
        hard = (p > 0.5).to(p.dtype)
    else:
        u = draws.rows(*p.shape) if draws is not None else torch.rand_like(p)
        hard = (u < p.detach()).to(p.dtype)
    return hard + (p - p.detach())  # exactly `hard` in value, gradient of p


class BinaryAutoencoder(nn.Module):
    def __init__(self, cfg: TokenizerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = Encoder(cfg)
        self.quantizer = BinaryQuantizer(cfg)
        self.decoder = Decoder(cfg)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """Images [B, 3, H, W] in [0, 1] -> bit probabilities [B, K, h, w]."""
        return self.quantizer.probabilities(self.encoder(images))

    def encode(self, images: torch.Tensor, deterministic: bool = True, draws: Draws | None = None) -> torch.Tensor:
        """Images -> bits [B, K, h, w] as floats in {0, 1}."""
        return binarize(self.probabilities(images), deterministic, draws).detach()

    def decode(self, bits: torch.Tensor) -> torch.Tensor:
        """Bits [B, K, h, w] -> images [B, 3, H, W] (not clamped)."""
        return self.decoder(self.quantizer.embed(bits.to(self.quantizer.codebook.weight.dtype)))

    def forward(
        self, images: torch.Tensor, deterministic: bool = False, draws: Draws | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Training pass: (reconstruction, bit probabilities)."""
        p = self.probabilities(images)
        return self.decode(binarize(p, deterministic, draws)), p
