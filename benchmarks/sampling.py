"""Time class-conditional generation: seconds per image and the backbone / transcoder split.

    python benchmarks/sampling.py                       # bundled model if present, else BiGR-L-d24
    python benchmarks/sampling.py --preset BiGR-L --batch 1 4 --iterations 20 --steps 100

Presets other than `bundled` use random weights (timing does not depend on the values).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bigr_app import BiGR, BinaryAutoencoder, Engine, bigr_preset, tokenizer_preset  # noqa: E402
from bigr_app.engine import DEFAULT_WEIGHTS  # noqa: E402
from bigr_app.sampler import PhaseTimer  # noqa: E402


def build_engine(preset: str, device: str) -> Engine:
    if preset == "bundled":
        return Engine.from_pretrained(DEFAULT_WEIGHTS, device=device)
    bits = 32 if preset.endswith("-d32") or preset == "BiGR-L-512" else 24
    name = preset.removesuffix("-d24").removesuffix("-d32")
    cfg = bigr_preset(name, bits=bits)
    tok_name = "BAE-d32-512" if name == "BiGR-L-512" else f"BAE-d{bits}"
    return Engine(BinaryAutoencoder(tokenizer_preset(tok_name)), BiGR(cfg), device=device, source=f"random {preset}")


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_generation(eng: Engine, batch: int, repeats: int, **sampling) -> dict[str, float]:
    classes = torch.arange(batch, device=eng.device) % eng.num_classes
    eng.generate_tokens(classes, seed=0, **sampling)  # warm-up
    timer = PhaseTimer(sync=eng.device.type == "cuda")
    start = time.perf_counter()
    for r in range(repeats):
        bits = eng.sample_tokens(
            torch.zeros(batch, eng.grid, eng.grid, eng.bits, dtype=torch.bool),
            torch.ones(batch, eng.grid, eng.grid, dtype=torch.bool), classes, seed=r, timer=timer, **sampling,
        )
    sample_s = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(repeats):
        eng.decode_tensor(bits)
    if eng.device.type == "cuda":
        torch.cuda.synchronize()
    decode_s = time.perf_counter() - start
    n = batch * repeats
    return {
        "s_per_image": (sample_s + decode_s) / n,
        "images_per_s": n / (sample_s + decode_s),
        "backbone": timer.seconds["backbone"] / sample_s,
        "transcoder": timer.seconds["transcoder"] / sample_s,
        "decode_s_per_image": decode_s / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", nargs="+", default=None, help="bundled, BiGR-L-d24, BiGR-XL-d24, ...")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, nargs="+", default=[1])
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--cfg", type=float, default=3.0)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    presets = args.preset or (["bundled"] if (DEFAULT_WEIGHTS / "config.json").is_file() else ["BiGR-L-d24"])
    torch.set_grad_enabled(False)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, N={args.iterations} T={args.steps} cfg={args.cfg}")
    header = f"{'model':<14} {'device':<6} {'batch':>5} {'s/image':>9} {'img/s':>8} {'backbone':>9} {'transcoder':>11} {'decode s/img':>13} {'peak MiB':>9}"
    print(header)
    print("-" * len(header))
    for preset in presets:
        eng = build_engine(preset, args.device)
        for batch in args.batch:
            r = time_generation(eng, batch, args.repeats, iterations=args.iterations, diffusion_steps=args.steps, cfg_scale=args.cfg)
            print(
                f"{preset:<14} {eng.device.type:<6} {batch:>5} {r['s_per_image']:>9.3f} {r['images_per_s']:>8.2f} "
                f"{r['backbone']:>8.0%} {r['transcoder']:>11.0%} {r['decode_s_per_image']:>13.3f} {peak_memory_mib(eng.device):>9.0f}"
            )


if __name__ == "__main__":
    main()
