"""Command line: `bigr <task> ...` (or `python -m bigr_app <task> ...`) for every Engine task.

Each task writes PNGs (parameters embedded as PNG text) with a JSON sidecar into --out.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from .config import GRAPH_MODES, PRECISIONS
from .edits import PASTES, REGIONS
from .errors import BiGRError, InputError
from .hub import OFFICIAL_MODELS
from .images import open_image
from .pnginfo import picture_params, save_png
from .resumable import gather_chunks, parts_folder, run_chunks

TASKS = ("generate", "inpaint", "outpaint", "edit", "interpolate", "enrich", "vary", "sample-npz", "features", "probe",
         "explore-index", "convert")


# ---- argument groups shared by the tasks --------------------------------------------------
def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--weights", type=Path, default=None, help="our weights folder (default: the bundled model)")
    g.add_argument("--model", choices=list(OFFICIAL_MODELS), default=None,
                   help="an official model, downloaded from the Hugging Face Hub on first use")
    g.add_argument("--bigr", type=Path, default=None, help="official BiGR checkpoint (.pt)")
    g.add_argument("--bae", type=Path, default=None, help="official B-AE checkpoint (.th)")
    g.add_argument("--heads", type=int, default=None,
                   help="attention heads, for official-format files that match no release preset")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    g.add_argument("--compile", action="store_true", help="torch.compile the backbone and transcoder step")
    g.add_argument("--graphs", choices=GRAPH_MODES, default="auto",
                   help="replay sampling as recorded CUDA graphs (auto: on a GPU)")
    g.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 on GPUs and on CPUs with native bf16 (AVX512-BF16/AMX), else fp32")


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling (defaults: the model's)")
    g.add_argument("--cfg", dest="cfg_scale", type=float, help="classifier-free guidance scale")
    g.add_argument("--cfg-schedule", choices=["constant", "linear"])
    g.add_argument("--iterations", type=int, help="unmasking iterations N")
    g.add_argument("--gumbel", type=float, help="Gumbel noise temperature on the confidence")
    g.add_argument("--gumbel-schedule", choices=["constant", "down", "up"])
    g.add_argument("--steps", dest="diffusion_steps", type=int, help="transcoder diffusion steps T (of 256)")
    g.add_argument("--temperature", type=float, help="transcoder logit temperature")
    g.add_argument("--seed", type=int, default=0)


def add_output_args(p: argparse.ArgumentParser, samples: bool = True) -> None:
    p.add_argument("--out", type=Path, default=Path("outputs"), help="output folder")
    if samples:
        p.add_argument("--num-samples", type=int, default=1)


def add_image_args(p: argparse.ArgumentParser, mask: str | None) -> None:
    p.add_argument("image", type=Path)
    if mask:
        p.add_argument("--mask", type=Path, required=mask == "required", help="white = regenerate")
        p.add_argument("--fit", choices=["crop", "letterbox"], default="crop", help="how a whole region is fitted")
    else:
        p.add_argument("--fit", choices=["auto", "crop", "letterbox"], default="auto",
                       help="auto: the whole picture (letterboxed when not square); crop: its centre square only")


def add_blend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--blend", dest="blend_mode", choices=["none", "feather", "poisson"], default="feather")
    p.add_argument("--feather-radius", type=float, default=4.0,
                   help="in model pixels (scaled with the picture: x4 on a picture 4x the model's resolution)")
    p.add_argument("--threshold", type=float, default=0.0, help="cell coverage above which a cell is regenerated")
    p.add_argument("--grow", type=int, default=0, help="grow (>0) or shrink (<0) the mask by cells")
    p.add_argument("--region", choices=REGIONS, default="auto",
                   help="masked: regenerate the mask's neighbourhood at the model's resolution and paste it back; "
                        "whole: fit the whole picture (--fit); auto: masked when that is smaller than the picture")
    p.add_argument("--padding", type=int, default=None,
                   help="masked region: context around the mask, in pixels at the model's scale (default: 1/8 of it)")
    p.add_argument("--strength", type=float, default=1.0,
                   help="share of the masked cells resampled, in (0, 1]; the others keep the picture's codes")
    p.add_argument("--paste", choices=PASTES, default=None,
                   help="cells: every pixel of the regenerated cells (edit's default); mask: only the masked "
                        "pixels (inpaint's and outpaint's default)")


def build_parser() -> argparse.ArgumentParser:
    prog = "bigr" if Path(sys.argv[0]).name == "bigr" else "python -m bigr_app"  # the console script, or -m
    ap = argparse.ArgumentParser(prog=prog, description=__doc__)
    sub = ap.add_subparsers(dest="task", required=True)
    specs = {
        "generate": ("class-conditional generation", None),
        "inpaint": ("regenerate the masked region", "required"),
        "outpaint": ("keep the masked region and regenerate the rest, or --expand the canvas", "optional"),
        "edit": ("regenerate the masked region as another class", "required"),
        "interpolate": ("morph between two classes (strip + GIF)", None),
        "enrich": ("add detail by re-sampling interleaved token groups", None),
        "vary": ("variations: re-sample a share of the tokens", None),
    }
    for task, (help_text, mask) in specs.items():
        p = sub.add_parser(task, help=help_text)
        add_model_args(p)
        add_sampling_args(p)
        add_output_args(p, samples=task not in ("interpolate", "enrich"))
        if task not in ("generate", "interpolate"):
            add_image_args(p, mask)
        if task in ("inpaint", "outpaint", "edit"):
            add_blend_args(p)
        if task in ("generate",):
            p.add_argument("--class", dest="classes", action="append", default=None,
                           help="class name or index (repeatable); omit for unconditional")
        if task in ("inpaint", "outpaint", "edit", "enrich", "vary"):
            p.add_argument("--class", dest="class_id", default=None, required=task == "edit",
                           help="class name or index" + ("" if task == "edit" else " (default: unconditional)"))
        if task == "outpaint":
            p.add_argument("--expand", type=int, nargs=4, metavar=("LEFT", "TOP", "RIGHT", "BOTTOM"))
        if task == "interpolate":
            p.add_argument("--class-a", required=True)
            p.add_argument("--class-b", required=True)
            p.add_argument("--ratios", type=float, nargs="+", default=None)
            p.add_argument("--frames", type=int, default=9, help="evenly spaced ratios from 1 to 0")
        if task == "enrich":
            p.add_argument("--rounds", type=int, default=1)
            p.add_argument("--downsample-rate", type=int, default=2)
        if task == "vary":
            p.add_argument("--strength", type=float, default=0.5)
    p = sub.add_parser("sample-npz", help="many samples in the ADM evaluation format (arr_0: N x H x W x 3 uint8)")
    add_model_args(p)
    add_sampling_args(p)
    p.add_argument("--out", type=Path, required=True, help="the .npz to write")
    p.add_argument("--num", type=int, default=None, help="total images (default: per-class x classes)")
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--batch", type=int, default=16)

    p = sub.add_parser("convert", help="write a model (official files or --model) as our folder: config.json + "
                                        "model.safetensors, faster and safer to load")
    add_model_args(p)
    p.add_argument("--out", type=Path, required=True, help="the folder to write")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="precision of the stored weights")

    p = feature_task(sub, "features", "features of an ImageFolder tree (.npz; resumable)")
    p.add_argument("--data", type=Path, required=True, help="ImageFolder root: one sub-folder per class")
    p.add_argument("--out", type=Path, required=True, help="the .npz to write")

    p = feature_task(sub, "probe", "linear probe on frozen features, swept over layers")
    p.add_argument("--train", type=Path, required=True, help="features .npz (or an ImageFolder tree)")
    p.add_argument("--test", type=Path, required=True, help="features .npz (or an ImageFolder tree)")
    p.add_argument("--layer", type=int, default=None, help="probe only this layer (default: every layer)")
    p.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the logistic regression")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--record", type=Path, default=None, help="weights folder whose config gets the best layer")

    p = feature_task(sub, "explore-index", "the Explore tab's map of a reference ImageFolder tree")
    p.add_argument("--data", type=Path, required=True, help="ImageFolder root of reference images (e.g. held-out)")
    p.add_argument("--layer", type=int, default=None, help="feature layer (default: the model's best)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default: explore.npz in the weights folder")
    return ap


def feature_task(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    """A representation subcommand: model options plus the feature options."""
    p = sub.add_parser(name, help=help_text)
    add_model_args(p)
    p.add_argument("--kind", choices=["bigr", "bits", "pixels"], default="bigr",
                   help="BiGR hidden states (every layer), the tokenizer's bits, or raw pixels")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--fit", choices=["crop", "letterbox"], default="crop")
    return p


# ---- running ----------------------------------------------------------------------------
def load_engine(args):
    from .engine import Engine

    options = dict(device=args.device, compile=args.compile, precision=args.precision, graphs=args.graphs,
                   heads=args.heads)
    chosen = [flag for flag, given in (("--weights", args.weights), ("--model", args.model),
                                       ("--bigr/--bae", args.bigr or args.bae)) if given]
    if len(chosen) > 1:
        raise InputError(f"choose one source of weights, not {' and '.join(chosen)}")
    if args.bigr or args.bae:
        return Engine.from_pretrained(bigr=args.bigr, bae=args.bae, **options)
    return Engine.from_pretrained(args.model or args.weights, **options)


def sampling_kwargs(args) -> dict:
    keys = ("cfg_scale", "cfg_schedule", "iterations", "gumbel", "gumbel_schedule", "diffusion_steps", "temperature")
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


class ProgressBar:
    """A tqdm bar fed by the engine's (done, total) callbacks."""

    def __init__(self, desc: str):
        self.bar = tqdm(desc=desc, unit="it", dynamic_ncols=True)

    def __call__(self, done: int, total: int) -> None:
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def run_task(args) -> list[Path]:
    eng = load_engine(args)
    bar = ProgressBar(args.task)
    common = dict(seed=args.seed, progress=bar, **sampling_kwargs(args))
    try:
        if args.task == "generate":
            classes = args.classes or [None]
            images = eng.generate(classes, num_samples=args.num_samples, **common)
            params = dict(task="generate", classes=classes, num_samples=args.num_samples,
                          **eng.sampling_params(**sampling_kwargs(args)).to_dict(), seed=args.seed)
        elif args.task == "interpolate":
            ratios = args.ratios or list(np.linspace(1.0, 0.0, args.frames))
            images = eng.interpolate(args.class_a, args.class_b, ratios, **common)
            params = images.params
        else:
            image = open_image(args.image)
            kw = dict(common, fit=args.fit)
            if args.task in ("inpaint", "edit", "outpaint"):
                kw.update(blend_mode=args.blend_mode, feather_radius=args.feather_radius, threshold=args.threshold,
                          grow=args.grow, region=args.region, padding=args.padding, num_samples=args.num_samples,
                          strength=args.strength, **({"paste": args.paste} if args.paste else {}))
            mask = open_image(args.mask) if getattr(args, "mask", None) else None
            if args.task == "inpaint":
                images = eng.inpaint(image, mask, class_id=args.class_id, **kw)
            elif args.task == "edit":
                images = eng.edit(image, mask, class_id=args.class_id, **kw)
            elif args.task == "outpaint":
                expand = tuple(args.expand) if args.expand else None
                if expand is not None:
                    for k in ("fit", "blend_mode", "feather_radius", "threshold", "grow", "region", "padding",
                              "strength", "paste"):
                        kw.pop(k, None)
                images = eng.outpaint(image, mask=mask, expand=expand, class_id=args.class_id, **kw)
            elif args.task == "enrich":
                images = eng.enrich(image, rounds=args.rounds, downsample_rate=args.downsample_rate,
                                    class_id=args.class_id, **kw)
            else:
                images = eng.vary(image, strength=args.strength, class_id=args.class_id,
                                  num_samples=args.num_samples, **kw)
            params = dict(images.params, source=str(args.image))
    finally:
        bar.close()
    params["model"] = eng.describe()
    written = [save_png(img, args.out / f"{args.task}_s{args.seed}_{i:02d}.png", picture_params(params, i))
               for i, img in enumerate(images)]
    if args.task == "interpolate":
        written += write_strip_and_gif(images, args.out / f"interpolate_s{args.seed}", params)
    return written


