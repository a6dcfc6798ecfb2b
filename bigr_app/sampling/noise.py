"""Random streams, one per sample of a batch.

Sample i of a batch made with seed s draws exactly what a batch of one made with seed s + i draws, so any
sample can be regenerated alone and a picture's own seed is all that reproducing it needs. Every random
draw of sampling goes through `uniform`, which also takes a plain `torch.Generator` (one stream for all).
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np
import torch

MAX_SEED = 2**63 - 1


def sample_seeds(seed: int, batch: int, step: int = 0) -> list[int]:
    """The seeds of a batch's samples: s, s + 1, ... For step > 0 (the later windows or rounds of one edit),
    each sample's seed is mixed with the step, so no two (sample, step) pairs share a stream."""
    seeds = [seed + i for i in range(batch)]
    if step == 0:
        return seeds
    return [int(np.random.SeedSequence([s, step]).generate_state(1, np.uint64)[0] >> 1) for s in seeds]


class SampleStreams:
    """One generator per sample. `counts` says how many consecutive slices (along the drawn dimension)
    belong to each sample; None means one each."""

    def __init__(self, generators: Sequence[torch.Generator], device: torch.device | str,
                 counts: Sequence[int] | None = None):
        self.generators = list(generators)
        self.device = torch.device(device)
        self.counts = list(counts) if counts is not None else [1] * len(self.generators)
        if len(self.counts) != len(self.generators):
            raise ValueError(f"{len(self.counts)} counts for {len(self.generators)} streams")

    @classmethod
    def from_seeds(cls, seeds: Sequence[int], device: torch.device | str) -> "SampleStreams":
        return cls([torch.Generator(device).manual_seed(s) for s in seeds], device)

    def subset(self, indices: Sequence[int]) -> "SampleStreams":
        """The streams of these samples only (one slice each)."""
        return SampleStreams([self.generators[i] for i in indices], self.device)

    def rows(self, counts: Sequence[int]) -> "SampleStreams":
        """The same streams, for a tensor whose first `counts[0]` slices are sample 0's, and so on."""
        return SampleStreams(self.generators, self.device, counts)

    def uniform(self, shape: Sequence[int], dim: int = 0) -> torch.Tensor:
        if sum(self.counts) != shape[dim]:
            raise ValueError(f"streams cover {sum(self.counts)} slices, the shape {tuple(shape)} has {shape[dim]}")
        parts = []
        for g, count in zip(self.generators, self.counts):
            part = list(shape)
            part[dim] = count
            parts.append(torch.rand(part, generator=g, device=self.device))
        return torch.cat(parts, dim)


Noise = Union[torch.Generator, SampleStreams, None]


def uniform(shape: Sequence[int], device: torch.device | str, noise: Noise, dim: int = 0) -> torch.Tensor:
    """U(0, 1) draws of `shape`; with per-sample streams, `dim` is the dimension split between samples."""
    if isinstance(noise, SampleStreams):
        return noise.uniform(shape, dim)
    return torch.rand(tuple(shape), generator=noise, device=device)
