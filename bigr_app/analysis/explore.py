"""A browsable map of a reference image set: BiGR features, their 2-D t-SNE, nearest neighbours.

t-SNE has no transform for new points, so an uploaded image is placed at the distance-weighted
mean of its nearest reference neighbours' positions.
"""
from __future__ import annotations

import colorsys
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from sklearn.manifold import TSNE

from ..errors import InputError

INDEX_FILE = "explore.npz"


def tsne_2d(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """Standardised features -> [N, 2] t-SNE coordinates scaled into [-1, 1]."""
    n = len(features)
    if n < 3:
        raise InputError(f"a map needs at least 3 images, got {n}")
    x = (features - features.mean(0)) / (features.std(0) + 1e-6)
    coords = TSNE(2, perplexity=min(30.0, (n - 1) / 3), init="pca", random_state=seed).fit_transform(x)
    coords = coords - coords.mean(0)
    return (coords / (np.abs(coords).max() + 1e-9)).astype(np.float32)


@dataclass
class ExploreIndex:
    features: np.ndarray  # [N, D] float32
    coords: np.ndarray  # [N, 2] in [-1, 1]
    labels: np.ndarray  # [N] int
    classes: list[str]
    thumbnails: np.ndarray  # [N, H, W, 3] uint8
    layer: int

    def __post_init__(self):
        self.mean = self.features.mean(0)
        self.scale = self.features.std(0) + 1e-6
        unit = (self.features - self.mean) / self.scale
        self._unit = unit / (np.linalg.norm(unit, axis=1, keepdims=True) + 1e-9)

    def __len__(self) -> int:
        return len(self.labels)

    def nearest(self, feature: np.ndarray, k: int = 8) -> tuple[np.ndarray, np.ndarray]:
        """Indices and cosine similarities of the k nearest reference images (standardised features)."""
        if feature.shape != (self.features.shape[1],):
            raise InputError(f"feature must have {self.features.shape[1]} dims, got shape {feature.shape}")
        q = (feature - self.mean) / self.scale
        sims = self._unit @ (q / (np.linalg.norm(q) + 1e-9))
        order = np.argsort(-sims)[: max(1, min(k, len(self)))]
        return order, sims[order]

    def place(self, feature: np.ndarray, k: int = 8) -> np.ndarray:
        """Where a new image lands on the map: neighbours' coordinates weighted by similarity."""
        idx, sims = self.nearest(feature, k)
        w = np.exp((sims - sims.max()) * 10.0)
        return (self.coords[idx] * w[:, None]).sum(0) / w.sum()

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez_compressed(path, features=self.features.astype(np.float16), coords=self.coords, labels=self.labels,
                            thumbnails=self.thumbnails, layer=self.layer, classes=json.dumps(self.classes))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "ExploreIndex":
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                return cls(f["features"].astype(np.float32), f["coords"], f["labels"], json.loads(str(f["classes"])),
                           f["thumbnails"], int(f["layer"]))
        except FileNotFoundError:
            raise InputError(f"{path}: no such file") from None
        except (OSError, KeyError, ValueError) as e:
            raise InputError(f"{path}: not a map index ({e})") from None


def build_index(features: np.ndarray, labels: np.ndarray, classes: list[str], images: np.ndarray, layer: int,
                thumb: int = 48, seed: int = 0) -> ExploreIndex:
    """Features [N, D] + the images [N, H, W, 3] uint8 they came from -> a map with thumbnails."""
    thumbs = np.stack([np.asarray(Image.fromarray(im).resize((thumb, thumb), Image.BILINEAR)) for im in images])
    return ExploreIndex(features.astype(np.float32), tsne_2d(features, seed), labels.astype(np.int64), list(classes),
                        thumbs, layer)


# Kelly's colours of maximum contrast without white, black (the user's own picture in the map) and olive
# (too close to black), in farthest-first order: the first n are far apart for any n.
KELLY = ("F3C300", "0067A5", "BE0032", "A1CAF1", "875692", "F99379", "654522", "8DB600", "E25822", "008856",
         "C2B280", "B3446C", "F38400", "E68FAC", "848482", "882D17", "604E97", "F6A600", "DCD300")


def class_colours(n: int) -> list[tuple[int, int, int]]:
    """n colours that stay apart: Kelly's list, then evenly spaced hues beyond its 19."""
    kelly = [tuple(int(h[i:i + 2], 16) for i in (0, 2, 4)) for h in KELLY]
    if n <= len(kelly):
        return kelly[:n]
    return [tuple(int(255 * c) for c in colorsys.hsv_to_rgb(i / n, 0.75, 0.85)) for i in range(n)]


def scatter_figure(coords: np.ndarray, labels: np.ndarray, classes: list[str], title: str, size: int = 480) -> Image.Image:
    """A plain PIL scatter plot of [-1, 1] coordinates coloured by class, with a legend."""
    legend_w = 150
    fig = Image.new("RGB", (size + legend_w, size + 30), "white")
    draw = ImageDraw.Draw(fig)
    draw.text((10, 8), title, fill="black")
    colours = class_colours(len(classes))
    pad = 12
    for (x, y), label in zip(coords, labels):
        px, py = pad + (x + 1) / 2 * (size - 2 * pad), 30 + pad + (1 - (y + 1) / 2) * (size - 2 * pad)
        draw.ellipse((px - 3, py - 3, px + 3, py + 3), fill=colours[int(label)])
    for i, name in enumerate(classes):
        draw.rectangle((size + 5, 40 + 18 * i, size + 15, 50 + 18 * i), fill=colours[i])
        draw.text((size + 20, 38 + 18 * i), name, fill="black")
    return fig
