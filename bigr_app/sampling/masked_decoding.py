"""The one masked-decoding loop that every task (generation, inpainting, editing, interpolation,
enrichment, variations) runs.

Start from known tokens and a mask of tokens to generate. Each iteration: the backbone sees the
grid with the still-unknown tokens replaced by the mask token; the transcoder turns the outputs
at unknown positions into bit probabilities; the most confident positions (mean |p - 0.5| * 2,
plus Gumbel noise) are fixed by sampling their bits; the schedule says how many stay unknown.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, Protocol

import torch

from ..errors import SamplingError
from ..model.bigr import BiGR
from .bernoulli import sample_bits
from .graphs import GraphCache, replayed
from .noise import Noise, SampleStreams, uniform
from .params import SamplingParams, scheduled, still_masked
from .timing import PhaseTimer

def gumbel_noise(shape, device, noise: Noise) -> torch.Tensor:
    u = uniform(shape, device, noise).clamp_(1e-20, 1.0 - 1e-7)
    return -torch.log(-torch.log(u))


def confidence_rank(confidence: torch.Tensor, noise: Noise) -> torch.Tensor:
    """Rank of each position by confidence (0 = most confident) per row, ties broken at random.

    Saturated probabilities make exact ties common; breaking them by position would always
    decide the top-left tokens first.
    """
    shuffle = uniform(confidence.shape, confidence.device, noise).argsort(dim=1)
    order = confidence.gather(1, shuffle).argsort(dim=1, descending=True, stable=True)
    return shuffle.gather(1, order).argsort(dim=1)


def row_schedule(schedule: str, total: int, seq_len: int) -> str:
    """"auto": cosine for a row generated from scratch, linear for a row with tokens given."""
    if schedule != "auto":
        return schedule
    return "cosine" if total == seq_len else "linear"


def guided_backbone(backbone: Callable, tokens: torch.Tensor, unknown: torch.Tensor, cond: torch.Tensor,
                    uncond: torch.Tensor | None, per_sample: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The backbone's outputs [B, N, D] for the class condition and (with guidance) the null one, the two run as one
    batch. `per_sample`: each sample (its pair of rows) runs as its own call, exactly as it does alone."""
    def run(t, u, c, n):
        if n is None:
            return backbone(t, u, c), None
        both = backbone(torch.cat([t, t]), torch.cat([u, u]), torch.cat([c, n]))
        return both[: len(t)], both[len(t):]

    if not per_sample:
        return run(tokens, unknown, cond, uncond)
    parts = [run(tokens[i:i + 1], unknown[i:i + 1], cond[i:i + 1], None if uncond is None else uncond[i:i + 1])
             for i in range(len(tokens))]
    return torch.cat([c for c, _ in parts]), None if uncond is None else torch.cat([n for _, n in parts])


def per_sample_bits(bits_of: Callable, h_cond: torch.Tensor, h_uncond: torch.Tensor | None, noise: Noise,
                    counts: list[int], per_sample: bool = False) -> torch.Tensor:
    """The transcoder's bit probabilities for the rows of all samples, one call per sample when `per_sample`."""
    if not per_sample:
        return bits_of(h_cond, h_uncond, noise=noise)
    splits = zip(h_cond.split(counts), h_uncond.split(counts) if h_uncond is not None else [None] * len(counts),
                 noise.generators, counts)
    return torch.cat([bits_of(c, u, noise=SampleStreams([g], noise.device, [m])) for c, u, g, m in splits if m])


class Rows:
    """Some rows of the batch (those active in an iteration): take them out, put them back. All rows: the
    tensors themselves, no copy."""

    def __init__(self, indices: list[int], batch: int, device):
        self.index = None if len(indices) == batch else torch.tensor(indices, device=device)

    def take(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.index is None else x.index_select(0, self.index)

    def put(self, x: torch.Tensor, part: torch.Tensor) -> torch.Tensor:
        return part if self.index is None else x.index_copy(0, self.index, part)


class DecodeLoop(Protocol):
    """What a pipeline samples with: `masked_decode` itself, or what stands in for it with its signature (a
    server's batcher, `sampling.batching.BatchedDecode`; the reference loop a benchmark compares with)."""

    def __call__(self, model: BiGR, tokens: torch.Tensor, cells: torch.Tensor, cond: torch.Tensor,
                 uncond: torch.Tensor | None, params: SamplingParams, noise: Noise = None,
                 progress: Callable[[int, int], None] | None = None, timer: PhaseTimer | None = None,
                 return_order: bool = False, graphs: GraphCache | None = None,
                 exact: bool = True) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]: ...


