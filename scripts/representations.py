"""The paper's second claim on a model: linear probes on BiGR features (every layer), the tokenizer's
bits and raw pixels; t-SNE pictures of BiGR features and of pixels; the Explore tab's map.

    python scripts/representations.py --weights weights/default --data data/emoji64 \\
        --out weights/default/eval --record

Uses the same code as `python -m bigr_app features / probe / explore-index`. With --record the best
layer is written into the weights' config.json (what `Engine.features(layer=None)` uses) and the map
of the held-out split is saved as explore.npz in the weights folder.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bigr_app.analysis.extraction import extract_features  # noqa: E402

from bigr_app.analysis.probe import record_feature_layer  # noqa: E402
from bigr_app.engine import Engine  # noqa: E402
from bigr_app.analysis.explore import INDEX_FILE, build_index, scatter_figure, tsne_2d  # noqa: E402
from bigr_app.analysis.probe import best_layer, layer_sweep, linear_probe  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "default")
    ap.add_argument("--data", type=Path, required=True, help="ImageFolder root with train/ and test/")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--record", action="store_true", help="store the best layer and the map in the weights folder")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    eng = Engine.from_pretrained(args.weights, device="cpu")
    feats = {(kind, split): extract_features(eng, args.data / split, kind, args.batch, "crop", None,
                                             keep_images=(kind, split) == ("bigr", "test"))
             for kind in ("bigr", "bits", "pixels") for split in ("train", "test")}
    y_train, y_test = feats["bigr", "train"]["labels"], feats["bigr", "test"]["labels"]
    layers = [int(v) for v in feats["bigr", "train"]["layers"]]
    per_layer = layer_sweep(feats["bigr", "train"]["features"], y_train, feats["bigr", "test"]["features"], y_test,
                            layers)
    best = best_layer(per_layer)
    baselines = {kind: linear_probe(feats[kind, "train"]["features"][:, 0], y_train,
                                    feats[kind, "test"]["features"][:, 0], y_test) for kind in ("bits", "pixels")}
    rows = [(f"BiGR layer {layer}" + (" (best)" if layer == best else ""), r) for layer, r in per_layer.items()]
    rows += [("tokenizer bits (flattened)", baselines["bits"]), ("raw pixels", baselines["pixels"])]
    print(f"{'features':<28} {'dims':>6} {'top-1':>7} {'top-5':>7}")
    dims = {"bits": feats["bits", "train"]["features"].shape[-1], "pixels": feats["pixels", "train"]["features"].shape[-1]}
    for name, r in rows:
        d = dims["bits"] if "bits" in name else dims["pixels"] if "pixels" in name else eng.bigr.cfg.dim
        print(f"{name:<28} {d:>6} {r.top1:>7.1%} {r.top5:>7.1%}")
    report = dict(best_layer=best, train_size=int(len(y_train)), test_size=int(len(y_test)),
                  bigr={str(k): vars(r) for k, r in per_layer.items()}, bits=vars(baselines["bits"]),
                  pixels=vars(baselines["pixels"]), dims=dict(dims, bigr=eng.bigr.cfg.dim))
    (args.out / "probe.json").write_text(json.dumps(report, indent=2))

    classes = json.loads(str(feats["bigr", "test"]["classes"]))
    test_bigr = feats["bigr", "test"]["features"][:, layers.index(best)]
    left = scatter_figure(tsne_2d(test_bigr), y_test, classes, f"BiGR features, layer {best}")
    right = scatter_figure(tsne_2d(feats["pixels", "test"]["features"][:, 0]), y_test, classes, "raw pixels")
    figure = Image.new("RGB", (left.width + right.width, left.height), "white")
    figure.paste(left, (0, 0))
    figure.paste(right, (left.width, 0))
    figure.save(args.out / "tsne.png")
    print(f"wrote {args.out / 'probe.json'} and {args.out / 'tsne.png'}")
    if args.record:
        record_feature_layer(args.weights, best)
        index = build_index(test_bigr, y_test, classes, feats["bigr", "test"]["images"], best)
        print(f"recorded layer {best}; map: {index.save(args.weights / INDEX_FILE)}")


if __name__ == "__main__":
    main()
