"""Measurements for a trained model on a held-out split: tokenizer PSNR, class faithfulness of
samples (judged by an independent classifier trained on real images only), a Fréchet distance in
that judge's features, edge energy (are samples as sharp as real pictures?) and distances to the
nearest training image (are samples copies?)."""
from __future__ import annotations

import hashlib
import math
from pathlib import Path

import cv2
import numpy as np
import scipy.linalg
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.folder import ImageFolder
from ..devices import cpu_has_native_bf16
from ..images import psnr


@torch.no_grad()
def reconstruction_psnr(tokenizer, data: ImageFolder, batch: int = 64) -> np.ndarray:
    """Per-image PSNR (dB) of deterministic-code reconstructions, on the tokenizer's device."""
    device = next(tokenizer.parameters()).device
    values = []
    for i in range(0, len(data), batch):
        x = data.pixels[i : i + batch].to(device).float() / 255
        values.append(psnr(tokenizer.decode(tokenizer.encode(x, deterministic=True)), x).cpu())
    return torch.cat(values).numpy()


class SmallCNN(nn.Module):
    """The independent judge: a small conv net, trained from scratch on real images only."""

    def __init__(self, num_classes: int, width: int = 48):
        super().__init__()

        def block(cin, cout):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.Conv2d(cout, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(),
                                 nn.MaxPool2d(2))

        self.features = nn.Sequential(block(3, width), block(width, 2 * width), block(2 * width, 4 * width),
                                      block(4 * width, 4 * width))
        self.head = nn.Linear(4 * width, num_classes)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate features of pictures in [0, 1]."""
        return self.features(x * 2 - 1).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pooled(x))


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Mirror images, small random shifts and scale changes (emoji sit centred on white)."""
    b = x.shape[0]
    flip = torch.rand(b, generator=g) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    scale = 1 + (torch.rand(b, generator=g) - 0.5) * 0.2
    shift = (torch.rand(b, 2, generator=g) - 0.5) * 0.15
    theta = torch.zeros(b, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, x.shape, align_corners=False)
    return F.grid_sample(x - 1, grid, padding_mode="zeros", align_corners=False) + 1  # pad with white


def train_classifier(train: ImageFolder, epochs: int = 12, batch: int = 64, seed: int = 0,
                     log=print) -> SmallCNN:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    model = SmallCNN(len(train.classes))
    steps = max(1, epochs * (len(train) // batch))
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)
    # balance the classes: the person class alone is half the emoji
    counts = torch.bincount(train.labels, minlength=len(train.classes)).float().clamp_min(1)
    weights = (1.0 / counts[train.labels]).double()
    bf16 = cpu_has_native_bf16()
    model.train()
    for step in range(steps):
        idx = torch.multinomial(weights, batch, replacement=True, generator=g)
        x = augment(train.pixels[idx].float() / 255, g)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):  # twice as fast where native
            loss = F.cross_entropy(model(x), train.labels[idx], label_smoothing=0.05)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log and (step + 1) % 100 == 0:
            log(f"classifier step {step + 1}/{steps} loss {loss.item():.3f}")
    return model.eval()


def fingerprint(data: ImageFolder) -> str:
    """A digest of the pictures and labels: a cached judge is reused only for the same training set."""
    h = hashlib.sha256(data.pixels.numpy().tobytes())
    h.update(data.labels.numpy().tobytes())
    return h.hexdigest()[:16]


def load_or_train_classifier(path: Path | None, train: ImageFolder, epochs: int = 12, seed: int = 0,
                             log=print) -> SmallCNN:
    """The judge from `path` if it was trained there before on the same pictures with the same epochs and seed,
    else train it (and save it there), so repeated evaluations of new weights share one judge."""
    data = fingerprint(train)
    if path is not None and path.is_file():
        saved = torch.load(path, map_location="cpu", weights_only=True)
        if (saved["classes"], saved["epochs"], saved["seed"], saved.get("data")) == (list(train.classes), epochs, seed, data):
            model = SmallCNN(len(train.classes))
            model.load_state_dict(saved["state_dict"])
            return model.eval()
        log(f"{path} was trained on other classes or settings; training a new judge")
    with torch.enable_grad():
        model = train_classifier(train, epochs=epochs, seed=seed, log=log)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"classes": list(train.classes), "epochs": epochs, "seed": seed, "data": data,
                    "state_dict": model.state_dict()}, path)
    return model


