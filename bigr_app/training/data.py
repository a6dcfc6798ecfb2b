"""What training reads: the splits of an ImageFolder tree, its dataset notes (mirroring, description), the
batches (class-balanced if asked), and what a trained folder records about where it came from."""
from __future__ import annotations

import json
from pathlib import Path

import torch


def splits(data: Path) -> tuple[Path, Path | None]:
    if (data / "train").is_dir():
        return data / "train", (data / "test" if (data / "test").is_dir() else None)
    return data, None


def dataset_notes(data: Path) -> dict:
    """DATA/dataset.json, written by dataset builders such as bigr_app.data.emoji ({} when absent)."""
    path = data / "dataset.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def mirror_allowed(data: Path, classes: list[str]) -> torch.Tensor:
    """Per class: may its pictures be mirrored in training? Not for the classes dataset.json lists as
    not_mirrored (text, flags, clock hands)."""
    banned = set(dataset_notes(data).get("not_mirrored", []))
    return torch.tensor([name not in banned for name in classes])


def tokenizer_record(config: dict) -> dict:
    """How long a folder's tokenizer trained: in a tokenizer's own folder `trained_steps` counts its steps; a
    whole model's folder carries them as `tokenizer_trained_steps` (`trained_steps` is then BiGR's)."""
    record = {"tokenizer_trained_steps": config.get("tokenizer_trained_steps", config.get("trained_steps"))}
    if "decoder_trained_steps" in config:
        record["decoder_trained_steps"] = config["decoder_trained_steps"]
    return record


def trained_on(data: Path, resolution: int, classes: list[str]) -> str:
    """config.json's domain["trained_on"]: the app shows it beside users' pictures."""
    return dataset_notes(data).get("description") or (
        f"{resolution}x{resolution} pictures from {data.name} ({len(classes)} classes)")


def training_loader(dataset, labels: torch.Tensor, batch: int, balance: float,
                    seed: int = 0) -> torch.utils.data.DataLoader:
    """Shuffled batches; with balance > 0 each picture is drawn with weight n_c ** -balance, where n_c is the
    size of its class: 0 keeps the data's class frequencies, 1 shows every class equally often. The order
    follows `seed` alone, so that processes sharing a global batch agree on it (accelerate then gives each
    its slice)."""
    if len(labels) < batch:  # drop_last would leave no batch at all
        raise SystemExit(f"only {len(labels)} training pictures, fewer than one batch: pass --batch {len(labels)} "
                         "or less, or add pictures")
    order = torch.Generator().manual_seed(seed)
    if balance == 0:
        return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True, generator=order)
    sizes = torch.bincount(labels).double()
    weights = sizes[labels] ** -balance
    sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=len(labels), replacement=True,
                                                     generator=order)
    return torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=True)


def endless(loader):
    while True:
        yield from loader
