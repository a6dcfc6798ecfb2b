"""Stage 1: the binary autoencoder (tokenizer), with L1 + L2 reconstruction, a bit-balance term and an optional
patch discriminator; or continued from a trained one (--init): its decoder only, or with a wider code."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..analysis.metrics import reconstruction_psnr
from ..data.folder import ImageFolder
from ..images import psnr, tensor_to_pils
from ..model.config import TokenizerConfig
from ..model.folder import load_folder, save_folder
from ..model.tokenizer import BinaryAutoencoder
from .data import endless, mirror_allowed, splits, trained_on, training_loader
from .loop import EMA, Run, log_line, lr_at, save_grid
from .transplant import grown_bits


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
    run = Run(args, unused_parameters=True)  # the release's layout has layers this config leaves unused
    acc = run.acc
    model, carried = initial_tokenizer(args)
    train_set, test_set, pictures = tokenizer_pictures(args, model.cfg.resolution)
    disc = PatchDiscriminator()
    ema = EMA(model, args.ema)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=args.lr, betas=(0.9, 0.99), weight_decay=0.0)
    opt_d = torch.optim.AdamW(disc.parameters(), lr=args.lr, betas=(0.5, 0.9), weight_decay=0.0)
    if args.balance and args.extra:
        raise SystemExit("--balance weighs classes, which --extra's pictures do not have: use one or the other")
    loader = training_loader(pictures, train_set.labels, args.batch, args.balance, args.seed)
    model, disc, opt, opt_d, loader = run.prepare(ema, model, disc, opt, opt_d, loader)
    batches = endless(loader)
    latest = {}
    fixed = (test_set or train_set).pixels[:16].float() / 255

    def critic(images: torch.Tensor) -> torch.Tensor:
        """The discriminator's verdict, its weights left out of the tokenizer's step (and of DDP's)."""
        plain = acc.unwrap_model(disc).requires_grad_(False)
        try:
            return plain(images)
        finally:
            plain.requires_grad_(True)

    def train_step(step: int) -> dict:
        x, may_mirror = next(batches)
        x = x.float() / 255
        draws = run.draws(step)
        if args.hflip:
            flip = (draws.rows(x.shape[0]).to(x.device) < 0.5) & may_mirror
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        for group in opt.param_groups + opt_d.param_groups:
            group["lr"] = lr_at(step, args.lr, args.warmup, args.steps)
        use_gan = args.disc_weight > 0 and step >= args.disc_start
        with acc.autocast():
            recon, p = model(x, deterministic=args.decoder_only or step >= args.deterministic_after, draws=draws)
        recon, p = recon.float(), p.float()
        l1, l2 = (recon - x).abs().mean(), (recon - x).pow(2).mean()
        balance = (p.mean(dim=(0, 2, 3)) - 0.5).pow(2).mean()  # every bit used about half the time
        loss = l1 + l2 + args.balance_weight * balance
        if use_gan:
            with acc.autocast():
                g_loss = -critic(recon).float().mean()
            loss = loss + args.disc_weight * g_loss
        opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        stats = {"l1": l1.item(), "psnr": float(psnr(recon.detach(), x).mean()), "balance": balance.item()}
        if use_gan:
            with acc.autocast():
                real, fake = disc(torch.cat([x, recon.detach()])).float().chunk(2)  # one pass: DDP wants one
                d_loss = F.relu(1 - real).mean() + F.relu(1 + fake).mean()
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

    run.loop(train_step, on_eval, on_save)
