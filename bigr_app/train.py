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
import copy
import dataclasses
import json
import math
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from .checkpoints import load_folder, save_folder
from .config import BiGRConfig, TokenizerConfig
from .engine import cpu_has_native_bf16
from .data.folder import ImageFolder, list_image_folder
from .images import tensor_to_pils
from .images import psnr
from .metrics import reconstruction_psnr
from .model import BiGR
from .sampler import SamplingParams, masked_decode
from .tokenizer import BinaryAutoencoder


# ---- pieces shared by both stages ---------------------------------------------------------
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


def splits(data: Path) -> tuple[Path, Path | None]:
    if (data / "train").is_dir():
        return data / "train", (data / "test" if (data / "test").is_dir() else None)
    return data, None


def dataset_notes(data: Path) -> dict:
    """DATA/dataset.json, written by dataset builders such as bigr_app.data.emoji ({} when absent)."""
    path = data / "dataset.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def mirror_allowed(data: Path, classes: list[str]) -> torch.Tensor:
    """Per class: may its pictures be mirrored in training? Not for the classes dataset.json lists as
    not_mirrored (text, flags, clock hands)."""
    banned = set(dataset_notes(data).get("not_mirrored", []))
    return torch.tensor([name not in banned for name in classes])


def tokenizer_record(config: dict) -> dict:
    """How long a folder's tokenizer trained: in a tokenizer's own folder `trained_steps` counts its steps; a
    whole model's folder carries them as `tokenizer_trained_steps` (`trained_steps` is then BiGR's)."""
    record = {"tokenizer_trained_steps": config.get("tokenizer_trained_steps", config.get("trained_steps"))}
    if "decoder_trained_steps" in config:
        record["decoder_trained_steps"] = config["decoder_trained_steps"]
    return record


def trained_on(data: Path, resolution: int, classes: list[str]) -> str:
    """config.json's domain["trained_on"]: the app shows it beside users' pictures."""
    return dataset_notes(data).get("description") or (
        f"{resolution}x{resolution} pictures from {data.name} ({len(classes)} classes)")


def training_loader(dataset, labels: torch.Tensor, batch: int, balance: float) -> torch.utils.data.DataLoader:
    """Shuffled batches; with balance > 0 each picture is drawn with weight n_c ** -balance, where n_c is the
    size of its class: 0 keeps the data's class frequencies, 1 shows every class equally often."""
    if len(labels) < batch:  # drop_last would leave no batch at all
        raise SystemExit(f"only {len(labels)} training pictures, fewer than one batch: pass --batch {len(labels)} "
                         "or less, or add pictures")
    if balance == 0:
        return torch.utils.data.DataLoader(dataset, batch_size=batch, shuffle=True, drop_last=True)
    sizes = torch.bincount(labels).double()
    weights = sizes[labels] ** -balance
    sampler = torch.utils.data.WeightedRandomSampler(weights, num_samples=len(labels), replacement=True)
    return torch.utils.data.DataLoader(dataset, batch_size=batch, sampler=sampler, drop_last=True)


def endless(loader):
    while True:
        yield from loader


def make_accelerator(args) -> Accelerator:
    precision = args.precision
    if precision == "auto":
        # bf16 only where the hardware has it: emulated on a CPU without AVX512-BF16/AMX it is ~20x slower
        precision = "bf16" if torch.cuda.is_available() or cpu_has_native_bf16() else "no"
    return Accelerator(mixed_precision=precision, cpu=args.cpu)


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


def run_loop(args, acc: Accelerator, counter: Counter, train_step, on_eval, on_save) -> None:
    """Steps from the checkpointed count to args.steps with progress bar, eval and save hooks."""
    bar = tqdm(total=args.steps, initial=counter.step, disable=not acc.is_main_process, dynamic_ncols=True)
    start = time.time()
    while counter.step < args.steps:
        if args.max_minutes and time.time() - start > 60 * args.max_minutes:
            acc.print(f"stopping at step {counter.step}: --max-minutes {args.max_minutes} reached (--resume continues)")
            acc.save_state(str(args.out / "state"))
            if acc.is_main_process:
                on_eval(counter.step)
                on_save(counter.step)
            break
        stats = train_step(counter.step)
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


