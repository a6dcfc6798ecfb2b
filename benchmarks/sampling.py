"""Sampling speed per task, against a straightforward implementation of the published algorithm.

    python benchmarks/sampling.py                                   # bundled model, app defaults
    python benchmarks/sampling.py --preset bundled BiGR-L-d24 --iterations 20 --steps 100 --batch 1 64

For each task (generate; inpaint with the left half masked; interpolate halfway between two
classes; one enrichment round) and batch size it prints seconds per image (sampling + decoding),
images per second, the backbone / transcoder split, the FLOPs of the work (counted by
torch.utils.flop_counter) and the FLOP/s achieved — also as a share of the matmul peak measured
on the same device — and peak memory. The same tasks then run through `reference.reference_decode`
(transcoder on every token, guidance as two calls, per-token timestep embedding) on the same
weights, and the last column is ours / reference. Presets other than `bundled` use random weights
(timing does not depend on the values).
"""
from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bigr_app import BiGR, BinaryAutoencoder, Engine, bigr_preset, tokenizer_preset  # noqa: E402
from bigr_app.devices import PRECISIONS  # noqa: E402
from bigr_app.engine import DEFAULT_WEIGHTS  # noqa: E402
from bigr_app.devices import pick_device  # noqa: E402
from bigr_app.model.hub import OFFICIAL_MODELS  # noqa: E402
from bigr_app.tiny import random_tiny_engine  # noqa: E402
from bigr_app.sampling.reference import reference_decode  # noqa: E402
from bigr_app.sampling.timing import PhaseTimer, synchronize  # noqa: E402
from bigr_app.sampling.masked_decoding import masked_decode  # noqa: E402

TASKS = ("generate", "inpaint", "interpolate", "enrich")


def build_engine(preset: str, device: str, precision: str, compile: bool) -> Engine:
    """bundled: the shipped model; tiny: random tiny weights (dry runs); an official model's name: random
    weights of its architecture (timing does not depend on the values)."""
    if preset == "bundled":
        return Engine.from_pretrained(DEFAULT_WEIGHTS, device=device, precision=precision, compile=compile)
    if preset == "tiny":
        eng = random_tiny_engine("cpu", precision=precision)
        return Engine(eng.tokenizer, eng.bigr, eng.class_names, device=device, source="random tiny",
                      precision=precision, compile=compile)
    model = OFFICIAL_MODELS[preset]
    with torch.device(pick_device(device)):
        tok, bigr = BinaryAutoencoder(tokenizer_preset(model.tokenizer)), BiGR(bigr_preset(model.preset, bits=model.bits))
    return Engine(tok, bigr, device=device, source=f"random {preset}", precision=precision, compile=compile)


@dataclass
class Job:
    """One task at one batch size, as calls of Engine.sample_tokens (what the Engine methods make)."""
    calls: list[dict]
    batch: int


