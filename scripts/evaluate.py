"""Measure a trained model on its dataset's held-out split and write the model card's numbers.

    python scripts/evaluate.py --weights weights/default --data data/emoji64 --out weights/default/eval \
        --judge runs/judges [--baseline OLD_WEIGHTS --baseline-data OLD_DATA]

The judge (small CNNs trained on the real training pictures only, and on --judge-extra pictures) gives: its own balanced accuracy on
the real held-out pictures; class faithfulness of samples, per class and balanced; and the features
for a Fréchet distance between samples and the held-out pictures, beside the same distance for the
tokenizer's reconstructions (the floor) and, with --baseline, for an older model's samples against its
own data's held-out pictures. Edge energy (mean Sobel magnitude) of samples and reconstructions is
given relative to the real pictures. Writes OUT/metrics.json, OUT/reconstructions.png (held-out
originals above, reconstructions below) and OUT/samples.png (a row per class), and prints a Markdown
table.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bigr_app import Engine  # noqa: E402
from bigr_app.data.folder import ImageFolder, combined  # noqa: E402
from bigr_app.images import pils_to_tensor  # noqa: E402
from bigr_app.analysis.metrics import (  # noqa: E402
    edge_energy, frechet_distance, judge_features, load_or_train_judge, nearest_distances, predict,
    reconstruction_psnr, summarize,
)
from bigr_app.sampling.params import SamplingParams  # noqa: E402
from bigr_app.images import tensor_to_pils  # noqa: E402
from bigr_app.training.data import dataset_notes  # noqa: E402
from bigr_app.training.loop import save_grid  # noqa: E402


def reconstructions(eng: Engine, pixels: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """The tokenizer's round trip of uint8 pictures, as uint8."""
    out = []
    for i in range(0, len(pixels), batch):
        x = pixels[i : i + batch].float().to(eng.device) / 255
        recon = eng.tokenizer.decode(eng.tokenizer.encode(x, deterministic=True)).clamp(0, 1).cpu()
        out.append((recon * 255).round().to(torch.uint8))
    return torch.cat(out)


def reconstruction_figure(test: ImageFolder, recon: torch.Tensor, path: Path, count: int = 16) -> None:
    picks = np.linspace(0, len(test) - 1, count).astype(int)
    save_grid(tensor_to_pils(torch.cat([test.pixels[picks], recon[picks]]).float() / 255), path, count)


def realism(judge, real: torch.Tensor, **sets: torch.Tensor) -> dict:
    """Per set of pictures: the Fréchet distance to `real` in the judge's features, and its edge energy as a
    share of real's."""
    real_features, real_edges = judge_features(judge, real), edge_energy(real).mean()
    return {name: {"frechet_distance": frechet_distance(judge_features(judge, pixels), real_features),
                   "edge_energy_ratio": float(edge_energy(pixels).mean() / real_edges), "count": len(pixels)}
            for name, pixels in sets.items()}


def unseen_by_v1(data: Path, test: ImageFolder) -> torch.Tensor | None:
    """Mask of the held-out pictures no variant of which the first bundled model trained on, when dataset.json
    lists the others (a model warm-started from v1 has seen those, so they flatter it)."""
    seen = dataset_notes(data).get("held_out_seen_by_v1")
    if seen is None:
        return None
    seen = set(seen)
    return torch.tensor([f.relative_to(data).as_posix() not in seen for f in test.files])


def judge_accuracy(judge, test: ImageFolder) -> dict:
    pred, truth = predict(judge, test.pixels), test.labels.numpy()
    per_class = {name: float((pred[truth == c] == c).mean()) for c, name in enumerate(test.classes) if (truth == c).any()}
    return {"accuracy": float((pred == truth).mean()), "balanced": balanced_accuracy_score(truth, pred),
            "per_class": per_class}


def class_faithfulness(eng: Engine, judge, per_class: int, seed: int, **sampling) -> tuple[torch.Tensor, np.ndarray, dict]:
    """Generate `per_class` samples of every class; the share the judge gives the requested class."""
    generated, labels = generate_all(eng, per_class, seed, **sampling)
    pred = predict(judge, generated)
    per = {eng.class_names[c]: float((pred[labels == c] == c).mean()) for c in range(eng.num_classes)}
    return generated, labels, {"mean": float(np.mean(list(per.values()))), "min": min(per.values()), "per_class": per}


