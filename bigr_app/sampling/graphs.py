"""Static-shape replay for the sampling loop's small, repeated work (CUDA graphs).

At batch 1 on a GPU the time goes into launching thousands of small kernels (20 iterations x 100
diffusion steps x a dozen kernels), not into arithmetic. A CUDA graph records a function's kernels
once for fixed input shapes and replays them with one launch. Shapes vary in our loop (the number of
still-masked tokens falls every iteration), so the transcoder's rows are padded up to a few bucket
sizes (`bucket_rows`); each padded row is computed and thrown away, and every real row gets exactly
the arithmetic it gets unpadded, because all of the transcoder's operations act row by row.
"""
from __future__ import annotations

import logging
from typing import Callable, Hashable

import torch

log = logging.getLogger(__name__)

Replay = Callable[[], torch.Tensor]
Capture = Callable[[Callable[[], torch.Tensor]], Replay]


def bucket_rows(rows: int) -> int:
    """`rows` rounded up to the next of at most 4 sizes per power of two (<= 25% padding): 1, 2, 3, 4, 5, 6,
    7, 8, 10, 12, 14, 16, 20, 24, 28, 32, 40, ... So a whole generation captures a few dozen graphs at most."""
    if rows <= 8:
        return max(rows, 1)
    step = 1 << (rows.bit_length() - 3)
    return -(-rows // step) * step


def pad_rows(x: torch.Tensor, rows: int, dim: int = 0) -> torch.Tensor:
    """`x` with zero rows appended along `dim` up to `rows`."""
    missing = rows - x.shape[dim]
    if missing <= 0:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([x, x.new_zeros(shape)], dim)


class CudaGraphCapture:
    """Records a function's kernels in a CUDA graph; the replay re-runs them and returns the function's output
    tensor (the same storage every time). All graphs of one capture object share one memory pool: they replay
    one at a time on one stream and each output is copied out at once, so their scratch memory can overlap."""

    def __init__(self):
        self.pool = None

    def __call__(self, fn: Callable[[], torch.Tensor]) -> Replay:
        if self.pool is None:
            self.pool = torch.cuda.graph_pool_handle()
        side = torch.cuda.Stream()  # warm-up runs on a side stream, as capture requires
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(2):
                fn()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        # autocast must not cache casts made during capture (they would be freed with the capture's memory)
        dtype = torch.get_autocast_dtype("cuda")
        with torch.autocast("cuda", dtype=dtype, enabled=torch.is_autocast_enabled("cuda"), cache_enabled=False):
            with torch.cuda.graph(graph, pool=self.pool):
                out = fn()

        def replay() -> torch.Tensor:
            graph.replay()
            return out

        return replay


class GraphCache:
    """Per key (the shapes and settings that fix the kernels), a recorded `fn` over static copies of its
    tensor inputs; later calls copy the new inputs in and replay. A shape that cannot be recorded, or whose
    first replay differs from `fn` run eagerly on the same inputs, runs eagerly from then on. `capture`
    defaults to CUDA graphs; the CPU tests pass one that re-runs `fn` eagerly, which exercises everything
    but the recording."""

    def __init__(self, capture: Capture | None = None):
        self.capture = capture or CudaGraphCapture()
        self.entries: dict[Hashable, tuple[list[torch.Tensor], Replay]] = {}
        self.failed: set[Hashable] = set()

    def __call__(self, key: Hashable, make_fn: Callable[[], Callable[..., torch.Tensor]],
                 *inputs: torch.Tensor) -> torch.Tensor:
        """`make_fn()(*inputs)`, replayed. `make_fn` runs only when a shape is recorded (or cannot be), so what
        the function closes over (cast weights, say) is prepared once per recording, not on every replay."""
        key = (key, *((tuple(x.shape), x.dtype, x.device) for x in inputs))
        if key in self.failed:
            return make_fn()(*inputs)
        entry = self.entries.get(key)
        if entry is None:  # the static copies hold this call's inputs, so the checked replay is its result
            fn, statics = make_fn(), [x.clone() for x in inputs]
            try:
                replay = self.capture(lambda: fn(*statics))
                out = replay()
                if not torch.equal(out, fn(*statics)):  # checked once per recording, as a safety net
                    raise RuntimeError("its replay differs from the same step run eagerly")
            except RuntimeError as e:
                log.warning("cannot record %s as a graph (%s); running it eagerly", key[0], e)
                self.failed.add(key)
                return fn(*inputs)
            self.entries[key] = (statics, replay)
            return out.clone()
        statics, replay = entry
        for static, x in zip(statics, inputs):
            static.copy_(x)
        return replay().clone()


def replayed(cache: GraphCache | None, key: Hashable, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> torch.Tensor:
    """`fn(*inputs)`, through `cache` when there is one."""
    return fn(*inputs) if cache is None else cache(key, lambda: fn, *inputs)
