"""Resumable batch jobs: each chunk of work lands in its own .npz under OUT.parts/ and is skipped
when already there, so a stopped job continues where it stopped. OUT.parts/job.json records everything that
determines the chunks, and a run with other arguments is refused rather than handed chunks of another job."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from tqdm.auto import tqdm

from .errors import InputError

JOB_FILE = "job.json"


def parts_folder(out: Path) -> Path:
    return out.with_name(out.name + ".parts")


def chunk_path(out: Path, start: int) -> Path:
    return parts_folder(out) / f"chunk_{start:08d}.npz"


def claim_parts(out: Path, job: dict, overwrite: bool = False) -> None:
    """Make OUT.parts/ this job's: new, or already recording exactly `job` (JSON values). A folder recording
    another job, or chunks that record none, are refused with the difference named; `overwrite` clears them."""
    folder = parts_folder(out)
    if overwrite:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / JOB_FILE
    job = json.loads(json.dumps(job))  # as it reads back
    if record.is_file():
        before = json.loads(record.read_text())
        changed = sorted(k for k in before.keys() | job.keys() if before.get(k) != job.get(k))
        if changed:
            what = "; ".join(f"{k}: {before.get(k)!r} there, {job.get(k)!r} now" for k in changed)
            raise InputError(f"{folder} holds chunks of a run with other arguments ({what}). Give the same "
                             "arguments to resume it, another --out, or --overwrite to start afresh")
        return
    if any(folder.glob("chunk_*.npz")):
        raise InputError(f"{folder} holds chunks that record no arguments (an earlier version made them): "
                         "--overwrite starts afresh")
    tmp = record.with_name(f"{JOB_FILE}.{os.getpid()}.tmp")  # processes of one launch write it side by side
    tmp.write_text(json.dumps(job, indent=1, sort_keys=True))
    tmp.replace(record)


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
