"""A random-weights tiny model: for tests, and for the app before any trained weights exist."""
from __future__ import annotations

import torch

from .model.config import BiGRConfig, TokenizerConfig
from .engine import Engine
from .model.bigr import BiGR
from .model.tokenizer import BinaryAutoencoder

TINY_TOKENIZER = TokenizerConfig(
    resolution=32, bits=8, nf=32, ch_mult=(1, 2), res_blocks=1, attn_resolutions=(16,), emb_dim=32
)
TINY_BIGR = BiGRConfig(
    dim=128, n_layer=2, n_head=2, bits=8, grid=16, num_classes=5, transcoder_dim=64, transcoder_blocks=2
)


def randomize(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random weights everywhere (the release's init zeroes adaLN outputs, which hides bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            noise = torch.randn(p.shape, generator=g) * (0.1 if p.dim() > 1 else 0.3)
            p.copy_(noise + (1.0 if name.endswith("norm.weight") else 0.0))
    return module


def random_tiny_engine(device: str | None = "cpu", seed: int = 0, precision: str = "fp32") -> Engine:
    tok = randomize(BinaryAutoencoder(TINY_TOKENIZER), seed + 1).eval()
    bigr = randomize(BiGR(TINY_BIGR), seed + 2).eval()
    return Engine(tok, bigr, class_names=[f"c{i}" for i in range(TINY_BIGR.num_classes)], device=device,
                  source="random tiny weights", precision=precision)