class Ensemble(nn.Module):
    """Judges voting with their probabilities; returns log mean probabilities (usable as logits)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x).log_softmax(1) for m in self.members]).logsumexp(0) - math.log(len(self.members))


def load_or_train_judge(folder: Path | None, train: ImageFolder, epochs: list[int], seed: int = 0,
                        log=print) -> nn.Module:
    """One judge per entry of `epochs` (an ensemble if several), each cached in `folder`."""
    members = [
        load_or_train_classifier(folder / f"judge-e{e}-s{seed}.pt" if folder else None, train, e, seed, log)
        for e in epochs
    ]
    return members[0] if len(members) == 1 else Ensemble(members).eval()


@torch.no_grad()
def predict(model: nn.Module, pixels: torch.Tensor, batch: int = 128) -> np.ndarray:
    """Labels for uint8 pixels [N, 3, H, W]: the class most probable on average over the picture and its
    mirror image (the judge was trained on both)."""
    out = []
    for i in range(0, len(pixels), batch):
        x = pixels[i : i + batch].float() / 255
        out.append((model(x).softmax(1) + model(x.flip(-1)).softmax(1)).argmax(1))
    return torch.cat(out).numpy()


@torch.no_grad()
def judge_features(model: nn.Module, pixels: torch.Tensor, batch: int = 128) -> np.ndarray:
    """Penultimate features of uint8 pixels [N, 3, H, W] (every judge's, side by side, for an ensemble)."""
    members = list(model.members) if isinstance(model, Ensemble) else [model]
    out = []
    for i in range(0, len(pixels), batch):
        x = pixels[i : i + batch].float() / 255
        out.append(torch.cat([m.pooled(x) for m in members], dim=1))
    return torch.cat(out).double().numpy()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """The Fréchet distance between Gaussians fitted to two sets of feature rows (FID's formula). Small sets
    bias it upwards, so compare only figures computed against the same reference set."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b)
    if np.iscomplexobj(root):
        root = root.real  # rounding leaves tiny imaginary parts
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root))


def edge_energy(pixels: torch.Tensor) -> np.ndarray:
    """Per picture, the mean Sobel gradient magnitude of its grey version (0-255 scale): blur lowers it."""
    out = []
    for picture in pixels.permute(0, 2, 3, 1).numpy():
        grey = cv2.cvtColor(np.ascontiguousarray(picture), cv2.COLOR_RGB2GRAY).astype(np.float32)
        gx, gy = cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)
        out.append(float(np.sqrt(gx * gx + gy * gy).mean()))
    return np.array(out)


def nearest_distances(queries: torch.Tensor, reference: torch.Tensor, batch: int = 256) -> np.ndarray:
    """Per query, the RMS pixel distance (0-255 scale) to its nearest image in `reference`."""
    ref = reference.flatten(1).float()
    ref_sq = (ref * ref).sum(1)
    out = []
    for i in range(0, len(queries), batch):
        q = queries[i : i + batch].flatten(1).float()
        d2 = (q * q).sum(1, keepdim=True) + ref_sq[None] - 2 * q @ ref.T
        out.append((d2.clamp_min(0).min(1).values / ref.shape[1]).sqrt())
    return torch.cat(out).numpy()


def summarize(values: np.ndarray) -> dict[str, float]:
    q = np.percentile(values, [5, 25, 50, 75, 95])
    return {"mean": float(values.mean()), "p5": float(q[0]), "p25": float(q[1]), "median": float(q[2]),
            "p75": float(q[3]), "p95": float(q[4])}
