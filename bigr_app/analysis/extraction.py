"""Features of a whole ImageFolder tree, in resumable chunks (a stopped run continues where it stopped)."""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
from tqdm.auto import tqdm

from ..pipeline import Pipeline
from ..checks import whole_number
from ..data.folder import list_image_folder
from ..errors import InputError
from ..images import open_image
from ..resumable import gather_chunks, run_chunks
from .features import features_of_kind


def extract_features(engine: Pipeline, root: Path, kind: str, batch: int, fit: str, out: Path | None,
                     keep_images: bool = False, rank: int = 0, processes: int = 1,
                     wait_for_everyone: Callable[[], None] | None = None) -> dict | None:
    """Features of every image of an ImageFolder tree (resumable when `out` is given). Split over `processes`
    (this one being `rank`; `out` on a filesystem they share): each extracts every processes-th chunk, waits
    for the others, and the first gathers them (the others return None)."""
    classes, items = list_image_folder(root)
    batch = whole_number("batch", batch, 1)
    starts = range(0, len(items), batch)

    def feature_chunk(start: int) -> dict[str, np.ndarray]:
        images, kept = [], []
        for i in range(start, min(len(items), start + batch)):
            try:
                images.append(open_image(items[i][0]))
                kept.append(i)
            except InputError as e:
                tqdm.write(f"skipped: {e}")
        if not images:
            return dict(index=np.zeros(0, np.int64))
        arrays = dict(features=features_of_kind(engine, kind, images, fit), index=np.array(kept))
        if keep_images:
            pixels = engine.images_to_tensor(images, fit).permute(0, 2, 3, 1).cpu().numpy()
            arrays["images"] = (pixels * 255).round().astype(np.uint8)
        return arrays

    if processes > 1 and out is None:
        raise InputError("features split over processes need an output file that they all share")
    with tempfile.TemporaryDirectory() as scratch:
        target = out if out is not None else Path(scratch) / "features.npz"
        mine = list(starts)[rank::processes]
        done = run_chunks(target, mine, feature_chunk, desc=f"{kind} features", show=rank == 0)
        if out is not None:
            print(f"rank {rank} of {processes}: extracted {len(done)} of its {len(mine)} chunks (starts {done}), "
                  f"{len(mine) - len(done)} already there", file=sys.stderr)
        if wait_for_everyone is not None:
            wait_for_everyone()
        if rank != 0:
            return None
        data = gather_chunks(target, starts)
    if "features" not in data:
        raise InputError(f"{root}: none of the images could be read")
    index = data.pop("index")
    n_layers = data["features"].shape[1]
    return dict(data, labels=np.array([items[i][1] for i in index]), files=np.array([str(items[i][0]) for i in index]),
                classes=json.dumps(classes), kind=kind, layers=np.arange(n_layers) if kind == "bigr" else np.array([-1]))


def read_feature_file(path: Path, what: str) -> dict:
    """A features .npz written by `extract_features` (the CLI's `features`)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in ("features", "labels", "classes", "layers", "kind")}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({what})") from None
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"{path}: not a features file from `python -m bigr_app features` ({e})") from None
