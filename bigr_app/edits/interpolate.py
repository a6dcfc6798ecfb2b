"""Class interpolation: the class embedding mixed between two classes, r e_a + (1 - r) e_b, with the same noise
for every ratio."""
from __future__ import annotations

import math
from typing import Sequence

from ..pipeline import Pipeline
from ..errors import InputError
from .regenerate import Result, result_params


def interpolate(
    engine: Pipeline, class_a, class_b, ratios: Sequence[float] = (0.0, 0.25, 0.5, 0.75, 1.0), seed: int | None = 0,
    progress=None, **sampling,
) -> Result:
    """One image per ratio r with class embedding r*e_a + (1-r)*e_b, the same noise for every r."""
    ratios = [float(r) for r in ratios]
    if not ratios:
        raise InputError("give at least one ratio")
    bad = [r for r in ratios if not (math.isfinite(r) and 0.0 <= r <= 1.0)]
    if bad:
        raise InputError(f"interpolation ratios must lie in [0, 1], got {bad}")
    seed = engine.resolve_seed(seed)
    images = []
    for i, r in enumerate(ratios):
        weights = engine.class_weights({class_a: r}) + engine.class_weights({class_b: 1.0 - r})
        step_progress = (lambda j, m, i=i: progress(i * m + j, len(ratios) * m)) if progress else None
        images += engine.decode(engine.generate_tokens(weights[None], seed, step_progress, **sampling))
    params = result_params(engine, "interpolate", sampling, class_a=class_a, class_b=class_b, ratios=ratios,
                           seed=seed)
    return Result(images, params)

