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
from pathlib import Path

from ..sampling.params import SamplingParams
from ..training.bigr_stage import train_bigr
from ..training.tokenizer_stage import train_tokenizer


def add_common(p: argparse.ArgumentParser, steps: int, batch: int, lr: float, ema: float) -> None:
    p.add_argument("--data", type=Path, required=True, help="ImageFolder root (optionally with train/ and test/)")
    p.add_argument("--out", type=Path, required=True, help="run folder")
    p.add_argument("--steps", type=int, default=steps)
    p.add_argument("--batch", type=int, default=batch)
    p.add_argument("--lr", type=float, default=lr)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping")
    p.add_argument("--ema", type=float, default=ema)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--precision", choices=["auto", "no", "bf16", "fp16"], default="auto")
    p.add_argument("--cpu", action="store_true", help="train on the CPU even if a GPU is present")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state")
    p.add_argument("--max-minutes", type=float, default=None,
                   help="stop (saving everything) after this much wall time, even before --steps")
    p.add_argument("--log-every", type=int, default=20)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--balance", type=float, default=0.0,
                   help="draw pictures with weight (class size) ** -BALANCE: 0 natural frequencies, 1 classes equally often")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m bigr_app.train", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="stage", required=True)
    tok = sub.add_parser("tokenizer", help="train the binary autoencoder")
    add_common(tok, steps=4000, batch=32, lr=4e-4, ema=0.999)
    tok.add_argument("--resolution", type=int, default=64)
    tok.add_argument("--bits", type=int, default=32)
    tok.add_argument("--nf", type=int, default=32)
    tok.add_argument("--ch-mult", type=int, nargs="+", default=[1, 2, 4, 4])
    tok.add_argument("--res-blocks", type=int, default=1)
    tok.add_argument("--attn-resolutions", type=int, nargs="*", default=[8])
    tok.add_argument("--emb-dim", type=int, default=64)
    tok.add_argument("--norm-groups", type=int, default=16)
    tok.add_argument("--balance-weight", type=float, default=0.1)
    tok.add_argument("--deterministic-after", type=int, default=1500, help="Bernoulli codes before, p > 0.5 after")
    tok.add_argument("--disc-weight", type=float, default=0.0, help="patch-discriminator loss weight (0: off)")
    tok.add_argument("--disc-start", type=int, default=2000)
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
    big.add_argument("--dim", type=int, default=256)
    big.add_argument("--layers", type=int, default=6)
    big.add_argument("--heads", type=int, default=4)
    big.add_argument("--multiple-of", type=int, default=64)
    big.add_argument("--transcoder-dim", type=int, default=256)
    big.add_argument("--transcoder-blocks", type=int, default=3)
    big.add_argument("--dropout", type=float, default=0.1)
    big.add_argument("--class-dropout", type=float, default=0.1)
    big.add_argument("--weight-decay", type=float, default=0.05)
    big.add_argument("--hflip", action="store_true", help="also train on mirrored pictures")
    big.add_argument("--sample-iterations", type=int, default=10)
    big.add_argument("--sample-steps", type=int, default=50)
    big.add_argument("--sample-cfg", type=float, default=3.0)
    big.set_defaults(run=train_bigr)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if args.stage == "bigr":
        args.sampling = SamplingParams(
            iterations=args.sample_iterations, diffusion_steps=args.sample_steps, cfg_scale=args.sample_cfg
        ).to_dict()
    args.run(args)

