"""The official release's checkpoints: a BiGR `.pt` holding {"ema": state_dict} and a B-AE `.th` whose
autoencoder keys are prefixed `ae.` beside discriminator / perceptual-loss weights.

They are read with `torch.load(weights_only=True)` only, and strictly: every key is consumed and every
parameter filled, or a `CheckpointError` names what is wrong. The architecture is read off the tensor shapes.
"""
from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError
from .bigr import BiGR
from .config import BIGR_PRESETS, BiGRConfig, TokenizerConfig
from .folder import empty_shell, load_mapped
from .tokenizer import BinaryAutoencoder
from .transcoder import linear_bernoulli_schedule

# ---- key mapping: our parameter names -> the release's ------------------------------------
_BIGR_RULES = [
    (r"^backbone\.class_embed\.", "cls_embedding.embedding_table."),
    (r"^backbone\.mask_token$", "mask_tok"),
    (r"^backbone\.token_embed\.", "tok_embeddings."),
    (r"^backbone\.modulation\.", "adaLN."),
    (r"^backbone\.pos_embed$", "diffusion_pos_embed_learned"),
    (r"^backbone\.norm\.", "norm."),
    (r"^backbone\.layers\.(\d+)\.modulation_offset$", r"layers.\1.ada_gss"),
    (r"^backbone\.layers\.(\d+)\.attn\.qkv\.", r"layers.\1.attention.wqkv."),
    (r"^backbone\.layers\.(\d+)\.attn\.out\.", r"layers.\1.attention.wo."),
    (r"^backbone\.layers\.(\d+)\.mlp\.w_gate\.", r"layers.\1.feed_forward.w1."),
    (r"^backbone\.layers\.(\d+)\.mlp\.w_up\.", r"layers.\1.feed_forward.w3."),
    (r"^backbone\.layers\.(\d+)\.mlp\.w_down\.", r"layers.\1.feed_forward.w2."),
    (r"^backbone\.layers\.(\d+)\.attn_norm\.", r"layers.\1.attention_norm."),
    (r"^backbone\.layers\.(\d+)\.mlp_norm\.", r"layers.\1.ffn_norm."),
    (r"^transcoder\.net\.time_embed\.", "denoise_mlp.t_embedder."),
    (r"^transcoder\.net\.in_proj\.", "denoise_mlp.x_embedder."),
    (r"^transcoder\.net\.cond_proj\.", "denoise_mlp.c_embedder."),
    (r"^transcoder\.net\.blocks\.(\d+)\.modulation\.", r"denoise_mlp.blocks.\1.adaLN_modulation."),
    (r"^transcoder\.net\.blocks\.(\d+)\.mlp\.", r"denoise_mlp.blocks.\1.mlp."),
    (r"^transcoder\.net\.final\.modulation\.", "denoise_mlp.final_layer.adaLN_modulation."),
    (r"^transcoder\.net\.final\.linear\.", "denoise_mlp.final_layer.linear."),
]
_BAE_RULES = [
    (r"^encoder\.", "ae.encoder."),
    (r"^quantizer\.proj\.", "ae.quantize.proj.0."),
    (r"^quantizer\.codebook\.", "ae.quantize.embed."),
    (r"^decoder\.", "ae.generator."),
]
# The release registers the transcoder twice (as `denoise_mlp` and inside the diffusion
# process) and stores the noise schedule as buffers.
_DENOISER_ALIAS = "diffusion_processor._denoise_fn."
_SCHEDULE_PREFIX = "diffusion_processor.scheduler."


def _rename(name: str, rules) -> str:
    for pattern, template in rules:
        new, n = re.subn(pattern, template, name)
        if n:
            return new
    raise KeyError(f"no official name for parameter {name!r}")


def official_bigr_names(model: BiGR) -> dict[str, str]:
    """Our state-dict key -> the release's key."""
    return {k: _rename(k, _BIGR_RULES) for k in model.state_dict()}


def official_bae_names(model: BinaryAutoencoder) -> dict[str, str]:
    return {k: _rename(k, _BAE_RULES) for k in model.state_dict()}


