"""Command line: `bigr <task> ...` (or `python -m bigr_app <task> ...`) for every Engine task.

Each task writes PNGs (parameters embedded as PNG text) with a JSON sidecar into --out.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..analysis.explore import INDEX_FILE, build_index
from ..analysis.extraction import extract_features, read_feature_file
from ..analysis.features import check_layer
from ..analysis.probe import align_labels, best_layer, layer_sweep, record_feature_layer
from ..edits.inpaint import PASTES
from ..edits.regions import REGIONS
from ..errors import BiGRError, InputError
from ..images import open_image
from ..processes import process_state
from ..data.folder import list_image_folder
from ..model.folder import weights_digest
from ..resumable import chunk_path, claim_parts, gather_chunks, parts_folder, run_chunks
from ..tasks import (REQUESTS, EnrichRequest, GenerateRequest, InterpolateRequest, OutpaintRequest, Sampling,
                     TaskRequest, VaryRequest)
from .history import History, file_hash
from .options import add_model_args, add_sampling_args, load_engine, model_name, real, sampling_kwargs, whole
from .service import ResultStore, RunContext
from .saving import write_strip_and_gif

TASKS = ("generate", "inpaint", "outpaint", "edit", "interpolate", "enrich", "vary", "sample-npz", "features", "probe",
         "explore-index", "convert", "index-outputs")


# ---- argument groups shared by the tasks --------------------------------------------------
def add_output_args(p: argparse.ArgumentParser, samples: bool = True) -> None:
    p.add_argument("--out", type=Path, default=Path("outputs"), help="output folder")
    if samples:
        p.add_argument("--num-samples", type=whole(1), default=1)


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
    p.add_argument("--feather-radius", type=real(0), default=4.0,
                   help="in model pixels (scaled with the picture: x4 on a picture 4x the model's resolution)")
    p.add_argument("--threshold", type=real(0, 1), default=0.0, help="cell coverage above which a cell is regenerated")
    p.add_argument("--grow", type=int, default=0, help="grow (>0) or shrink (<0) the mask by cells")
    p.add_argument("--region", choices=REGIONS, default="auto",
                   help="masked: regenerate the mask's neighbourhood at the model's resolution and paste it back; "
                        "whole: fit the whole picture (--fit); auto: masked when that is smaller than the picture")
    p.add_argument("--padding", type=whole(0), default=None,
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
            p.add_argument("--frames", type=whole(2), default=9, help="evenly spaced ratios from 1 to 0")
        if task == "enrich":
            p.add_argument("--rounds", type=whole(1), default=1)
            p.add_argument("--downsample-rate", type=whole(1), default=2)
        if task == "vary":
            p.add_argument("--strength", type=float, default=0.5)
    p = sub.add_parser("sample-npz", help="many samples in the ADM evaluation format (arr_0: N x H x W x 3 uint8)")
    add_model_args(p)
    add_sampling_args(p)
    p.add_argument("--out", type=Path, required=True, help="the .npz to write")
    p.add_argument("--num", type=whole(1), default=None, help="total images (default: per-class x classes)")
    p.add_argument("--per-class", type=whole(1), default=50)
    p.add_argument("--batch", type=whole(1), default=16)
    p.add_argument("--overwrite", action="store_true", help="start afresh, dropping chunks OUT.parts/ holds")

    p = sub.add_parser("convert", help="write a model (official files or --model) as our folder: config.json + "
                                        "model.safetensors, faster and safer to load")
    add_model_args(p)
    p.add_argument("--out", type=Path, required=True, help="the folder to write")
    p.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="precision of the stored weights")

    p = feature_task(sub, "features", "features of an ImageFolder tree (.npz; resumable)")
    p.add_argument("--data", type=Path, required=True, help="ImageFolder root: one sub-folder per class")
    p.add_argument("--out", type=Path, required=True, help="the .npz to write")
    p.add_argument("--overwrite", action="store_true", help="start afresh, dropping chunks OUT.parts/ holds")

    p = feature_task(sub, "probe", "linear probe on frozen features, swept over layers")
    p.add_argument("--train", type=Path, required=True, help="features .npz (or an ImageFolder tree)")
    p.add_argument("--test", type=Path, required=True, help="features .npz (or an ImageFolder tree)")
    p.add_argument("--layer", type=int, default=None, help="probe only this layer (default: every layer)")
    p.add_argument("--c", type=real(0, open_below=True), default=1.0, help="inverse L2 strength of the logistic regression")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--record", type=Path, default=None, help="weights folder whose config gets the best layer")

    p = feature_task(sub, "explore-index", "the Explore tab's map of a reference ImageFolder tree")
    p.add_argument("--data", type=Path, required=True, help="ImageFolder root of reference images (e.g. held-out)")
    p.add_argument("--layer", type=int, default=None, help="feature layer (default: the model's best)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="default: explore.npz in the weights folder")

    p = sub.add_parser("index-outputs", help="rebuild the app's history index of an outputs folder from its PNGs")
    p.add_argument("folder", type=Path, help="the outputs folder (the app's --outputs; default there: outputs)")
    return ap


def feature_task(sub, name: str, help_text: str) -> argparse.ArgumentParser:
    """A representation subcommand: model options plus the feature options."""
    p = sub.add_parser(name, help=help_text)
    add_model_args(p)
    p.add_argument("--kind", choices=["bigr", "bits", "pixels"], default="bigr",
                   help="BiGR hidden states (every layer), the tokenizer's bits, or raw pixels")
    p.add_argument("--batch", type=whole(1), default=64)
    p.add_argument("--fit", choices=["crop", "letterbox"], default="crop")
    return p


# ---- running ----------------------------------------------------------------------------
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


def task_requests(args) -> list[TaskRequest]:
    """The task requests the flags describe, pictures opened: one, or for `generate`, one per --class (class k's
    seeds follow class k-1's, as the rows of one batch of them all would)."""
    common = dict(seed=args.seed, sampling=Sampling(**sampling_kwargs(args)))
    if args.task == "generate":
        n = args.num_samples
        return [GenerateRequest(class_id=c, num_samples=n, **{**common, "seed": args.seed + k * n})
                for k, c in enumerate(args.classes or [None])]
    if args.task == "interpolate":
        ratios = tuple(args.ratios or np.linspace(1.0, 0.0, args.frames))
        return [InterpolateRequest(class_a=args.class_a, class_b=args.class_b, ratios=ratios, **common)]
    common.update(picture=open_image(args.image), class_id=args.class_id, source_sha256=file_hash(args.image))
    if args.task == "enrich":
        return [EnrichRequest(rounds=args.rounds, downsample_rate=args.downsample_rate, fit=args.fit, **common)]
    if args.task == "vary":
        return [VaryRequest(strength=args.strength, num_samples=args.num_samples, fit=args.fit, **common)]
    if args.task == "outpaint" and args.expand:
        return [OutpaintRequest(expand=tuple(args.expand), num_samples=args.num_samples, **common)]
    mask = open_image(args.mask) if args.mask else None
    options = dict(fit=args.fit, blend_mode=args.blend_mode, feather_radius=args.feather_radius,
                   threshold=args.threshold, grow=args.grow, region=args.region, padding=args.padding,
                   strength=args.strength, num_samples=args.num_samples, **({"paste": args.paste} if args.paste else {}))
    return [REQUESTS[args.task](mask=mask, **options, **common)]


def run_task(args) -> list[Path]:
    """The task the flags name, its pictures kept in --out (see `service.ResultStore`)."""
    eng = load_engine(args)
    store, ctx = ResultStore(), RunContext(folder=args.out)
    extra = dict(engine=eng.describe(source=False), **({"source": str(args.image)} if hasattr(args, "image") else {}))
    written = []
    for request in task_requests(args):
        bar = ProgressBar(args.task)
        try:
            result = request.run(eng, bar)
        finally:
            bar.close()
        saved = store.save(result, ctx, model_name(args, eng), eng.exact_batches, **extra)
        written += saved.files
        if args.task == "interpolate":
            written += write_strip_and_gif(saved.images, args.out / f"interpolate_s{args.seed}", saved.params)
    return written


def run_sample_npz(args) -> list[Path]:
    """Sharded over processes (torchrun / accelerate launch), resumable: chunks land in OUT.parts/ first. A chunk's
    samples follow from its position alone, so the file is the same for any number of processes."""
    state = process_state(args.device)
    eng = load_engine(argparse.Namespace(**{**vars(args), "device": process_device(args, state)}))
    total = args.num if args.num is not None else args.per_class * eng.num_classes
    chunks = range(0, total, args.batch)
    claim(args.out, state, args.overwrite, job_record(eng, total=total, per_class=args.per_class, seed=args.seed,
                                                      batch=args.batch, **eng.sampling_params(**sampling_kwargs(args)).to_dict()))

    def sample_chunk(start: int) -> dict[str, np.ndarray]:
        ids = torch.tensor([(i // args.per_class) % eng.num_classes for i in range(start, min(total, start + args.batch))])
        bits = eng.generate_tokens(ids.to(eng.device), seed=args.seed + start, **sampling_kwargs(args))
        return dict(arr_0=np.stack([np.asarray(im) for im in eng.decode(bits)]), labels=ids.numpy())

    rank, processes = state.process_index, state.num_processes
    mine = [c for k, c in enumerate(chunks) if k % processes == rank]
    done = run_chunks(args.out, mine, sample_chunk, desc=f"rank {rank}", show=state.is_main_process)
    print(f"rank {rank} of {processes}: sampled {len(done)} of its {len(mine)} chunks (starts {done}), "
          f"{len(mine) - len(done)} already there", file=sys.stderr)
    state.wait_for_everyone()
    if not state.is_main_process:
        return []
    missing = [start for start in chunks if not chunk_path(args.out, start).is_file()]
    if missing:
        raise InputError(f"{len(missing)} chunks are not in {parts_folder(args.out)} (first: {missing[0]}): on several "
                         "machines --out must be on a filesystem they all share")
    write_npz(args.out, gather_chunks(args.out, chunks))
    return [args.out]


def job_record(eng, **job) -> dict:
    """What determines a resumable job's chunks besides `job`: the model, its weights and how it runs."""
    return dict(model=eng.describe(source=False), weights=weights_digest(eng.tokenizer, eng.bigr),
                precision=eng.precision, batching="exact" if eng.exact_batches else "fast", **job)


def folder_digest(root: Path) -> str:
    """sha256 of an image folder's listing (each file's path, size and time), 16 hex digits."""
    _, items = list_image_folder(root)
    listing = []
    for path, _ in items:
        stat = Path(path).stat()
        listing.append((str(Path(path).relative_to(root)), stat.st_size, stat.st_mtime_ns))
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]


def claim(out: Path, state, overwrite: bool, job: dict) -> None:
    """OUT.parts/ for this job, on every process (only the first clears it for --overwrite)."""
    if overwrite and state.is_main_process:
        claim_parts(out, job, overwrite=True)
    if overwrite:
        state.wait_for_everyone()
    claim_parts(out, job)


def process_device(args, state) -> str:
    """The device of this process: its own (the local rank's GPU) when several share the job, or when --device
    is auto; else --device."""
    return str(state.device) if args.device == "auto" or state.num_processes > 1 else args.device


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Whole or absent: written beside, then renamed."""
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def run_features(args) -> list[Path]:
    """Sharded over processes like sample-npz (torchrun / accelerate launch), resumable."""
    state = process_state(args.device)
    eng = load_engine(argparse.Namespace(**{**vars(args), "device": process_device(args, state)}))
    claim(args.out, state, args.overwrite, job_record(eng, data=str(args.data.resolve()), files=folder_digest(args.data),
                                                      kind=args.kind, batch=args.batch, fit=args.fit))
    data = extract_features(eng, args.data, args.kind, args.batch, args.fit, args.out, rank=state.process_index,
                            processes=state.num_processes, wait_for_everyone=state.wait_for_everyone)
    if data is None:
        return []
    write_npz(args.out, data)
    shutil.rmtree(parts_folder(args.out), ignore_errors=True)
    print(f"{len(data['labels'])} images -> features {data['features'].shape} ({args.kind})", file=sys.stderr)
    return [args.out]


def load_feature_set(path: Path, what: str, args) -> dict:
    """A features .npz, or an ImageFolder tree to extract features from now."""
    if path.is_dir():
        return extract_features(load_engine(args), path, args.kind, args.batch, args.fit, None)
    return read_feature_file(path, what)


def run_probe(args) -> list[Path]:
    train, test = load_feature_set(args.train, "--train", args), load_feature_set(args.test, "--test", args)
    layers = [int(v) for v in train["layers"]]
    if args.layer is not None:
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


def run_explore_index(args) -> list[Path]:
    eng = load_engine(args)
    layer = check_layer(eng, args.layer)
    data = extract_features(eng, args.data, "bigr", args.batch, args.fit, None, keep_images=True)
    index = build_index(data["features"][:, layer], data["labels"], json.loads(str(data["classes"])), data["images"],
                        layer, seed=args.seed)
    if args.out is None and eng.folder is None:
        raise InputError("official checkpoints have no weights folder: give --out")
    return [index.save(args.out or eng.folder / INDEX_FILE)]


def run_convert(args) -> list[Path]:
    engine = load_engine(args)
    folder = engine.save_pretrained(args.out, dtype=torch.bfloat16 if args.dtype == "bf16" else None)
    return [folder / "config.json", folder / "model.safetensors"]


def run_index_outputs(args) -> list[Path]:
    if not args.folder.is_dir():
        raise InputError(f"no folder {args.folder}")
    history = History(args.folder)
    count = history.rebuild()
    history.close()
    print(f"{count} pictures indexed in {history.file}", file=sys.stderr)
    return [history.file]


RUNNERS = {"convert": run_convert, "sample-npz": run_sample_npz, "features": run_features, "probe": run_probe,
           "explore-index": run_explore_index, "index-outputs": run_index_outputs}


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
