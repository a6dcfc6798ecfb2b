"""The Engine: a pipeline (`pipeline.Pipeline`: weights, device, precision, encoding, decoding, sampling) with a
method for each task, so that `engine.inpaint(...)` works as documented. The tasks themselves are functions of a
pipeline, in `edits` and `analysis`."""
from __future__ import annotations

import functools
from typing import Callable

from . import analysis, edits
from .pipeline import DEFAULT_WEIGHTS, FAST_NOTE, ClassSpec, Pipeline, Progress

__all__ = ["DEFAULT_WEIGHTS", "FAST_NOTE", "ClassSpec", "Engine", "Progress"]


def task(fn: Callable) -> Callable:
    """A method that runs `fn(pipeline, ...)`."""

    @functools.wraps(fn)
    def method(self, *args, **kwargs):
        return fn(self, *args, **kwargs)
    return method


class Engine(Pipeline):
    MAX_WINDOWS = edits.canvas.MAX_WINDOWS  # windows per canvas expansion

    inpaint = task(edits.inpaint)
    edit = task(edits.edit)
    outpaint = task(edits.outpaint)
    interpolate = task(edits.interpolate)
    enrich = task(edits.enrich)
    vary = task(edits.vary)
    region_padding = task(edits.region_padding)
    region_box = task(edits.region_box)
    mask_cells = task(edits.mask_cells)
    strength_cells = task(edits.strength_cells)
    spread_cells = task(edits.spread_cells)
    features = task(analysis.features)
    layer_features = task(analysis.layer_features)
    bit_features = task(analysis.bit_features)
    pixel_features = task(analysis.pixel_features)
    features_of_kind = task(analysis.features_of_kind)
