"""Stage 2: BiGR on a trained tokenizer's codes (masked modelling, class dropout for guidance); or continued from
a trained folder (--init), or started from another folder's BiGR (--warm-start)."""
from __future__ import annotations

from pathlib import Path

import torch

from ..data.folder import ImageFolder, list_image_folder
from ..images import tensor_to_pils
from ..model.bigr import BiGR
from ..model.config import BiGRConfig
from ..model.folder import load_folder, save_folder
from ..model.tokenizer import BinaryAutoencoder
from ..sampling.masked_decoding import masked_decode
from ..sampling.params import SamplingParams
from .data import endless, mirror_allowed, splits, tokenizer_record, trained_on, training_loader
from .loop import EMA, Run, lr_at, save_grid
from .transplant import with_new_classes


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
    run = Run(args)
    acc = run.acc
    train_dir, _ = splits(args.data)
    classes = list_image_folder(train_dir)[0]
    tokenizer, model, carried = initial_bigr(args, classes)
    cfg = model.cfg
    train_set = ImageFolder(train_dir, tokenizer.cfg.resolution)
    with acc.main_process_first():  # the main process writes the caches, the others then read them
        codes, labels = encode_dataset(tokenizer, train_set, args.out / "codes.pt", acc.device), train_set.labels
        if args.hflip:  # mirrored pictures as extra training codes (codes cannot be flipped after encoding)
            mirrored = encode_dataset(tokenizer, train_set, args.out / "codes_mirrored.pt", acc.device, mirrored=True)
    if args.hflip:
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
    loader = training_loader(torch.utils.data.TensorDataset(codes, labels), labels, args.batch, args.balance, args.seed)
    model, opt, loader = run.prepare(ema, model, opt, loader)
    batches = endless(loader)
    tokenizer = tokenizer.to(acc.device)

    def train_step(step: int) -> dict:
        bits, labels = next(batches)
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        with acc.autocast():
            out = model(bits.float(), labels, run.draws(step))
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

    run.loop(train_step, on_eval, on_save)
