"""The options the command line and the server share: which model to load and how to run it, and the sampling
settings."""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Callable

from ..devices import GRAPH_MODES, PRECISIONS
from ..engine import DEFAULT_WEIGHTS, Engine
from ..errors import InputError
from ..model.hub import OFFICIAL_MODELS
from ..sampling.params import CFG_SCHEDULES, GUMBEL_SCHEDULES

BATCHING = ("exact", "fast")


def whole(minimum: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number in [minimum, maximum]; anything else is argparse's usage error (exit 2)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            span = f"at least {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value
    return parse


def real(minimum: float = 0.0, maximum: float | None = None, open_below: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number in [minimum, maximum] ((minimum, maximum] with open_below)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        low_ok = value > minimum if open_below else value >= minimum
        if not math.isfinite(value) or not low_ok or (maximum is not None and value > maximum):
            low = f"above {minimum:g}" if open_below else f"at least {minimum:g}"
            raise argparse.ArgumentTypeError(f"must be {low}" + (f" and at most {maximum:g}" if maximum is not None
                                                                   else "") + f", got {text}")
        return value
    return parse


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--weights", type=Path, default=None, help="our weights folder (default: the bundled model)")
    g.add_argument("--model", choices=list(OFFICIAL_MODELS), default=None,
                   help="an official model, downloaded from the Hugging Face Hub on first use")
    g.add_argument("--bigr", type=Path, default=None, help="official BiGR checkpoint (.pt)")
    g.add_argument("--bae", type=Path, default=None, help="official B-AE checkpoint (.th)")
    g.add_argument("--heads", type=whole(1), default=None,
                   help="attention heads, for official-format files that match no release preset")
    g.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    g.add_argument("--compile", action="store_true", help="torch.compile the backbone and transcoder step")
    g.add_argument("--graphs", choices=GRAPH_MODES, default="auto",
                   help="replay sampling as recorded CUDA graphs (auto: on a GPU)")
    g.add_argument("--precision", choices=PRECISIONS, default="auto",
                   help="auto: bf16 on GPUs and on CPUs with native bf16 (AVX512-BF16/AMX), else fp32")
    g.add_argument("--batching", choices=BATCHING, default="exact",
                   help="exact: each sample of a batch is computed as it is alone, so its seed remakes it bit for "
                        "bit (default); fast: one computation for the whole batch, 3-4x the pictures per second at "
                        "batch 16 on a CPU in bf16, but a picture then depends on what it was batched with")


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("sampling (defaults: the model's)")
    g.add_argument("--cfg", dest="cfg_scale", type=real(0), help="classifier-free guidance scale")
    g.add_argument("--cfg-schedule", choices=CFG_SCHEDULES)
    g.add_argument("--iterations", type=whole(1), help="unmasking iterations N")
    g.add_argument("--gumbel", type=real(0), help="Gumbel noise temperature on the confidence")
    g.add_argument("--gumbel-schedule", choices=GUMBEL_SCHEDULES)
    g.add_argument("--steps", dest="diffusion_steps", type=whole(1), help="transcoder diffusion steps T (of 256)")
    g.add_argument("--temperature", type=real(0, open_below=True), help="transcoder logit temperature")
    g.add_argument("--seed", type=whole(0), default=0)


def load_engine(args: argparse.Namespace) -> Engine:
    """The engine the model options name (`add_model_args`)."""
    options = dict(device=args.device, compile=args.compile, precision=args.precision, graphs=args.graphs,
                   heads=args.heads)
    chosen = [flag for flag, given in (("--weights", args.weights), ("--model", args.model),
                                       ("--bigr/--bae", args.bigr or args.bae)) if given]
    if len(chosen) > 1:
        raise InputError(f"choose one source of weights, not {' and '.join(chosen)}")
    if args.bigr or args.bae:
        return with_batching(Engine.from_pretrained(bigr=args.bigr, bae=args.bae, **options), args)
    return with_batching(Engine.from_pretrained(args.model or args.weights, **options), args)


def with_batching(engine: Engine, args: argparse.Namespace) -> Engine:
    """The engine, batching as --batching says."""
    engine.exact_batches = getattr(args, "batching", "exact") == "exact"
    return engine


def sampling_kwargs(args: argparse.Namespace) -> dict:
    """The sampling options given on the command line (the others stay the model's)."""
    keys = ("cfg_scale", "cfg_schedule", "iterations", "gumbel", "gumbel_schedule", "diffusion_steps", "temperature")
    return {k: getattr(args, k) for k in keys if getattr(args, k) is not None}


def model_label(source: str) -> str:
    """The picker's name of a model loaded from `source`: a folder by its name (the page shows no server paths)."""
    path = Path(source)
    return f"{path.name} (local weights)" if path.is_absolute() and path.exists() else source


BUNDLED = "bundled emoji model"


def model_name(args: argparse.Namespace, engine: Engine) -> str:
    """The name of the model the flags load, as the app's picker and every PNG's "model" call it (History filters
    by it): an official model by its name, the bundled one as BUNDLED, other weights by `model_label`."""
    if getattr(args, "model", None):
        return args.model
    named = any(getattr(args, flag, None) for flag in ("weights", "bigr", "bae"))
    return BUNDLED if not named and (DEFAULT_WEIGHTS / "config.json").is_file() else model_label(engine.source)