# ---- stage 1: the binary autoencoder ------------------------------------------------------
class PatchDiscriminator(nn.Module):
    """A small PatchGAN (hinge loss) to sharpen reconstructions."""

    def __init__(self, channels: int = 64, layers: int = 3):
        super().__init__()
        mods: list[nn.Module] = [nn.Conv2d(3, channels, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = channels
        for _ in range(layers - 1):
            mods += [nn.Conv2d(ch, ch * 2, 4, 2, 1), nn.GroupNorm(8, ch * 2), nn.LeakyReLU(0.2)]
            ch *= 2
        mods.append(nn.Conv2d(ch, 1, 3, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x * 2 - 1)


def initial_tokenizer(args) -> tuple[BinaryAutoencoder, dict]:
    """A new tokenizer from the architecture flags, or (with --init) a trained one to continue from, and
    what its checkpoints carry along besides the tokenizer.

    With --decoder-only the encoder and quantizer are frozen: the codes stay exactly as they were, so a
    BiGR trained on them (kept from the --init folder) stays valid while the decoder learns to draw them
    more sharply.
    """
    if args.init is None:
        if args.decoder_only or args.grow_bits:
            raise SystemExit("--decoder-only and --grow-bits need --init: the trained weights folder to start from")
        return BinaryAutoencoder(TokenizerConfig(
            resolution=args.resolution, bits=args.bits, nf=args.nf, ch_mult=tuple(args.ch_mult),
            res_blocks=args.res_blocks, attn_resolutions=tuple(args.attn_resolutions), emb_dim=args.emb_dim,
            norm_first=True, norm_groups=args.norm_groups,
        )), {}
    model, bigr, config = load_folder(args.init)
    if args.grow_bits:
        if args.decoder_only:
            raise SystemExit("--grow-bits changes the codes; it cannot go with --decoder-only")
        return grown_bits(model, args.grow_bits), {}
    if not args.decoder_only:
        return model, {}
    model.encoder.requires_grad_(False)
    model.quantizer.requires_grad_(False)
    extra = {k: v for k, v in config.items() if k not in ("format", "tokenizer", "bigr", "class_names")}
    return model, {"bigr": bigr, "class_names": config.get("class_names"), "extra": extra}


def transplant(model: nn.Module, weights: dict[str, torch.Tensor], skip: tuple[str, ...] = ()) -> nn.Module:
    """Load trained `weights` into `model` where they fit: a tensor of the same shape is copied; a smaller one
    (a code with fewer bits) fills the leading slice and the rest keeps its fresh initialisation."""
    state = model.state_dict()
    for name, value in weights.items():
        if name in skip or name not in state:
            continue
        target = state[name]
        if target.shape == value.shape:
            state[name] = value
        elif value.dim() == target.dim() and all(a <= b for a, b in zip(value.shape, target.shape)):
            target[tuple(slice(0, n) for n in value.shape)] = value
        else:
            raise SystemExit(f"cannot start {name} {tuple(target.shape)} from trained {tuple(value.shape)}")
    model.load_state_dict(state)
    return model


def grown_bits(model: BinaryAutoencoder, bits: int) -> BinaryAutoencoder:
    """The same tokenizer with a wider code. The trained bits keep their projection and embedding; the new
    ones get a fresh projection and a near-zero embedding, so pictures decode as before until they are used."""
    old = model.cfg.bits
    if bits <= old:
        raise SystemExit(f"--grow-bits {bits}: the tokenizer already has {old} bits")
    wider = transplant(BinaryAutoencoder(dataclasses.replace(model.cfg, bits=bits)), model.state_dict())
    with torch.no_grad():
        wider.quantizer.codebook.weight[old:] *= 0.01
    return wider


def with_new_classes(bigr: BiGR, num_classes: int, bits: int | None = None) -> BiGR:
    """`bigr` for another class list (and code width): a fresh class table but for the null class, which keeps
    what the model learned unconditionally; everything else transplanted."""
    fresh = BiGR(dataclasses.replace(bigr.cfg, num_classes=num_classes, bits=bits or bigr.cfg.bits))
    table = "backbone.class_embed.weight"
    transplant(fresh, bigr.state_dict(), skip=(table,))
    with torch.no_grad():
        fresh.backbone.class_embed.weight[-1] = bigr.backbone.class_embed.weight[-1]
    return fresh


def tokenizer_pictures(args, resolution: int) -> tuple[ImageFolder, ImageFolder | None, torch.utils.data.Dataset]:
    """The training and held-out splits, and what the tokenizer trains on: the training pictures, plus
    --extra's, each with whether it may be mirrored."""
    train_dir, test_dir = splits(args.data)
    train_set = ImageFolder(train_dir, resolution)
    test_set = ImageFolder(test_dir, resolution) if test_dir else None
    pixels, mirror = [train_set.pixels], [mirror_allowed(args.data, train_set.classes)[train_set.labels]]
    for root in args.extra:
        more = ImageFolder(root, resolution)
        pixels.append(more.pixels)
        mirror.append(mirror_allowed(args.data, more.classes)[more.labels])
    return train_set, test_set, torch.utils.data.TensorDataset(torch.cat(pixels), torch.cat(mirror))


def train_tokenizer(args) -> None:
    acc = make_accelerator(args)
    set_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    model, carried = initial_tokenizer(args)
    train_set, test_set, pictures = tokenizer_pictures(args, model.cfg.resolution)
    disc = PatchDiscriminator()
    ema = EMA(model, args.ema)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=args.lr, betas=(0.5, 0.9), weight_decay=0.0)
    if args.balance and args.extra:
        raise SystemExit("--balance weighs classes, which --extra's pictures do not have: use one or the other")
    loader = training_loader(pictures, train_set.labels, args.batch, args.balance)
    model, disc, opt, opt_d, loader = acc.prepare(model, disc, opt, opt_d, loader)
    counter = Counter()
    acc.register_for_checkpointing(ema, counter)
    if args.resume and (args.out / "state").is_dir():
        acc.load_state(str(args.out / "state"))
    batches = endless(loader)
    latest = {}
    fixed = (test_set or train_set).pixels[:16].float() / 255

    def train_step(step: int) -> dict:
        x, may_mirror = next(batches)
        x = x.float() / 255
        if args.hflip:
            flip = (torch.rand(x.shape[0], device=x.device) < 0.5) & may_mirror
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        for group in opt.param_groups + opt_d.param_groups:
            group["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        use_gan = args.disc_weight > 0 and step >= args.disc_start
        with acc.autocast():
            recon, p = model(x, deterministic=args.decoder_only or step >= args.deterministic_after)
        recon, p = recon.float(), p.float()
        l1, l2 = (recon - x).abs().mean(), (recon - x).pow(2).mean()
        balance = (p.mean(dim=(0, 2, 3)) - 0.5).pow(2).mean()  # every bit used about half the time
        loss = l1 + l2 + args.balance_weight * balance
        if use_gan:
            with acc.autocast():
                g_loss = -disc(recon).float().mean()
            loss = loss + args.disc_weight * g_loss
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        stats = {"l1": l1.item(), "psnr": float(psnr(recon.detach(), x).mean()), "balance": balance.item()}
        if use_gan:
            with acc.autocast():
                d_loss = F.relu(1 - disc(x)).mean() + F.relu(1 + disc(recon.detach())).mean()
            opt_d.zero_grad(set_to_none=True)
            acc.backward(d_loss.float())
            opt_d.step()
            stats["d_loss"] = d_loss.item()
        ema.update(acc.unwrap_model(model))
        return stats

    def on_eval(step: int) -> None:
        if not acc.is_main_process:
            return
        ema.model.to(acc.device)
        record = {"step": step, "eval": True}
        if test_set is not None:
            record["test_psnr"] = latest["test_psnr"] = float(reconstruction_psnr(ema.model, test_set).mean())
        x = fixed.to(acc.device)
        with torch.no_grad():
            recon = ema.model.decode(ema.model.encode(x, deterministic=True))
        save_grid(tensor_to_pils(torch.cat([x, recon.clamp(0, 1)])), args.out / "samples" / f"recon_{step:06d}.png", 16)
        log_line(args.out, record)
        acc.print(f"step {step}: " + ", ".join(f"{k} {v:.2f}" for k, v in record.items() if isinstance(v, float)))

    def on_save(step: int) -> None:
        psnr_now = latest.get("test_psnr")
        domain = {"trained_on": trained_on(args.data, ema.model.cfg.resolution, train_set.classes),
                  "tokenizer_psnr": None if psnr_now is None else round(psnr_now, 1)}
        if not carried:
            save_folder(args.out / "model", ema.model, None, train_set.classes, {"trained_steps": step, "domain": domain})
            return
        extra = {**carried["extra"], "decoder_trained_steps": step, "domain": domain}
        save_folder(args.out / "model", ema.model, carried["bigr"], carried["class_names"] or train_set.classes, extra)

    run_loop(args, acc, counter, train_step, on_eval, on_save)


# ---- stage 2: BiGR on the tokenizer's codes -----------------------------------------------
@torch.no_grad()
def encode_dataset(tokenizer: BinaryAutoencoder, data: ImageFolder, cache: Path, device, batch: int = 64,
                   mirrored: bool = False) -> torch.Tensor:
    """Deterministic bits [N, h*w, K] (bool) for every image (or its mirror image), cached on disk."""
    if cache.is_file():
        codes = torch.load(cache, weights_only=True)
        if codes.shape[0] == len(data):
            return codes
    tokenizer = tokenizer.to(device)
    pixels = data.pixels.flip(-1) if mirrored else data.pixels
    out = []
    for i in range(0, len(data), batch):
        x = pixels[i : i + batch].to(device).float() / 255
        bits = tokenizer.encode(x, deterministic=True)
        out.append((bits.flatten(2).transpose(1, 2) > 0.5).cpu())
    codes = torch.cat(out)
    torch.save(codes, cache)
    return codes


def initial_bigr(args, classes: list[str]) -> tuple[BinaryAutoencoder, BiGR, dict]:
    """The tokenizer and a BiGR to train: a new BiGR from the flags on --tokenizer's codes, or (with --init) a
    trained folder's pair to continue from with a fresh schedule, and what its checkpoints carry along.

    A folder trained on other classes keeps everything but its class table, which starts afresh. With
    --warm-start, the new BiGR on --tokenizer's codes starts from another folder's trained BiGR.
    """
    if (args.init is None) == (args.tokenizer is None):
        raise SystemExit("bigr needs exactly one of --tokenizer (a trained tokenizer's folder, for a new BiGR) "
                         "or --init (a trained model folder to continue from)")
    fresh = {"sampling": args.sampling, "trained_steps": 0}
    if args.init is None:
        tokenizer, _, tok_config = load_folder(args.tokenizer)
        carried = {**tokenizer_record(tok_config), "domain": tok_config.get("domain", {})}
        if args.warm_start is not None:
            _, trained, _ = load_folder(args.warm_start)
            if trained is None or trained.cfg.grid != tokenizer.cfg.grid or trained.cfg.bits > tokenizer.cfg.bits:
                raise SystemExit(f"--warm-start {args.warm_start}: needs a BiGR on the same grid with at most "
                                 f"{tokenizer.cfg.bits} bits")
            return tokenizer, with_new_classes(trained, len(classes), tokenizer.cfg.bits), {**fresh, **carried}
        cfg = BiGRConfig(
            dim=args.dim, n_layer=args.layers, n_head=args.heads, bits=tokenizer.cfg.bits, grid=tokenizer.cfg.grid,
            num_classes=len(classes), transcoder_dim=args.transcoder_dim, transcoder_blocks=args.transcoder_blocks,
            multiple_of=args.multiple_of, dropout=args.dropout, class_dropout=args.class_dropout,
        )
        return tokenizer, BiGR(cfg), {**fresh, **carried}
    tokenizer, bigr, config = load_folder(args.init)
    if bigr is None:
        raise SystemExit(f"{args.init} holds a tokenizer only; pass it as --tokenizer to train a new BiGR")
    if config.get("class_names") != classes:
        print(f"{args.init} was trained on other classes ({config.get('class_names')}): its class table starts afresh")
        bigr = with_new_classes(bigr, len(classes))
    carried = {k: v for k, v in config.items() if k not in ("format", "tokenizer", "bigr", "class_names")}
    return tokenizer, bigr, {**fresh, **carried}


def train_bigr(args) -> None:
    acc = make_accelerator(args)
    set_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    train_dir, _ = splits(args.data)
    classes = list_image_folder(train_dir)[0]
    tokenizer, model, carried = initial_bigr(args, classes)
    cfg = model.cfg
    train_set = ImageFolder(train_dir, tokenizer.cfg.resolution)
    codes, labels = encode_dataset(tokenizer, train_set, args.out / "codes.pt", acc.device), train_set.labels
    if args.hflip:  # mirrored pictures as extra training codes (codes cannot be flipped after encoding)
        mirrored = encode_dataset(tokenizer, train_set, args.out / "codes_mirrored.pt", acc.device, mirrored=True)
        keep = mirror_allowed(args.data, classes)[labels]
        codes, labels = torch.cat([codes, mirrored[keep]]), torch.cat([labels, labels[keep]])
    ema = EMA(model, args.ema)
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and "embed" not in name else no_decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95),
    )
    loader = training_loader(torch.utils.data.TensorDataset(codes, labels), labels, args.batch, args.balance)
    model, opt, loader = acc.prepare(model, opt, loader)
    counter = Counter()
    acc.register_for_checkpointing(ema, counter)
    if args.resume and (args.out / "state").is_dir():
        acc.load_state(str(args.out / "state"))
    batches = endless(loader)
    tokenizer = tokenizer.to(acc.device)

    def train_step(step: int) -> dict:
        bits, labels = next(batches)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        with acc.autocast():
            out = model(bits.float(), labels)
        opt.zero_grad(set_to_none=True)
        acc.backward(out["loss"])
        acc.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        ema.update(acc.unwrap_model(model))
        return {"loss": out["loss"].item()}

    def on_eval(step: int) -> None:
        if not acc.is_main_process:
            return
        ema.model.to(acc.device)
        per_class = 4
        ids = torch.arange(len(classes), device=acc.device).repeat_interleave(per_class)
        n = len(ids)
        g = torch.Generator(acc.device).manual_seed(0)
        bits = masked_decode(
            ema.model, torch.zeros(n, cfg.seq_len, cfg.bits, device=acc.device),
            torch.ones(n, cfg.seq_len, dtype=torch.bool, device=acc.device),
            ema.model.backbone.class_condition(ids), ema.model.backbone.null_condition(n),
            SamplingParams(**args.sampling), g,
        )
        with torch.no_grad():
            images = tokenizer.decode(bits.transpose(1, 2).reshape(n, cfg.bits, cfg.grid, cfg.grid))
        save_grid(tensor_to_pils(images), args.out / "samples" / f"samples_{step:06d}.png", per_class * 4)

    def on_save(step: int) -> None:
        domain = {**carried.get("domain", {}), "trained_on": trained_on(args.data, tokenizer.cfg.resolution, classes)}
        extra = {**carried, "trained_steps": carried["trained_steps"] + step, "domain": domain}
        save_folder(args.out / "model", tokenizer, ema.model, classes, extra)

    run_loop(args, acc, counter, train_step, on_eval, on_save)


# ---- command line -------------------------------------------------------------------------
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


if __name__ == "__main__":
    main()