def write_strip_and_gif(images: list[Image.Image], stem: Path, params: dict) -> list[Path]:
    w, h = images[0].size
    strip = Image.new("RGB", (w * len(images), h), "white")
    for i, img in enumerate(images):
        strip.paste(img, (i * w, 0))
    strip_path = save_png(strip, stem.with_name(stem.name + "_strip.png"), params)
    gif_path = stem.with_name(stem.name + ".gif")
    frames = images + images[-2:0:-1]  # there and back
    frames[0].save(gif_path, save_all=True, append_images=frames[1:], duration=120, loop=0)
    return [strip_path, gif_path]


def run_sample_npz(args) -> list[Path]:
    """Sharded over processes (accelerate launch), resumable: chunks land in OUT.parts/ first."""
    from accelerate import PartialState
    import torch

    state = PartialState()
    eng = load_engine(argparse.Namespace(**{**vars(args), "device": str(state.device) if args.device == "auto" else args.device}))
    total = args.num if args.num is not None else args.per_class * eng.num_classes
    chunks = range(0, total, args.batch)

    def sample_chunk(start: int) -> dict[str, np.ndarray]:
        ids = torch.tensor([(i // args.per_class) % eng.num_classes for i in range(start, min(total, start + args.batch))])
        bits = eng.generate_tokens(ids.to(eng.device), seed=args.seed + start, **sampling_kwargs(args))
        return dict(arr_0=np.stack([np.asarray(im) for im in eng.decode(bits)]), labels=ids.numpy())

    mine = [c for k, c in enumerate(chunks) if k % state.num_processes == state.process_index]
    run_chunks(args.out, mine, sample_chunk, desc=f"rank {state.process_index}", show=state.is_main_process)
    state.wait_for_everyone()
    if not state.is_main_process:
        return []
    np.savez(args.out, **gather_chunks(args.out, chunks))
    return [args.out]


# ---- representations --------------------------------------------------------------------
def extract_features(eng, root: Path, kind: str, batch: int, fit: str, out: Path | None,
                     keep_images: bool = False) -> dict:
    """Features of every image of an ImageFolder tree (resumable when `out` is given)."""
    from .data.folder import list_image_folder
    from .errors import InputError

    classes, items = list_image_folder(root)
    if isinstance(batch, bool) or batch < 1:
        raise InputError(f"batch must be a positive integer, got {batch}")
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
        arrays = dict(features=eng.features_of_kind(kind, images, fit), index=np.array(kept))
        if keep_images:
            arrays["images"] = (eng.images_to_tensor(images, fit).permute(0, 2, 3, 1).cpu().numpy() * 255).round().astype(np.uint8)
        return arrays

    with tempfile.TemporaryDirectory() as scratch:
        target = out if out is not None else Path(scratch) / "features.npz"
        run_chunks(target, starts, feature_chunk, desc=f"{kind} features")
        data = gather_chunks(target, starts)
    if "features" not in data:
        raise InputError(f"{root}: none of the images could be read")
    index = data.pop("index")
    n_layers = data["features"].shape[1]
    return dict(data, labels=np.array([items[i][1] for i in index]), files=np.array([str(items[i][0]) for i in index]),
                classes=json.dumps(classes), kind=kind, layers=np.arange(n_layers) if kind == "bigr" else np.array([-1]))


def run_features(args) -> list[Path]:
    eng = load_engine(args)
    data = extract_features(eng, args.data, args.kind, args.batch, args.fit, args.out)
    np.savez(args.out, **data)
    shutil.rmtree(parts_folder(args.out), ignore_errors=True)
    print(f"{len(data['labels'])} images -> features {data['features'].shape} ({args.kind})", file=sys.stderr)
    return [args.out]


def load_feature_set(path: Path, what: str, args) -> dict:
    """A features .npz, or an ImageFolder tree to extract features from now."""
    from .errors import InputError

    if path.is_dir():
        return extract_features(load_engine(args), path, args.kind, args.batch, args.fit, None)
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in ("features", "labels", "classes", "layers", "kind")}
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({what})") from None
    except (OSError, KeyError, ValueError) as e:
        raise InputError(f"{path}: not a features file from `python -m bigr_app features` ({e})") from None


def align_labels(train: dict, test: dict) -> np.ndarray:
    """Test labels renumbered into the training set's class list (unknown classes -> -1)."""
    train_classes, test_classes = json.loads(str(train["classes"])), json.loads(str(test["classes"]))
    lookup = np.array([train_classes.index(c) if c in train_classes else -1 for c in test_classes])
    return lookup[test["labels"]]


def run_probe(args) -> list[Path]:
    from .probe import best_layer, layer_sweep

    train, test = load_feature_set(args.train, "--train", args), load_feature_set(args.test, "--test", args)
    layers = [int(v) for v in train["layers"]]
    if args.layer is not None:
        from .errors import InputError
        if args.layer not in layers:
            raise InputError(f"layer {args.layer} is not in the features file (layers {layers})")
        keep = [layers.index(args.layer)]
        train["features"], test["features"], layers = train["features"][:, keep], test["features"][:, keep], [args.layer]
    results = layer_sweep(train["features"], train["labels"], test["features"], align_labels(train, test), layers, args.c)
    best = best_layer(results)
    print(f"{'layer':>6} {'top-1':>7} {'top-5':>7}   ({str(train['kind'])}; {results[best].train_size} train, "
          f"{results[best].test_size} test)")
    for layer, r in results.items():
        print(f"{layer:>6} {r.top1:7.1%} {r.top5:7.1%}{'   <- best' if layer == best and len(results) > 1 else ''}")
    written = []
    if args.json:
        report = dict(kind=str(train["kind"]), best_layer=best, layers={str(k): vars(r) for k, r in results.items()})
        args.json.write_text(json.dumps(report, indent=2))
        written.append(args.json)
    if args.record:
        written.append(record_feature_layer(args.record, best))
    return written


def record_feature_layer(folder: Path, layer: int) -> Path:
    """Store the probe's best layer in a weights folder's config.json (used when layer=None)."""
    from .checkpoints import update_config

    return update_config(folder, {"bigr": {"feature_layer": int(layer)}})


def run_explore_index(args) -> list[Path]:
    from .explore import INDEX_FILE, build_index

    eng = load_engine(args)
    layer = eng._check_layer(args.layer)
    data = extract_features(eng, args.data, "bigr", args.batch, args.fit, None, keep_images=True)
    index = build_index(data["features"][:, layer], data["labels"], json.loads(str(data["classes"])), data["images"],
                        layer, seed=args.seed)
    if args.out is None and eng.folder is None:
        from .errors import InputError
        raise InputError("official checkpoints have no weights folder: give --out")
    return [index.save(args.out or eng.folder / INDEX_FILE)]


def run_convert(args) -> list[Path]:
    import torch

    engine = load_engine(args)
    folder = engine.save_pretrained(args.out, dtype=torch.bfloat16 if args.dtype == "bf16" else None)
    return [folder / "config.json", folder / "model.safetensors"]


RUNNERS = {"convert": run_convert, "sample-npz": run_sample_npz, "features": run_features, "probe": run_probe,
           "explore-index": run_explore_index}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        written = RUNNERS.get(args.task, run_task)(args)
    except BiGRError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0
