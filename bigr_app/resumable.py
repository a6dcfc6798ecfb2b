"""Resumable batch jobs: each chunk of work lands in its own .npz under OUT.parts/ and is skipped
when already there, so a stopped job continues where it stopped."""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm.auto import tqdm


def parts_folder(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def chunk_path(out: Path, start: int) -> Path:
    return parts_folder(out) / f"chunk_{start:08d}.npz"


def run_chunks(out: Path, starts: Iterable[int], compute: Callable[[int], dict[str, np.ndarray]],
               desc: str = "chunks", show: bool = True) -> list[int]:
    """compute(start) -> arrays for the chunk beginning at `start`; finished chunks are not redone. Returns the
    starts computed now."""
    parts_folder(out).mkdir(parents=True, exist_ok=True)
    computed = []
    for start in tqdm(list(starts), desc=desc, disable=not show):
        path = chunk_path(out, start)
        if path.is_file():
            continue
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **compute(start))
        tmp.replace(path)  # atomic: a chunk is either whole or absent
        computed.append(start)
    return computed


def gather_chunks(out: Path, starts: Iterable[int]) -> dict[str, np.ndarray]:
    """Concatenate every chunk's arrays in order of `starts`."""
    pieces: dict[str, list[np.ndarray]] = {}
    for start in starts:
        with np.load(chunk_path(out, start), allow_pickle=False) as f:
            for key in f.files:
                pieces.setdefault(key, []).append(f[key])
    return {key: np.concatenate(arrays) for key, arrays in pieces.items()}
