"""Training on any ImageFolder tree: first the binary autoencoder, then BiGR on its codes.

    python -m bigr_app.train tokenizer --data DIR --out runs/tok --steps 4000
    python -m bigr_app.train bigr --data DIR --tokenizer runs/tok/model --out runs/bigr --steps 20000
    python -m bigr_app.train bigr --data DIR --init weights/default --out runs/more --steps 2000   # continue
    accelerate launch -m bigr_app.train bigr ...          # the same on several GPUs (DDP)

Skewed class sizes: `--balance 1` shows every class equally often (`--balance 0.5` halfway, in log scale).

DIR is either ROOT/<class>/<images> or ROOT/{train,test}/<class>/<images> (then `test` is the
held-out split used for evaluation). Each run writes OUT/state (resumable with --resume),
OUT/model (EMA weights in our folder format, loadable with Engine.from_pretrained) and
OUT/samples/*.png, and appends metrics to OUT/log.jsonl.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import BiGRError
from ..sampling.params import SamplingParams
from ..training.bigr_stage import train_bigr
from ..training.tokenizer_stage import train_tokenizer
from .options import real, whole


def add_common(p: argparse.ArgumentParser, steps: int, batch: int, lr: float, ema: float) -> None:
    p.add_argument("--data", type=Path, required=True, help="ImageFolder root (optionally with train/ and test/)")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--steps", type=whole(1), default=steps)
    p.add_argument("--batch", type=whole(1), default=batch)
    p.add_argument("--lr", type=real(0, open_below=True), default=lr)
    p.add_argument("--warmup", type=whole(0), default=200)
    p.add_argument("--clip", type=real(0), default=1.0, help="gradient-norm clipping")
    p.add_argument("--ema", type=real(0, 1), default=ema)
    p.add_argument("--seed", type=whole(0), default=0)
    p.add_argument("--precision", choices=["auto", "no", "bf16", "fp16"], default="auto")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state")
    p.add_argument("--max-minutes", type=real(0, open_below=True), default=None,
                   help="stop (saving everything) after this much wall time, even before --steps")
    p.add_argument("--log-every", type=whole(1), default=20)
    p.add_argument("--eval-every", type=whole(1), default=500)
    p.add_argument("--save-every", type=whole(1), default=250)
    p.add_argument("--balance", type=real(0, 1), default=0.0,
                   help="draw pictures with weight (class size) ** -BALANCE: 0 natural frequencies, 1 classes equally often")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bigr_app.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="stage", required=True)
    tok = sub.add_parser("tokenizer", help="train the binary autoencoder")
    add_common(tok, steps=4000, batch=32, lr=4e-4, ema=0.999)
    tok.add_argument("--resolution", type=whole(8), default=64)
    tok.add_argument("--bits", type=whole(1), default=32)
    tok.add_argument("--nf", type=whole(1), default=32)
    tok.add_argument("--ch-mult", type=whole(1), nargs="+", default=[1, 2, 4, 4])
    tok.add_argument("--res-blocks", type=whole(1), default=1)
    tok.add_argument("--attn-resolutions", type=int, nargs="*", default=[8])
    tok.add_argument("--emb-dim", type=whole(1), default=64)
    tok.add_argument("--norm-groups", type=whole(1), default=16)
    tok.add_argument("--balance-weight", type=real(0), default=0.1)
    tok.add_argument("--deterministic-after", type=whole(0), default=1500, help="Bernoulli codes before, p > 0.5 after")
    tok.add_argument("--disc-weight", type=real(0), default=0.0, help="patch-discriminator loss weight (0: off)")
    tok.add_argument("--disc-start", type=whole(0), default=2000)
    tok.add_argument("--hflip", action="store_true", help="random horizontal flips")
    tok.add_argument("--init", type=Path, default=None,
                     help="start from this trained tokenizer (weights folder); its architecture replaces the flags above")
    tok.add_argument("--extra", type=Path, nargs="*", default=[],
                     help="more ImageFolder roots to train on (their class names only decide mirroring)")
    tok.add_argument("--grow-bits", type=int, default=None,
                     help="with --init: widen the code to this many bits (the trained bits are kept)")
    tok.add_argument("--decoder-only", action="store_true",
                     help="with --init: train only the decoder; the codes, and the folder's BiGR, are kept")
    tok.set_defaults(run=train_tokenizer)

    big = sub.add_parser("bigr", help="train BiGR on a trained tokenizer's codes")
    add_common(big, steps=20000, batch=64, lr=4e-4, ema=0.9995)
    big.add_argument("--tokenizer", type=Path, default=None, help="weights folder of a trained tokenizer (new BiGR)")
    big.add_argument("--init", type=Path, default=None,
                     help="continue from this trained model folder (its tokenizer and BiGR; the architecture flags "
                          "below are ignored) with a fresh schedule")
    big.add_argument("--warm-start", type=Path, default=None,
                     help="with --tokenizer: start the new BiGR from this trained folder's BiGR (its architecture; "
                          "a fresh class table; the bits it lacks start untrained)")
    big.add_argument("--dim", type=whole(1), default=256)
    big.add_argument("--layers", type=whole(1), default=6)
    big.add_argument("--heads", type=whole(1), default=4)
    big.add_argument("--multiple-of", type=whole(1), default=64)
    big.add_argument("--transcoder-dim", type=whole(1), default=256)
    big.add_argument("--transcoder-blocks", type=whole(1), default=3)
    big.add_argument("--dropout", type=real(0, 0.99), default=0.1,
                     help="dropout in the backbone (the release trains with 0.1); its masks come from the step's draws, "
                          "so any number of processes drops alike")
    big.add_argument("--class-dropout", type=real(0, 1), default=0.1)
    big.add_argument("--weight-decay", type=real(0), default=0.05)
    big.add_argument("--hflip", action="store_true", help="also train on mirrored pictures")
    big.add_argument("--sample-iterations", type=whole(1), default=10)
    big.add_argument("--sample-steps", type=whole(1), default=50)
    big.add_argument("--sample-cfg", type=real(0), default=3.0)
    big.set_defaults(run=train_bigr)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    try:
        if args.stage == "bigr":
            args.sampling = SamplingParams(
                iterations=args.sample_iterations, diffusion_steps=args.sample_steps, cfg_scale=args.sample_cfg
            ).validated(256).to_dict()
        args.run(args)
    except BiGRError as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None