def to_official_bigr(model: BiGR) -> dict[str, torch.Tensor]:
    """Our weights laid out exactly as the release's `ema` state dict."""
    sd, out = model.state_dict(), {}
    for ours, theirs in official_bigr_names(model).items():
        out[theirs] = sd[ours].detach().clone()
        if theirs.startswith("denoise_mlp."):
            out[_DENOISER_ALIAS + theirs[len("denoise_mlp."):]] = out[theirs].clone()
    for name, table in linear_bernoulli_schedule(model.cfg.train_diffusion_steps).items():
        out[_SCHEDULE_PREFIX + name] = table
    return out


def to_official_bae(model: BinaryAutoencoder) -> dict[str, torch.Tensor]:
    sd = model.state_dict()
    return {theirs: sd[ours].detach().clone() for ours, theirs in official_bae_names(model).items()}


# ---- reading the release's files ----------------------------------------------------------
def _torch_load(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(
            f"{path}: refused to load: it holds objects other than tensors and plain containers "
            f"(only weights_only loading is allowed) [{str(e).splitlines()[0]}]"
        ) from None
    except (RuntimeError, EOFError, ValueError, OSError) as e:
        raise CheckpointError(f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {e}") from None


def _tensor_dict(obj: Any, path: Path, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path}: expected a {what} state dict of tensors")
    return obj


def _shape(sd: dict[str, torch.Tensor], key: str, path: Path) -> tuple[int, ...]:
    if key not in sd:
        raise CheckpointError(f"{path}: missing key {key!r}; is this an official checkpoint of the release?")
    return tuple(sd[key].shape)


def _agreed(sd: dict[str, torch.Tensor], path: Path, what: str, axes: dict[str, int]) -> int:
    """The size that most of several tensors agree on: `axes` maps each key to the axis that holds it.

    Reading a size off one tensor alone would blame every other key when that one is malformed;
    with a majority the odd tensor is the one later reported as mis-shaped."""
    readings = {key: _shape(sd, key, path)[axis] for key, axis in axes.items()}
    values = list(readings.values())
    best = max(set(values), key=values.count)
    if values.count(best) * 2 <= len(values):
        raise CheckpointError(f"{path}: the tensors disagree on the {what}: {readings}")
    return best


def _layer_count(sd: dict[str, torch.Tensor], prefix: str, path: Path) -> int:
    """How many consecutively numbered sub-modules `prefix<i>.` the state dict holds."""
    found = sorted({int(k[len(prefix):].split(".")[0]) for k in sd if k.startswith(prefix)})
    if found != list(range(len(found))):
        raise CheckpointError(f"{path}: {prefix}* are not numbered 0..n (found {found})")
    return len(found)


def infer_bigr_config(sd: dict[str, torch.Tensor], path: Path, heads: int | None = None) -> BiGRConfig:
    """Read the architecture off the tensor shapes of an official `ema` state dict.

    The head count leaves no trace in the shapes: it comes from `heads`, else from the release preset
    with this width and depth; a layout that matches no preset needs `heads`."""
    s = lambda key: _shape(sd, key, path)  # noqa: E731
    dim = _agreed(sd, path, "model width", {"norm.weight": 0, "mask_tok": -1, "tok_embeddings.weight": 0,
                                            "diffusion_pos_embed_learned": -1})
    bits = _agreed(sd, path, "bits per token", {"tok_embeddings.weight": 1, "denoise_mlp.x_embedder.weight": 1,
                                                "denoise_mlp.final_layer.linear.weight": 0})
    t_dim = _agreed(sd, path, "transcoder width", {"denoise_mlp.x_embedder.weight": 0,
                                                   "denoise_mlp.c_embedder.weight": 0,
                                                   "denoise_mlp.final_layer.linear.weight": 1})
    n_layer = _layer_count(sd, "layers.", path)
    t_blocks = _layer_count(sd, "denoise_mlp.blocks.", path)
    seq_len = s("diffusion_pos_embed_learned")[1]
    grid = int(round(seq_len**0.5))
    if grid * grid != seq_len:
        raise CheckpointError(f"{path}: position table of {seq_len} entries is not a square grid")
    num_classes = s("cls_embedding.embedding_table.weight")[0] - 1
    if heads is None:
        preset = next((p for p in BIGR_PRESETS.values() if p["dim"] == dim and p["n_layer"] == n_layer), None)
        if preset is None:
            raise CheckpointError(
                f"{path}: a {n_layer}-layer, {dim}-wide BiGR matches no release preset, and the number of "
                f"attention heads cannot be read off a checkpoint: give it (heads=..., or --heads on the command line)"
            )
        heads = preset["n_head"]
    try:
        cfg = BiGRConfig(
            dim=dim, n_layer=n_layer, n_head=heads, bits=bits, grid=grid, num_classes=num_classes,
            transcoder_dim=t_dim, transcoder_blocks=t_blocks,
        )
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None
    ffn = s("layers.0.feed_forward.w1.weight")[0]
    if ffn != cfg.ffn_hidden:
        raise CheckpointError(f"{path}: SwiGLU width {ffn} does not follow the release's rule ({cfg.ffn_hidden})")
    return cfg


def _drop_transcoder_copy(sd: dict[str, torch.Tensor], path: Path) -> None:
    """Check, then remove, the release's second registration of the transcoder: every
    `denoise_mlp.*` tensor must have an identical `diffusion_processor._denoise_fn.*` twin."""
    ours = {k[len("denoise_mlp."):] for k in sd if k.startswith("denoise_mlp.")}
    copy = {k[len(_DENOISER_ALIAS):] for k in sd if k.startswith(_DENOISER_ALIAS)}
    for name in sorted(ours ^ copy):
        have, lack = ("denoise_mlp.", _DENOISER_ALIAS) if name in ours else (_DENOISER_ALIAS, "denoise_mlp.")
        raise CheckpointError(f"{path}: missing key {lack + name!r} (its twin {have + name!r} is present; "
                              f"the release stores the transcoder under both names)")
    for name in sorted(ours):
        mine, twin = sd["denoise_mlp." + name], sd.pop(_DENOISER_ALIAS + name)
        if mine.shape != twin.shape or not torch.equal(mine, twin):
            raise CheckpointError(f"{path}: {_DENOISER_ALIAS + name} differs from denoise_mlp.{name}; "
                                  f"the two copies must be identical")


def _drop_schedule(sd: dict[str, torch.Tensor], path: Path, steps: int) -> None:
    """Check, then remove, the stored noise-schedule buffers (we recompute them)."""
    for name, table in linear_bernoulli_schedule(steps).items():
        key = _SCHEDULE_PREFIX + name
        if key not in sd:
            raise CheckpointError(f"{path}: missing key {key!r} (the release stores its noise schedule)")
        stored = sd.pop(key)
        if stored.shape != table.shape or not torch.allclose(stored.float(), table, atol=1e-6):
            raise CheckpointError(f"{path}: stored noise schedule {name!r} is not the release's linear schedule")


def load_official_bigr(path: str | Path, heads: int | None = None) -> BiGR:
    """An official `{"ema": state_dict}` BiGR checkpoint; `heads` for layouts that match no preset."""
    path = Path(path)
    obj = _torch_load(path)
    if isinstance(obj, dict) and "ema" in obj:
        obj = obj["ema"]
    sd = dict(_tensor_dict(obj, path, "BiGR"))
    cfg = infer_bigr_config(sd, path, heads)
    _drop_transcoder_copy(sd, path)
    _drop_schedule(sd, path, cfg.train_diffusion_steps)
    model = empty_shell(BiGR, cfg)
    load_mapped(model, official_bigr_names(model), sd, path)
    return model.eval()


def _encoder_block_kinds(sd: dict[str, torch.Tensor], path: Path) -> list[str]:
    indices = sorted({int(k.split(".")[3]) for k in sd if k.startswith("ae.encoder.blocks.")})
    if indices != list(range(len(indices))):
        raise CheckpointError(f"{path}: encoder blocks are not numbered 0..n")
    kinds = []
    for i in indices:
        p = f"ae.encoder.blocks.{i}."
        if p + "norm1.weight" in sd:
            kinds.append("res")
        elif p + "q.weight" in sd:
            kinds.append("attn")
        elif p + "conv.weight" in sd:
            kinds.append("down")
        elif sd.get(p + "weight") is not None and sd[p + "weight"].dim() == 1:
            kinds.append("norm")
        else:
            kinds.append("conv")
    return kinds


def infer_bae_config(sd: dict[str, torch.Tensor], path: Path, grid: int | None = None) -> TokenizerConfig:
    """Read the B-AE layout off the encoder's block list: channel multipliers, res-blocks per
    level, where attention sits. Convolutions do not fix the image size; the release always puts
    attention where the feature map is 16 px, so the level that has it gives the resolution. A
    layout with no such level never reaches 16 px: its token grid is finer, and the release's one
    such model has 32x32 tokens. `grid` (the BiGR token grid), when given, decides."""
    norm_first = len(_shape(sd, "ae.generator.blocks.0.weight", path)) == 1
    bits = _agreed(sd, path, "bits per token", {"ae.quantize.embed.weight": 0, "ae.quantize.proj.0.weight": 0,
                                                "ae.quantize.proj.0.bias": 0})
    emb_dim = _agreed(sd, path, "code embedding width", {"ae.quantize.embed.weight": 1, "ae.quantize.proj.0.weight": 1,
                                                         "ae.generator.blocks.0.weight": 0 if norm_first else 1})
    nf = _shape(sd, "ae.encoder.blocks.0.weight", path)[0]
    kinds = _encoder_block_kinds(sd, path)
    if kinds[:1] != ["conv"] or kinds[-5:] != ["res", "attn", "res", "norm", "conv"]:
        raise CheckpointError(f"{path}: unrecognised B-AE encoder layout {kinds}")
    mults, res_blocks, attn_levels, count, out_ch = [], [], set(), 0, nf
    for i, kind in enumerate(kinds[1:-5], start=1):
        if kind == "res":
            count += 1
            out_ch = sd[f"ae.encoder.blocks.{i}.conv1.weight"].shape[0]
        elif kind == "attn":
            attn_levels.add(len(mults))
        elif kind == "down":
            mults.append(out_ch // nf)
            res_blocks.append(count)
            count = 0
    mults.append(out_ch // nf)
    res_blocks.append(count)
    if len(set(res_blocks)) != 1 or res_blocks[0] < 1:
        raise CheckpointError(f"{path}: unrecognised B-AE encoder layout (res-blocks per level {res_blocks})")
    factor = 2 ** (len(mults) - 1)
    if grid is not None:
        resolution = grid * factor
    elif attn_levels:
        resolution = 16 * 2 ** min(attn_levels)
    else:
        resolution = 32 * factor
    attn = tuple(sorted({resolution // 2**lvl for lvl in attn_levels}, reverse=True)) or (16,)
    try:
        return TokenizerConfig(
            resolution=resolution, bits=bits, nf=nf, ch_mult=tuple(mults), res_blocks=res_blocks[0],
            attn_resolutions=attn, emb_dim=emb_dim, norm_first=norm_first,
        )
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from None


def load_official_bae(path: str | Path, grid: int | None = None) -> BinaryAutoencoder:
    """Load the `ae.*` part of an official B-AE `.th` (other entries are the GAN's and ignored)."""
    path = Path(path)
    obj = _torch_load(path)
    if isinstance(obj, dict) and "ema" in obj and isinstance(obj["ema"], dict):
        obj = obj["ema"]
    full = _tensor_dict(obj, path, "B-AE")
    sd = {k: v for k, v in full.items() if k.startswith("ae.")}
    if not sd:
        raise CheckpointError(f"{path}: no 'ae.*' keys; is this an official B-AE checkpoint?")
    cfg = infer_bae_config(sd, path, grid)
    try:
        model = empty_shell(BinaryAutoencoder, cfg)
    except ValueError as e:  # e.g. GroupNorm refusing a channel count read off a malformed tensor
        raise CheckpointError(f"{path}: the layout read from it cannot be built ({cfg}): {e}") from None
    load_mapped(model, official_bae_names(model), sd, path)
    return model.eval()
