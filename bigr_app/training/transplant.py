"""Starting from trained weights whose shapes differ from the model's: a wider code, another class list."""
from __future__ import annotations

import dataclasses

import torch
import torch.nn as nn

from ..model.bigr import BiGR
from ..model.tokenizer import BinaryAutoencoder


def transplant(model: nn.Module, weights: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> nn.Module:
    """Load trained `weights` into `model` where they fit: a tensor of the same shape is copied; a smaller one
    (a code with fewer bits) fills the leading slice and the rest keeps its fresh initialisation."""
    state = model.state_dict()
    for name, value in weights.items():
        if name in skip or name not in state:
            continue
        target = state[name]
        if target.shape == value.shape:
            state[name] = value
        elif value.dim() == target.dim() and all(a <= b for a, b in zip(value.shape, target.shape)):
            target[tuple(slice(0, n) for n in value.shape)] = value
        else:
            raise SystemExit(f"cannot start {name} {tuple(target.shape)} from trained {tuple(value.shape)}")
    model.load_state_dict(state)
    return model


def grown_bits(model: BinaryAutoencoder, bits: int) -> BinaryAutoencoder:
    """The same tokenizer with a wider code. The trained bits keep their projection and embedding; the new
    ones get a fresh projection and a near-zero embedding, so pictures decode as before until they are used."""
    old = model.cfg.bits
    if bits <= old:
        raise SystemExit(f"--grow-bits {bits}: the tokenizer already has {old} bits")
    wider = transplant(BinaryAutoencoder(dataclasses.replace(model.cfg, bits=bits)), model.state_dict())
    with torch.no_grad():
        wider.quantizer.codebook.weight[old:] *= 0.01
    return wider


def with_new_classes(bigr: BiGR, num_classes: int, bits: int | None = None) -> BiGR:
    """`bigr` for another class list (and code width): a fresh class table but for the null class, which keeps
    what the model learned unconditionally; everything else transplanted."""
    fresh = BiGR(dataclasses.replace(bigr.cfg, num_classes=num_classes, bits=bits or bigr.cfg.bits))
    table = "backbone.class_embed.weight"
    transplant(fresh, bigr.state_dict(), skip=(table,))
    with torch.no_grad():
        fresh.backbone.class_embed.weight[-1] = bigr.backbone.class_embed.weight[-1]
    return fresh
