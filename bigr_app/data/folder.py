"""An ImageFolder tree (one sub-folder per class) read into memory as uint8 tensors."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InputError
from ..images import fit, open_image, to_rgb

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}


def list_image_folder(root: str | Path) -> tuple[list[str], list[tuple[Path, int]]]:
    """Class names (sorted sub-folder names) and (file, class index) pairs."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise InputError(f"{root}: no class sub-folders (expected ROOT/<class>/<image files>)")
    items = [
        (f, i)
        for i, name in enumerate(classes)
        for f in sorted((root / name).rglob("*"))
        if f.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not items:
        raise InputError(f"{root}: no images found")
    return classes, items


class ImageFolder(Dataset):
    """All images fitted to `resolution` and held in memory (uint8); unreadable files are skipped."""

    def __init__(self, root: str | Path, resolution: int, fit_mode: str = "crop", class_names: list[str] | None = None):
        classes, items = list_image_folder(root)
        if class_names is not None:
            unknown = sorted(set(classes) - set(class_names))
            if unknown:
                raise InputError(f"{root}: classes {unknown} are not among the model's classes")
            remap = {i: class_names.index(name) for i, name in enumerate(classes)}
            items = [(f, remap[i]) for f, i in items]
            classes = list(class_names)
        self.classes = classes
        self.root = Path(root)
        pixels, labels, self.files, self.skipped = [], [], [], []
        for path, label in items:
            try:
                fitted = fit(to_rgb(open_image(path)), resolution, fit_mode)[0]
            except InputError as e:
                self.skipped.append(str(e))
                continue
            pixels.append(np.asarray(fitted, dtype=np.uint8))
            labels.append(label)
            self.files.append(path)
        if not pixels:
            raise InputError(f"{root}: none of the images could be read")
        self.pixels = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).contiguous()
        self.labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pixels[i].float() / 255.0, self.labels[i]


def combined(first: ImageFolder, *others: ImageFolder) -> ImageFolder:
    """The pictures of several ImageFolders with the same classes, as one (the first's root)."""
    if any(o.classes != first.classes for o in others):
        raise InputError("combined ImageFolders must have the same classes")
    out = copy.copy(first)
    out.pixels = torch.cat([first.pixels, *(o.pixels for o in others)])
    out.labels = torch.cat([first.labels, *(o.labels for o in others)])
    out.files = first.files + [f for o in others for f in o.files]
    out.skipped = first.skipped + [s for o in others for s in o.skipped]
    return out
