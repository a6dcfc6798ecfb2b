"""Our weights folder: `config.json` (tokenizer and BiGR configs, class names, sampling defaults, what the
model was trained on) and `model.safetensors` (keys prefixed `tokenizer.` and `bigr.`)."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ..errors import CheckpointError, ConfigError
from .bigr import BiGR
from .config import BiGRConfig, TokenizerConfig
from .tokenizer import BinaryAutoencoder

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "bigr-studio/1"


def weights_digest(*modules: torch.nn.Module | None) -> str:
    """sha256 of the modules' weights (names and bytes), 16 hex digits: the same for the same weights from any
    source (our folder, the release's files, the Hub)."""
    digest = hashlib.sha256()
    for module in modules:
        for name, tensor in ({} if module is None else module.state_dict()).items():
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().flatten().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def save_folder(
    folder: str | Path,
    tokenizer: BinaryAutoencoder,
    bigr: BiGR | None,
    class_names: list[str] | None = None,
    extra: dict[str, Any] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write our folder. `dtype` stores floating-point weights at that precision (loading casts back to
    the model's fp32 parameters)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"format": FORMAT, "tokenizer": tokenizer.cfg.to_dict()}
    tensors = {f"tokenizer.{k}": v for k, v in tokenizer.state_dict().items()}
    if bigr is not None:
        config["bigr"] = bigr.cfg.to_dict()
        tensors.update({f"bigr.{k}": v for k, v in bigr.state_dict().items()})
    config["class_names"] = list(class_names) if class_names else None
    config.update(extra or {})
    tensors = {k: _stored(v, dtype) for k, v in tensors.items()}
    tmp = folder / (WEIGHTS_NAME + ".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(folder / WEIGHTS_NAME)
    (folder / CONFIG_NAME).write_text(json.dumps(config, indent=2))
    return folder


def _stored(tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    tensor = tensor.detach().cpu()
    if dtype is not None and tensor.is_floating_point():
        tensor = tensor.to(dtype)
    return tensor.contiguous()


def read_folder_config(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file (a weights folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        config = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON: {e}") from None
    if not isinstance(config, dict) or "tokenizer" not in config:
        raise CheckpointError(f"{path}: missing the 'tokenizer' section")
    return config


def update_config(folder: str | Path, changes: dict[str, Any]) -> Path:
    """Merge `changes` into a weights folder's config.json (dict sections one level deep)."""
    config = read_folder_config(folder)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key].update(value)
        else:
            config[key] = value
    path = Path(folder) / CONFIG_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(config, indent=2))
    tmp.replace(path)
    return path


def load_folder(folder: str | Path) -> tuple[BinaryAutoencoder, BiGR | None, dict[str, Any]]:
    folder = Path(folder)
    config = read_folder_config(folder)
    cfg_path = folder / CONFIG_NAME
    try:
        tok_cfg = TokenizerConfig.from_dict(config["tokenizer"], f"{cfg_path} [tokenizer]")
        bigr_cfg = BiGRConfig.from_dict(config["bigr"], f"{cfg_path} [bigr]") if config.get("bigr") else None
    except (ConfigError, TypeError) as e:
        raise CheckpointError(str(e)) from None
    if bigr_cfg is not None and bigr_cfg.bits != tok_cfg.bits:
        raise CheckpointError(f"{cfg_path}: tokenizer has {tok_cfg.bits} bits but BiGR expects {bigr_cfg.bits}")
    weights_path = folder / WEIGHTS_NAME
    if not weights_path.is_file():
        raise CheckpointError(f"{weights_path}: no such file")
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights_path}: not a readable safetensors file (truncated?): {e}") from None
    tokenizer = empty_shell(BinaryAutoencoder, tok_cfg)
    _load_prefixed(tokenizer, tensors, "tokenizer.", weights_path)
    bigr = None
    if bigr_cfg is not None:
        bigr = empty_shell(BiGR, bigr_cfg)
        _load_prefixed(bigr, tensors, "bigr.", weights_path)
    return tokenizer.eval(), (bigr.eval() if bigr else None), config


def _load_prefixed(model: torch.nn.Module, tensors: dict[str, torch.Tensor], prefix: str, path: Path) -> None:
    names = {k: prefix + k for k in model.state_dict()}
    sub = {k: v for k, v in tensors.items() if k.startswith(prefix)}
    load_mapped(model, names, sub, path)


def load_mapped(model: torch.nn.Module, names: dict[str, str], sd: dict[str, torch.Tensor], path: Path) -> None:
    """Fill `model` from `sd`, whose key for each of our parameter names is `names[ours]`, strictly."""
    missing = sorted(theirs for theirs in names.values() if theirs not in sd)
    consumed = set(names.values())
    unexpected = sorted(k for k in sd if k not in consumed)
    if missing or unexpected:
        raise CheckpointError(
            f"{path}: keys do not match the architecture read from it.\n"
            f"  missing ({len(missing)}): {missing[:10]}\n  unexpected ({len(unexpected)}): {unexpected[:10]}"
        )
    ours_sd = model.state_dict()
    wrong = [
        f"{theirs}: file {tuple(sd[theirs].shape)} vs model {tuple(ours_sd[ours].shape)}"
        for ours, theirs in names.items()
        if sd[theirs].shape != ours_sd[ours].shape
    ]
    if wrong:
        raise CheckpointError(f"{path}: shape mismatch:\n  " + "\n  ".join(wrong[:10]))
    # assign: the file's tensors become the parameters (no copy; the model may be an empty "meta" shell),
    # at the model's own dtype (a bf16 folder loads into fp32 parameters)
    state = {ours: sd[theirs].to(ours_sd[ours].dtype) for ours, theirs in names.items()}
    model.load_state_dict(state, strict=True, assign=True)


def empty_shell(build, cfg):
    """The model's modules with parameters on the "meta" device: no memory and no random initialisation
    (a second or more for the release's models); loading then assigns the file's tensors."""
    with torch.device("meta"):
        return build(cfg)
