"""Measure a trained model on its dataset's held-out split and write the model card's numbers.

    python scripts/evaluate.py --weights weights/default --data data/emoji64 --out weights/default/eval

Writes OUT/metrics.json, OUT/reconstructions.png (held-out originals above, reconstructions
below) and OUT/samples.png (a row per class), and prints a Markdown table.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bigr_app import Engine  # noqa: E402
from bigr_app.data.folder import ImageFolder  # noqa: E402
from bigr_app.images import pils_to_tensor  # noqa: E402
from bigr_app.metrics import (  # noqa: E402
    load_or_train_judge, nearest_distances, predict, reconstruction_psnr, summarize,
)
from bigr_app.sampler import SamplingParams  # noqa: E402
from bigr_app.train import save_grid  # noqa: E402


def reconstruction_figure(eng: Engine, test: ImageFolder, path: Path, count: int = 16) -> None:
    picks = np.linspace(0, len(test) - 1, count).astype(int)
    x = test.pixels[picks].float() / 255
    with torch.no_grad():
        recon = eng.tokenizer.decode(eng.tokenizer.encode(x.to(eng.device), deterministic=True)).cpu()
    from bigr_app.images import tensor_to_pils

    save_grid(tensor_to_pils(torch.cat([x, recon.clamp(0, 1)])), path, count)


def class_faithfulness(eng: Engine, judge, per_class: int, seed: int, **sampling) -> tuple[torch.Tensor, np.ndarray, dict]:
    """Generate `per_class` samples of every class; the share the judge gives the requested class."""
    generated, labels = [], []
    for c in range(eng.num_classes):
        images = eng.generate(c, num_samples=per_class, seed=seed + c, **sampling)
        generated.append((pils_to_tensor(images) * 255).round().to(torch.uint8))
        labels += [c] * per_class
    generated, labels = torch.cat(generated), np.array(labels)
    pred = predict(judge, generated)
    per = {eng.class_names[c]: float((pred[labels == c] == c).mean()) for c in range(eng.num_classes)}
    return generated, labels, {"mean": float(np.mean(list(per.values()))), "per_class": per}


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
    ap.add_argument("--sweep", nargs="*", default=[], metavar="NAME=VALUE[,NAME=VALUE]",
                    help="also report class faithfulness at these sampling settings (to choose the defaults), "
                         "e.g. cfg_scale=3 cfg_scale=4,temperature=0.7")
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
    reconstruction_figure(eng, test, args.out / "reconstructions.png")
    print(f"tokenizer held-out PSNR {values.mean():.2f} dB")

    judge = load_or_train_judge(args.judge, train, epochs=args.classifier_epochs, seed=args.seed)
    test_pred = predict(judge, test.pixels)
    metrics["classifier_test_accuracy"] = float((test_pred == test.labels.numpy()).mean())
    print(f"judge classifier held-out accuracy {metrics['classifier_test_accuracy']:.3f}")

    if args.sweep:
        metrics["faithfulness_by_setting"] = {}
        print(f"\n| setting | class faithfulness ({args.sweep_per_class} per class) |\n|---|---|")
        for text, setting in zip(args.sweep, settings):
            _, _, faith = class_faithfulness(eng, judge, args.sweep_per_class, args.seed + 100, **setting)
            metrics["faithfulness_by_setting"][text] = faith
            print(f"| {text} | {faith['mean']:.1%} |", flush=True)

    start = time.time()
    generated, labels, metrics["class_faithfulness"] = class_faithfulness(eng, judge, args.per_class, args.seed)
    metrics["generation_seconds_per_image"] = (time.time() - start) / len(labels)
    print(f"class faithfulness {metrics['class_faithfulness']['mean']:.3f}")

    metrics["nearest_train_rms"] = {
        "generated": summarize(nearest_distances(generated, train.pixels)),
        "held_out_real": summarize(nearest_distances(test.pixels, train.pixels)),
    }
    grid = []
    for c in range(eng.num_classes):
        grid += eng.generate(c, num_samples=args.grid_per_class, seed=1000 + c)
    save_grid(grid, args.out / "samples.png", args.grid_per_class)
    (args.out / "metrics.json").write_text(json.dumps(metrics, indent=2))

    nn_gen, nn_real = metrics["nearest_train_rms"]["generated"], metrics["nearest_train_rms"]["held_out_real"]
    print("\n| metric | value |\n|---|---|")
    print(f"| tokenizer held-out PSNR (mean / median) | {values.mean():.2f} / {np.median(values):.2f} dB |")
    print(f"| judge classifier held-out accuracy | {metrics['classifier_test_accuracy']:.1%} |")
    print(f"| class faithfulness, {args.per_class} samples per class (mean) | {metrics['class_faithfulness']['mean']:.1%} |")
    print(f"| nearest-train RMS distance, generated (median, p5) | {nn_gen['median']:.1f}, {nn_gen['p5']:.1f} |")
    print(f"| nearest-train RMS distance, held-out real (median, p5) | {nn_real['median']:.1f}, {nn_real['p5']:.1f} |")
    print(f"| generation, s per image (CPU, batch {args.per_class}) | {metrics['generation_seconds_per_image']:.3f} |")


if __name__ == "__main__":
    main()