def parse_setting(text: str) -> dict:
    """'cfg_scale=4,temperature=0.7' -> {'cfg_scale': 4.0, 'temperature': 0.7} (names of SamplingParams)."""
    types = {f.name: f.type for f in fields(SamplingParams)}
    setting = {}
    for item in text.split(","):
        name, _, value = item.partition("=")
        if name not in types or not value:
            raise SystemExit(f"--sweep: {item!r} is not NAME=VALUE with NAME one of {', '.join(types)}")
        try:
            setting[name] = {"float": float, "int": int}.get(types[name], str)(value)
        except ValueError:
            raise SystemExit(f"--sweep: {name} needs a {types[name]}, got {value!r}") from None
    return setting


def generate_all(eng: Engine, per_class: int, seed: int, **sampling) -> tuple[torch.Tensor, np.ndarray]:
    """`per_class` samples of every class, as uint8, with their class indices."""
    generated, labels = [], []
    for c in range(eng.num_classes):
        images = eng.generate(c, num_samples=per_class, seed=seed + c, **sampling)
        generated.append((pils_to_tensor(images) * 255).round().to(torch.uint8))
        labels += [c] * per_class
    return torch.cat(generated), np.array(labels)


def baseline_realism(args, judge) -> dict:
    """The older model's samples against its own data's held-out pictures, in this judge's features."""
    old = Engine.from_pretrained(args.baseline, device="cpu")
    data = args.baseline_data or args.data
    test = ImageFolder(data / "test", old.resolution, class_names=old.class_names)
    generated, _ = generate_all(old, args.per_class, args.seed)
    return {"weights": str(args.baseline), "data": str(data),
            **realism(judge, test.pixels, samples=generated)["samples"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=Path("weights/default"))
    ap.add_argument("--data", type=Path, required=True, help="ImageFolder root with train/ and test/")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--per-class", type=int, default=50, help="generated samples per class")
    ap.add_argument("--grid-per-class", type=int, default=8)
    ap.add_argument("--classifier-epochs", type=int, nargs="+", default=[16, 40],
                    help="one judge classifier per value, trained for that many epochs; several vote")
    ap.add_argument("--judge", type=Path, default=None,
                    help="folder caching the judges: each loaded if trained before with the same settings, else saved")
    ap.add_argument("--judge-extra", type=Path, nargs="*", default=[], metavar="DIR",
                    help="more labelled pictures for the judge only, ImageFolders with the model's classes (e.g. "
                         "DATA/judge: the training drawings in another artist's style)")
    ap.add_argument("--baseline", type=Path, default=None, help="an older model's weights, to compare realism with")
    ap.add_argument("--baseline-data", type=Path, default=None,
                    help="the older model's dataset (its held-out pictures are its reference); default --data")
    ap.add_argument("--sweep", nargs="*", default=[], metavar="NAME=VALUE[,NAME=VALUE]",
                    help="also report class faithfulness, Fréchet distance and edge energy at these sampling "
                         "settings and at the defaults, each with --sweep-per-class samples (to choose the "
                         "defaults), e.g. cfg_scale=3 cfg_scale=4,temperature=0.7")
    ap.add_argument("--sweep-per-class", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    settings = [parse_setting(text) for text in args.sweep]  # bad settings fail before any work
    torch.set_grad_enabled(False)
    args.out.mkdir(parents=True, exist_ok=True)
    eng = Engine.from_pretrained(args.weights, device="cpu")
    for setting in settings:
        replace(eng.defaults, **setting).validated()
    train = ImageFolder(args.data / "train", eng.resolution, class_names=eng.class_names)
    test = ImageFolder(args.data / "test", eng.resolution, class_names=eng.class_names)
    metrics: dict = {"weights": str(args.weights), "data": str(args.data), "train_images": len(train),
                     "test_images": len(test), "sampling": eng.defaults.to_dict()}

    values = reconstruction_psnr(eng.tokenizer, test)
    metrics["tokenizer_test_psnr"] = summarize(values)
    recon = reconstructions(eng, test.pixels)
    reconstruction_figure(test, recon, args.out / "reconstructions.png")
    print(f"tokenizer held-out PSNR {values.mean():.2f} dB")

    extra = [ImageFolder(d, eng.resolution, class_names=eng.class_names) for d in args.judge_extra]
    judge_train = combined(train, *extra)
    metrics["judge_train_images"] = len(judge_train)
    judge = load_or_train_judge(args.judge, judge_train, epochs=args.classifier_epochs, seed=args.seed)
    metrics["judge"] = judge_accuracy(judge, test)
    print(f"judge on real held-out pictures: {metrics['judge']['accuracy']:.3f}, balanced {metrics['judge']['balanced']:.3f}")

    if args.sweep:
        metrics["faithfulness_by_setting"] = {}
        print(f"\n| setting | class faithfulness ({args.sweep_per_class} per class) | Fréchet distance | edge energy "
              "vs real |\n|---|---|---|---|")
        # the defaults again at the sweep's sample count: a Fréchet distance grows as fewer samples are drawn,
        # so rows compare with each other, not with the main measurement
        for text, setting in [("defaults", {}), *zip(args.sweep, settings)]:
            swept, _, faith = class_faithfulness(eng, judge, args.sweep_per_class, args.seed + 100, **setting)
            faith["realism"] = realism(judge, test.pixels, samples=swept)["samples"]
            metrics["faithfulness_by_setting"][text] = faith
            print(f"| {text} | {faith['mean']:.1%} (lowest class {faith['min']:.0%}) | "
                  f"{faith['realism']['frechet_distance']:.1f} | {faith['realism']['edge_energy_ratio']:.2f} |", flush=True)

    start = time.time()
    generated, labels, metrics["class_faithfulness"] = class_faithfulness(eng, judge, args.per_class, args.seed)
    metrics["generation_seconds_per_image"] = (time.time() - start) / len(labels)
    print(f"class faithfulness {metrics['class_faithfulness']['mean']:.3f}")

    metrics["realism"] = realism(judge, test.pixels, samples=generated, reconstructions=recon)
    if args.baseline is not None:
        metrics["realism"]["baseline"] = baseline_realism(args, judge)

    clean = unseen_by_v1(args.data, test)
    if clean is not None:
        metrics["unseen_by_v1"] = {
            "count": int(clean.sum()), "tokenizer_test_psnr": summarize(values[clean.numpy()]),
            **realism(judge, test.pixels[clean], samples=generated, reconstructions=recon[clean])}

    nearest_real = nearest_distances(test.pixels, train.pixels)
    nearest_generated = nearest_distances(generated, train.pixels)
    metrics["nearest_train_rms"] = {
        "generated": summarize(nearest_generated), "held_out_real": summarize(nearest_real),
        "generated_below_real_p5": int((nearest_generated < np.percentile(nearest_real, 5)).sum()),
    }
    grid = []
    for c in range(eng.num_classes):
        grid += eng.generate(c, num_samples=args.grid_per_class, seed=1000 + c)
    save_grid(grid, args.out / "samples.png", args.grid_per_class)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    print_table(metrics, args.per_class)


def print_table(m: dict, per_class: int) -> None:
    psnr, judge, faith, real, near = (m["tokenizer_test_psnr"], m["judge"], m["class_faithfulness"], m["realism"],
                                      m["nearest_train_rms"])
    rows = [
        ("tokenizer held-out PSNR (mean / median)", f"{psnr['mean']:.2f} / {psnr['median']:.2f} dB"),
        ("judge on real held-out pictures (balanced / overall)", f"{judge['balanced']:.1%} / {judge['accuracy']:.1%}"),
        (f"class faithfulness, {per_class} samples per class (balanced / lowest class)",
         f"{faith['mean']:.1%} / {faith['min']:.0%}"),
    ]
    for name in ("samples", "reconstructions", "baseline"):
        if name in real:
            r = real[name]
            rows.append((f"{name}: judge-feature Fréchet distance / edge energy vs real",
                         f"{r['frechet_distance']:.1f} / {r['edge_energy_ratio']:.2f}"))
    if "unseen_by_v1" in m:
        clean = m["unseen_by_v1"]
        rows.append((f"on the {clean['count']} held-out pictures v1 never saw: tokenizer PSNR; Fréchet distance of "
                     "samples / reconstructions", f"{clean['tokenizer_test_psnr']['mean']:.2f} dB; "
                     f"{clean['samples']['frechet_distance']:.1f} / {clean['reconstructions']['frechet_distance']:.1f}"))
    rows += [
        ("nearest-train RMS distance, generated (median, p5)",
         f"{near['generated']['median']:.1f}, {near['generated']['p5']:.1f}"),
        ("nearest-train RMS distance, held-out real (median, p5)",
         f"{near['held_out_real']['median']:.1f}, {near['held_out_real']['p5']:.1f}"),
        ("samples nearer a training picture than the held-out p5", str(near["generated_below_real_p5"])),
        (f"generation, s per image (CPU, batch {per_class})", f"{m['generation_seconds_per_image']:.3f}"),
    ]
    print("\n| metric | value |\n|---|---|")
    for name, value in rows:
        print(f"| {name} | {value} |")
    print("\n| class | faithfulness | judge on real |\n|---|---|---|")
    for name, share in faith["per_class"].items():
        print(f"| {name} | {share:.0%} | {judge['per_class'].get(name, float('nan')):.0%} |")


if __name__ == "__main__":
    main()