@torch.inference_mode()
def masked_decode(
    model: BiGR,
    tokens: torch.Tensor,
    cells: torch.Tensor,
    cond: torch.Tensor,
    uncond: torch.Tensor | None,
    params: SamplingParams,
    noise: Noise = None,
    progress: Callable[[int, int], None] | None = None,
    timer: PhaseTimer | None = None,
    return_order: bool = False,
    graphs: GraphCache | None = None,
    exact: bool = True,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Fill in the tokens at the `cells` to generate.

    tokens [B, N, K] (values at the cells are ignored), cells [B, N] bool, cond / uncond [B, D] class
    embeddings (uncond None: no guidance). Returns [B, N, K] bits in {0, 1}; tokens outside the cells are
    returned unchanged. `graphs`: recorded replays of the backbone and the transcoder (CUDA). With `return_order`, also
    [B, N] ints: the iteration at which each token was decided (-1 for given tokens). `noise`: one
    generator for the batch, or `SampleStreams` (one per row, so a row samples the same beside any others:
    each row follows its own schedule and draws only from its own stream). `progress(done, total)` is called as
    each iteration starts; if it also has a `preview(tokens, unknown)` method, that gets the rows' tokens so far
    [B, N, K] and the still-unknown positions [B, N] after each iteration but the last (a page shows pictures
    forming). `exact`: every sample's backbone and transcoder run as their own calls, so a sample's numbers are
    those of its seed alone in any precision and on any device (matrix kernels choose their blocking by row count,
    so rows computed together round differently); False batches them, faster, and a picture then depends on its
    batch.
    """
    params = params.validated(model.cfg.train_diffusion_steps)
    timer = timer or PhaseTimer()
    tokens = torch.where(cells[..., None], torch.zeros_like(tokens), tokens).float()
    unknown = cells.clone()
    # Each row's count of unknown tokens before and after an iteration follows from the schedule alone,
    # so the host knows it: reading the starting counts here is the only wait for the device until the end.
    totals = unknown.sum(1).tolist()
    seq_len = unknown.shape[1]
    schedules = [row_schedule(params.mask_schedule, t, seq_len) for t in totals]
    use_cfg = uncond is not None and params.cfg_scale != 1.0
    decided_at = torch.full(unknown.shape, -1, dtype=torch.long, device=tokens.device)
    backbone = functools.partial(replayed, graphs, "backbone", model.backbone)
    preview = getattr(progress, "preview", None)

    for it in range(params.iterations):
        ratio = (it + 1) / params.iterations
        before = [still_masked(t, it / params.iterations, s) for t, s in zip(totals, schedules)]
        after = [still_masked(t, ratio, s) for t, s in zip(totals, schedules)]
        if progress is not None:
            progress(it + 1, params.iterations)
        # A row decides nothing in some iterations (few tokens, many iterations). It sits those out, drawing
        # nothing, so that it samples the same in any batch as alone.
        active = [i for i, (b, a) in enumerate(zip(before, after)) if b != a]
        if not active:
            continue
        rows_of = Rows(active, len(totals), tokens.device)
        sub_tokens, sub_unknown = rows_of.take(tokens), rows_of.take(unknown)
        sub_noise = noise.subset(active) if isinstance(noise, SampleStreams) else noise
        counts = [before[i] for i in active]
        sub_uncond = rows_of.take(uncond) if use_cfg else None
        per_sample = exact and isinstance(sub_noise, SampleStreams) and len(active) > 1
        hidden = timer.measure("backbone", guided_backbone, backbone, sub_tokens, sub_unknown, rows_of.take(cond),
                               sub_uncond, per_sample)
        rows = torch.nonzero_static(sub_unknown, size=sum(counts)).unbind(1)  # nonzero() would wait for the device
        row_noise = sub_noise.rows(counts) if isinstance(sub_noise, SampleStreams) else sub_noise  # row-major
        h_cond = hidden[0][rows]
        h_uncond = hidden[1][rows] if use_cfg else None
        bits_of = functools.partial(
            sample_bits, model.transcoder, cfg_scale=scheduled(params.cfg_scale, ratio, params.cfg_schedule),
            steps=params.diffusion_steps, temperature=params.temperature, graphs=graphs)
        p = timer.measure("transcoder", per_sample_bits, bits_of, h_cond, h_uncond, row_noise, counts, per_sample)
        confidence = torch.full(sub_unknown.shape, -math.inf, device=tokens.device)
        score = (p - 0.5).abs().mul(2).mean(-1)
        gumbel = scheduled(params.gumbel, ratio, params.gumbel_schedule)
        if gumbel > 0:
            score = score + gumbel * gumbel_noise(score.shape, score.device, row_noise)
        confidence[rows] = score
        n_fix = torch.tensor([before[i] - after[i] for i in active], device=tokens.device)  # the host's counts
        fix = (confidence_rank(confidence, sub_noise) < n_fix[:, None]) & sub_unknown
        new_bits = torch.zeros_like(sub_tokens)
        new_bits[rows] = (uniform(p.shape, p.device, row_noise) < p).to(tokens.dtype)
        tokens = rows_of.put(tokens, torch.where(fix[..., None], new_bits, sub_tokens))
        unknown = rows_of.put(unknown, sub_unknown & ~fix)
        # not decided_at[fix] = it: a boolean index waits for the GPU
        decided_at = rows_of.put(decided_at, torch.where(fix, it, rows_of.take(decided_at)))
        if preview is not None and it + 1 < params.iterations:
            preview(tokens, unknown)

    if bool(unknown.any()):  # cannot happen with the schedules above; kept as a guard
        raise SamplingError(f"{int(unknown.sum())} tokens were left undecided")
    return (tokens, decided_at) if return_order else tokens