def make_job(eng: Engine, task: str, batch: int, sampling: dict) -> Job:
    g = torch.Generator().manual_seed(0)
    shape = (batch, eng.grid, eng.grid)
    known = torch.rand(*shape, eng.bits, generator=g) > 0.5  # stands for an encoded picture
    ids = torch.arange(batch) % eng.num_classes
    everything = torch.ones(shape, dtype=torch.bool)
    if task == "generate":
        return Job([dict(bits=known, cells=everything, classes=ids, **sampling)], batch)
    if task == "inpaint":
        left = torch.zeros(shape, dtype=torch.bool)
        left[..., : eng.grid // 2] = True
        return Job([dict(bits=known, cells=left, classes=ids, **sampling)], batch)
    if task == "interpolate":
        halfway = torch.stack([eng.class_weights({int(i): 0.5, int(i + 1) % eng.num_classes: 0.5}) for i in ids])
        return Job([dict(bits=known, cells=everything, classes=halfway, **sampling)], batch)
    if task == "enrich":  # one round at rate 2: four interleaved quarter-grids, strong guidance
        calls = []
        for offset in range(4):
            cells = torch.zeros(shape, dtype=torch.bool)
            cells[:, offset // 2 :: 2, offset % 2 :: 2] = True
            calls.append(dict(bits=known, cells=cells, classes=ids, **{**sampling, "cfg_scale": 10.0}))
        return Job(calls, batch)
    raise ValueError(task)


def run_job(eng: Engine, job: Job, seed: int, timer: PhaseTimer | None = None) -> None:
    for call in job.calls:
        bits = eng.sample_tokens(seed=seed, timer=timer, **call)
    eng.decode_tensor(bits)


def count_flops(eng: Engine, job: Job) -> float:
    with FlopCounterMode(display=False) as counter:
        run_job(eng, job, seed=0)
    return float(counter.get_total_flops())


def time_jobs(eng: Engine, job: Job, loops: dict[str, tuple[Callable, str, bool]], repeats: int) -> dict[str, dict]:
    """For each decoding loop (name -> (loop, precision, CUDA graphs)): the median over repeats of the time per image, and
    the backbone / transcoder shares of its total. The loops take turns within every repeat, so a slow spell
    of a shared machine falls on all of them alike, and their ratio holds still when the times do not."""
    stats = {}
    for name, setup in loops.items():
        if eng.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        run_job(with_loop(eng, *setup), job, seed=0)  # warm-up (graphs are recorded here), and peak memory
        stats[name] = dict(timer=PhaseTimer(eng.device), times=[], peak_mib=peak_memory_mib(eng.device))
    for r in range(repeats):
        for name, setup in loops.items():
            with_loop(eng, *setup)
            synchronize(eng.device)
            start = time.perf_counter()
            run_job(eng, job, seed=r + 1, timer=stats[name]["timer"])
            synchronize(eng.device)
            stats[name]["times"].append(time.perf_counter() - start)
    results = {}
    for name, st in stats.items():
        total, seconds = sum(st["times"]), st["timer"].seconds
        results[name] = dict(s_per_image=statistics.median(st["times"]) / job.batch, backbone=seconds["backbone"] / total,
                             transcoder=seconds["transcoder"] / total, peak_mib=st["peak_mib"])
    return results


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # process peak so far


def matmul_peak_flops(device: torch.device, precision: str) -> float:
    """Throughput of a large square matmul in the sampler's dtype: a practical ceiling."""
    n = 8192 if device.type == "cuda" else 2048
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    synchronize(device)
    reps, start = 5, time.perf_counter()
    for _ in range(reps):
        a @ b
    synchronize(device)
    return 2 * n**3 * reps / (time.perf_counter() - start)


def with_loop(eng: Engine, loop: Callable, precision: str, graphs: bool = False) -> Engine:
    eng.decode_loop, eng.precision, eng.graphs = loop, precision, graphs
    return eng


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", nargs="+", default=None, help="bundled, tiny, " + ", ".join(OFFICIAL_MODELS))
    ap.add_argument("--graphs", choices=["auto", "on", "off", "both"], default="auto",
                    help="CUDA graphs for ours (auto: both on a GPU, i.e. a column each; off elsewhere)")
    ap.add_argument("--task", nargs="+", choices=TASKS, default=list(TASKS))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, nargs="+", default=None, help="default: 1 and 16 (CPU) or 1 and 64 (GPU)")
    ap.add_argument("--iterations", type=int, default=None, help="default: the model's (bundled) or 20")
    ap.add_argument("--steps", type=int, default=None, help="default: the model's (bundled) or 100")
    ap.add_argument("--cfg", type=float, default=None, help="default: the model's (bundled) or 3")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-reference", action="store_true", help="skip the straightforward implementation")
    ap.add_argument("--reference-max-batch", type=int, default=16, help="time the reference up to this batch")
    ap.add_argument("--compile", action="store_true", help="torch.compile the backbone and transcoder step")
    ap.add_argument("--precision", choices=PRECISIONS, default="auto", help="ours (the app's: auto)")
    ap.add_argument("--batching", choices=["exact", "fast"], default="exact",
                    help="exact: each sample computed as alone (the app's default); fast: the batch as one")
    ap.add_argument("--reference-precision", choices=PRECISIONS[1:], default=None,
                    help="the reference's (default: the same as ours)")
    args = ap.parse_args()
    presets = args.preset or (["bundled"] if (DEFAULT_WEIGHTS / "config.json").is_file() else ["BiGR-L-d24"])
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    header = (f"{'model':<14} {'task':<11} {'batch':>5} {'s/image':>8} {'graphs':>8} {'img/s':>7} {'backbone':>8} "
              f"{'transc.':>7} {'GFLOP/img':>9} {'GFLOP/s':>8} {'%mm-peak':>8} {'peak MiB':>8} {'ref s/img':>9} "
              f"{'ours/ref':>8}")
    for preset in presets:
        eng = build_engine(preset, args.device, args.precision, args.compile)
        eng.exact_batches = args.batching == "exact"
        ours, theirs = eng.precision, args.reference_precision or eng.precision
        graphs = {"auto": "both" if eng.device.type == "cuda" else "off"}.get(args.graphs, args.graphs)
        d = eng.defaults if preset == "bundled" else None
        sampling = dict(iterations=args.iterations or (d.iterations if d else 20),
                        diffusion_steps=args.steps or (d.diffusion_steps if d else 100),
                        cfg_scale=args.cfg or (d.cfg_scale if d else 3.0))
        peak = matmul_peak_flops(eng.device, ours)
        batches = args.batch or ([1, 64] if eng.device.type == "cuda" else [1, 16])
        print(f"\n{preset} on {eng.device.type}, ours in {ours} with {args.batching} batching, reference in {theirs}: N={sampling['iterations']} "
              f"T={sampling['diffusion_steps']} cfg={sampling['cfg_scale']:g} (enrich: cfg 10); {ours} matmul peak measured "
              f"{peak / 1e9:.0f} GFLOP/s; s/image = median of {args.repeats} repeats, ours and the reference taking turns; "
              f"'s/image' without CUDA graphs, 'graphs' with them; rates and shares are of the faster of the two")
        print(header)
        print("-" * len(header))
        for task in args.task:
            for batch in batches:
                job = make_job(eng, task, batch, sampling)
                loops = {}
                if graphs in ("off", "both"):
                    loops["ours"] = (masked_decode, ours, False)
                if graphs in ("on", "both"):
                    loops["graphs"] = (masked_decode, ours, True)
                if not args.no_reference and batch <= args.reference_max_batch:
                    loops["reference"] = (reference_decode, theirs, False)
                timed = time_jobs(eng, job, loops, args.repeats)
                plain, graphed = timed.get("ours"), timed.get("graphs")
                r = min((x for x in (plain, graphed) if x), key=lambda x: x["s_per_image"])
                flops = count_flops(with_loop(eng, masked_decode, ours), job) / batch
                achieved = flops / r["s_per_image"]
                ref_s = ratio = ""
                if "reference" in timed:
                    ref = timed["reference"]
                    ref_s, ratio = f"{ref['s_per_image']:.3f}", f"{r['s_per_image'] / ref['s_per_image']:.2f}x"
                cells = [f"{x['s_per_image']:.3f}" if x else "-" for x in (plain, graphed)]
                print(f"{preset:<14} {task:<11} {batch:>5} {cells[0]:>8} {cells[1]:>8} {1 / r['s_per_image']:>7.2f} "
                      f"{r['backbone']:>8.0%} {r['transcoder']:>7.0%} {flops / 1e9:>9.2f} {achieved / 1e9:>8.1f} "
                      f"{achieved / peak:>8.1%} {r['peak_mib']:>8.0f} {ref_s:>9} {ratio:>8}", flush=True)

if __name__ == "__main__":
    main()
