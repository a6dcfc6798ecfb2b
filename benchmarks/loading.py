"""Load time of an official model: the release's pickle pair against our converted folder.

    python benchmarks/loading.py                       # BiGR-L-d24 (random weights in the release's layout)
    python benchmarks/loading.py --model BiGR-L-d32-512 --repeats 5

Writes random-initialised checkpoints in the official format (load time does not depend on the
values), converts them with `python -m bigr_app convert` (fp32 and bf16), and prints the median
wall time of `Engine.from_pretrained` for each, to a loaded model on the CPU, with file sizes.
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bigr_app import BiGR, BinaryAutoencoder, Engine, bigr_preset, tokenizer_preset  # noqa: E402
from bigr_app.model.official import to_official_bae, to_official_bigr  # noqa: E402
from bigr_app.app.cli import main as cli_main  # noqa: E402
from bigr_app.model.hub import OFFICIAL_MODELS  # noqa: E402


def write_release_files(name: str, folder: Path) -> tuple[Path, Path]:
    model = OFFICIAL_MODELS[name]
    bigr = BiGR(bigr_preset(model.preset, bits=model.bits))
    tok = BinaryAutoencoder(tokenizer_preset(model.tokenizer))
    bigr_path, bae_path = folder / Path(model.bigr).name, folder / Path(model.bae).name
    torch.save({"ema": to_official_bigr(bigr)}, bigr_path)
    torch.save(to_official_bae(tok), bae_path)
    return bigr_path, bae_path


def median_load_s(load, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        engine = load()
        times.append(time.perf_counter() - start)
        del engine
    return statistics.median(times)


def size_mb(*paths: Path) -> float:
    return sum(p.stat().st_size for p in paths) / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=list(OFFICIAL_MODELS), default="BiGR-L-d24")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        bigr_path, bae_path = write_release_files(args.model, tmp)
        rows = [("release .pt + .th (torch.load, weights_only)", size_mb(bigr_path, bae_path),
                 lambda: Engine.from_pretrained(bigr=bigr_path, bae=bae_path, device="cpu"))]
        for dtype in ("fp32", "bf16"):
            out = tmp / f"converted-{dtype}"
            assert cli_main(["convert", "--bigr", str(bigr_path), "--bae", str(bae_path), "--out", str(out),
                             "--dtype", dtype, "--device", "cpu"]) == 0
            rows.append((f"our folder, {dtype} (safetensors)", size_mb(*out.iterdir()),
                         lambda out=out: Engine.from_pretrained(out, device="cpu")))
        print(f"\n{args.model}, CPU ({torch.get_num_threads()} threads), median of {args.repeats} loads\n")
        print("| format | size on disk | load time |")
        print("|---|---|---|")
        for label, mb, load in rows:
            print(f"| {label} | {mb:,.0f} MB | {median_load_s(load, args.repeats):.2f} s |")


if __name__ == "__main__":
    main()
