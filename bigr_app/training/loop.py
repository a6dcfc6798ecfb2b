"""The training loop both stages share: accelerate (one process, or DDP under `torchrun` / `accelerate launch`,
gloo on CPUs, nccl on GPUs), an EMA of the weights, a warm-up + cosine learning rate, and a run folder with
OUT/state (resumable, with any process count), OUT/log.jsonl and OUT/samples/, written by the main process.

Each step's random numbers come from `Draws` seeded by (seed, step) and split by the sample's place in the
global batch, so P processes with batch b take the steps one process takes with batch P * b (to float
rounding: each process averages its own batch, then DDP averages the processes)."""
from __future__ import annotations

import copy
import json
import math
import time
from pathlib import Path

import torch
import torch.nn as nn
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, set_seed
from tqdm.auto import tqdm

from ..devices import cpu_has_native_bf16
from ..model.draws import Draws
from ..processes import runs_on_cpu


class EMA(nn.Module):
    """Exponential moving average of a model's parameters (warm-started decay)."""

    def __init__(self, model: nn.Module, decay: float):
        super().__init__()
        self.model = copy.deepcopy(model).float().eval().requires_grad_(False)
        self.decay = decay
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + float(self.updates)) / (10 + float(self.updates)))
        for ema_p, p in zip(self.model.parameters(), model.parameters()):
            ema_p.lerp_(p.detach().float(), 1 - d)


class Counter:
    """The step count, checkpointed with the rest of the training state."""

    def __init__(self):
        self.step = 0

    def state_dict(self) -> dict:
        return {"step": self.step}

    def load_state_dict(self, state: dict) -> None:
        self.step = int(state["step"])


def lr_at(step: int, base: float, warmup: int, total: int) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def make_accelerator(args, unused_parameters: bool = False) -> Accelerator:
    precision = args.precision
    if precision == "auto":
        # bf16 only where the hardware has it: emulated on a CPU without AVX512-BF16/AMX it is ~20x slower
        precision = "bf16" if torch.cuda.is_available() or cpu_has_native_bf16() else "no"
    ddp = DistributedDataParallelKwargs(find_unused_parameters=unused_parameters)
    return Accelerator(mixed_precision=precision, cpu=runs_on_cpu(cpu=args.cpu), kwargs_handlers=[ddp])


def log_line(out: Path, record: dict) -> None:
    with open(out / "log.jsonl", "a") as f:
        f.write(json.dumps(record) + "\n")


def save_grid(images: list, path: Path, columns: int) -> None:
    from PIL import Image

    w, h = images[0].size
    rows = math.ceil(len(images) / columns)
    sheet = Image.new("RGB", (columns * w, rows * h), "white")
    for i, img in enumerate(images):
        sheet.paste(img, ((i % columns) * w, (i // columns) * h))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def mean_over_processes(acc: Accelerator, stats: dict[str, float]) -> dict[str, float]:
    """A step's statistics averaged over the processes (each measured its own share of the batch)."""
    if acc.num_processes == 1 or not stats:
        return stats
    values = acc.reduce(torch.tensor(list(stats.values()), device=acc.device, dtype=torch.float64), "mean")
    return dict(zip(stats, values.tolist()))


def any_process(acc: Accelerator, flag: bool) -> bool:
    if acc.num_processes == 1:
        return flag
    return bool(acc.reduce(torch.tensor([float(flag)], device=acc.device), "sum").item())


def run_loop(args, acc: Accelerator, counter: Counter, train_step, on_eval, on_save) -> None:
    """Steps from the checkpointed count to args.steps with progress bar, eval and save hooks."""
    bar = tqdm(total=args.steps, initial=counter.step, disable=not acc.is_main_process, dynamic_ncols=True)
    start = time.time()
    while counter.step < args.steps:
        out_of_time = bool(args.max_minutes) and time.time() - start > 60 * args.max_minutes
        if any_process(acc, out_of_time):  # all stop at the same step, or the others would wait for it forever
            acc.print(f"stopping at step {counter.step}: --max-minutes {args.max_minutes} reached (--resume continues)")
            acc.save_state(str(args.out / "state"))
            if acc.is_main_process:
                on_eval(counter.step)
                on_save(counter.step)
            break
        stats = mean_over_processes(acc, train_step(counter.step))
        counter.step += 1
        bar.update(1)
        bar.set_postfix({k: f"{v:.4f}" for k, v in stats.items()})
        if acc.is_main_process and counter.step % args.log_every == 0:
            log_line(args.out, {"step": counter.step, "time": round(time.time() - start, 1), **stats})
        if counter.step % args.eval_every == 0 or counter.step == args.steps:
            on_eval(counter.step)
        if counter.step % args.save_every == 0 or counter.step == args.steps:
            acc.save_state(str(args.out / "state"))
            if acc.is_main_process:
                on_save(counter.step)
    bar.close()


class Run:
    """A training run's accelerate setup, for either stage: the accelerator (mixed precision where the hardware
    has it), the seed, the run folder, and the state checkpointed in OUT/state (the prepared objects, the EMA
    and the step count), resumed from there with --resume."""

    def __init__(self, args, unused_parameters: bool = False):
        self.args = args
        self.acc = make_accelerator(args, unused_parameters)
        set_seed(args.seed)
        args.out.mkdir(parents=True, exist_ok=True)
        self.counter = Counter()

    def prepare(self, ema: EMA, *objects):
        """`acc.prepare(*objects)`, with `ema` checkpointed alongside, resumed when asked."""
        prepared = self.acc.prepare(*objects)
        self.acc.register_for_checkpointing(ema, self.counter)
        if self.args.resume and (self.args.out / "state").is_dir():
            self.acc.load_state(str(self.args.out / "state"))
            for loader in objects:  # a resumed run goes on in a new order, not the first epoch's again
                if isinstance(getattr(loader, "generator", None), torch.Generator):
                    loader.generator.manual_seed(self.args.seed + self.counter.step)
        return prepared

    def draws(self, step: int) -> Draws:
        """The step's random numbers, split between the processes by their share of the global batch."""
        return Draws(self.acc.device, self.args.seed, step, self.acc.process_index, self.acc.num_processes)

    def loop(self, train_step, on_eval, on_save) -> None:
        run_loop(self.args, self.acc, self.counter, train_step, on_eval, on_save)
