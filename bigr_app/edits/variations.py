"""Whole-picture edits: enrichment (the release's: re-sample interleaved token groups to add detail) and
variations (re-sample a share of the tokens, spread evenly over the grid)."""
from __future__ import annotations


import numpy as np
import torch
from PIL import Image

from ..pipeline import Pipeline
from ..checks import real_number, whole_number
from ..errors import InputError
from ..images import fit as fit_square
from ..images import frame_fit, frame_result, to_rgb
from ..sampling.noise import sample_seeds
from .regenerate import Result, regenerate, result_params, sample_count, spread_cells


def enrich(
    engine: Pipeline, image: Image.Image, rounds: int = 1, downsample_rate: int = 2, class_id=None, seed: int | None = 0,
    fit: str = "auto", progress=None, cfg_scale: float = 10.0, **sampling,
) -> Result:
    """The release's enrichment: within every rate x rate block of cells, re-sample one offset
    at a time (in random order) conditioned on all other tokens, to add detail. fit "auto" works on the
    whole frame (letterboxed when not square); "crop" returns the centre square only."""
    rounds = whole_number("rounds", rounds, 1, 8)
    rate = whole_number("downsample_rate", downsample_rate, 1, engine.grid)
    if engine.grid % rate:
        raise InputError(f"downsample_rate must divide the {engine.grid}-cell grid, got {rate}")
    picture = to_rgb(image)
    framed = frame_fit(picture.size, fit)
    fitted, place = fit_square(picture, engine.resolution, framed, margin=engine.frame_margin)
    bits = engine.encode(fitted)
    classes = engine.class_ids(class_id, 1)
    seed = engine.resolve_seed(seed)
    g = torch.Generator().manual_seed(seed)
    total = rounds * rate * rate
    done = 0
    for r in range(rounds):
        for offset in torch.randperm(rate * rate, generator=g).tolist():
            cells = torch.zeros(engine.grid, engine.grid, dtype=torch.bool, device=engine.device)
            cells[offset // rate :: rate, offset % rate :: rate] = True
            step_progress = (lambda j, m, d=done: progress(d * m + j, total * m)) if progress else None
            bits = engine.sample_tokens(bits, cells[None], classes, seed, step_progress, seed_step=done,
                                      cfg_scale=cfg_scale, **sampling)
            done += 1
    out = frame_result(engine.decode(bits)[0], picture, place)
    params = result_params(engine, "enrich", dict(sampling, cfg_scale=cfg_scale), rounds=rounds, downsample_rate=rate,
                           class_id=class_id, seed=seed, fit=fit, framed=framed)
    return Result([out], params)


def vary(
    engine: Pipeline, image: Image.Image, strength: float = 0.5, class_id=None, num_samples: int = 1,
    seed: int | None = 0, fit: str = "auto", progress=None, **sampling,
) -> Result:
    """Variations: re-sample a share `strength` of the tokens, spread evenly over the grid.
    strength 1.0 is a fresh generation; small strengths keep the composition. fit as for `enrich`."""
    real_number("strength", strength, 0.0, 1.0, open_below=True)
    n = sample_count(engine, num_samples)
    picture = to_rgb(image)
    framed = frame_fit(picture.size, fit)
    fitted, place = fit_square(picture, engine.resolution, framed, margin=engine.frame_margin)
    count = max(1, round(strength * engine.grid * engine.grid))
    seed = engine.resolve_seed(seed)
    cells = np.stack([spread_cells(engine, count, s) for s in sample_seeds(seed, n)])  # each sample's own
    outs = regenerate(engine, fitted, cells, engine.class_ids(class_id, n), seed, progress, **sampling)
    images = [frame_result(o, picture, place) for o in outs]
    params = result_params(engine, "vary", sampling, strength=strength, class_id=class_id, num_samples=n, seed=seed,
                           fit=fit, framed=framed, cells=count)
    return Result(images, params)
