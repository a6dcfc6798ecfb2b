"""What every edit shares: the regeneration itself (encode -> sample the cells -> decode), the cells spread over
the grid, the samples asked for, and the result with the parameters it records."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from PIL import Image

from ..pipeline import Pipeline
from ..checks import whole_number


class Result(list):
    """A list of PIL images (one per sample) that also carries the parameters used."""

    def __init__(self, images: Sequence[Image.Image], params: dict):
        super().__init__(images)
        self.params = params


def result_params(engine: Pipeline, task: str, sampling: dict, **inputs) -> dict:
    """What a result records: the task, its inputs, and the sampling settings as the engine applies them."""
    return dict(task=task, **inputs, **engine.sampling_params(**sampling).to_dict())


def sample_count(engine: Pipeline, num_samples) -> int:
    return whole_number("num_samples", num_samples, 1, engine.MAX_SAMPLES)


def regenerate(engine: Pipeline, fitted: Image.Image, cells: np.ndarray, classes: torch.Tensor, seed: int, progress,
               **sampling) -> list[Image.Image]:
    """Encode, regenerate the cells ([grid, grid], or one such per sample), decode: model-resolution images,
    one per row of `classes`."""
    n = classes.shape[0]
    bits = engine.encode(fitted).expand(n, -1, -1, -1)
    cells = torch.from_numpy(cells).to(engine.device).expand(n, -1, -1)
    return engine.decode(engine.sample_tokens(bits, cells, classes, seed, progress, **sampling))


def bayer_order(grid: int) -> np.ndarray:
    """Rank of each cell in an ordered-dither pattern: any prefix is spread evenly over the grid."""
    n = 1
    m = np.zeros((1, 1), np.int64)
    while n < grid:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
        n *= 2
    return m[:grid, :grid].argsort(axis=None).argsort().reshape(grid, grid)


def spread_cells(engine: Pipeline, count: int, seed: int, within: np.ndarray | None = None) -> np.ndarray:
    """`count` cells [grid, grid] spread evenly over the grid, or over the cells `within` (an ordered dither,
    shifted by the seed)."""
    shift = np.random.default_rng(seed).integers(0, engine.grid, 2)
    rank = np.roll(bayer_order(engine.grid), tuple(shift), axis=(0, 1))
    if within is not None:
        rank = np.where(within, rank, rank.size)  # cells outside come last, and are never taken
        count = min(count, int(within.sum()))
    chosen = np.zeros(rank.shape, bool)
    chosen.flat[np.argsort(rank, axis=None)[:count]] = True
    return chosen
