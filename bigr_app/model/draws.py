"""The random numbers of one training step, the same however many processes share the batch.

Every process draws the numbers of the whole (global) batch from one generator seeded by (seed, step) and
keeps its own rows, so a sample's draws depend on its place in the global batch alone: two processes with
batch b draw for their samples exactly what one process with batch 2b draws for the same samples.
"""
from __future__ import annotations

import numpy as np
import torch


class Draws:
    """U(0, 1) numbers for a training step. `rank` of `world` processes, each holding `batch` rows of the
    global batch; seed None draws from a generator seeded at random (a step that need not be reproduced)."""

    def __init__(self, device: torch.device | str, seed: int | None = None, step: int = 0, rank: int = 0,
                 world: int = 1):
        self.device = torch.device(device)
        self.generator = torch.Generator(self.device)
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(np.random.SeedSequence([seed, step]).generate_state(1, np.uint64)[0] >> 1))
        self.rank, self.world = rank, world

    def shared(self, *shape: int) -> torch.Tensor:
        """Numbers every process draws alike (one per step, say)."""
        return torch.rand(shape, generator=self.generator, device=self.device)

    def rows(self, batch: int, *shape: int) -> torch.Tensor:
        """[batch, *shape]: this process's rows of a global batch of `world * batch` rows."""
        everyone = torch.rand((self.world * batch, *shape), generator=self.generator, device=self.device)
        return everyone[self.rank * batch : (self.rank + 1) * batch]
