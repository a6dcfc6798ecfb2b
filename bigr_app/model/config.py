"""Model configurations: the binary autoencoder (tokenizer) and the BiGR generator.

Both are plain dataclasses that round-trip through JSON (`to_dict` / `from_dict`), so a
weights folder is a `config.json` plus safetensors files.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from ..errors import ConfigError




def _from_dict(cls, data: dict[str, Any], where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object, got {type(data).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown fields {unknown}")
    # Fields whose default is None are optional; every other one must be written down.
    missing = [f.name for f in fields(cls) if f.default is not None and f.name not in data]
    if missing:
        raise ConfigError(f"{where}: missing fields {missing}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return cls(**values)


@dataclass(frozen=True)
class TokenizerConfig:
    """Binary autoencoder (B-AE): conv encoder -> K Bernoulli bits per cell -> conv decoder."""

    resolution: int = 256
    bits: int = 24
    nf: int = 128
    ch_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    res_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (16,)
    emb_dim: int = 256
    norm_first: bool = True
    norm_groups: int = 32
    in_channels: int = 3

    def __post_init__(self):
        if self.resolution % (2 ** (len(self.ch_mult) - 1)):
            raise ConfigError(f"resolution {self.resolution} is not divisible by the downsampling factor")
        if self.bits < 1:
            raise ConfigError("bits must be positive")

    @property
    def grid(self) -> int:
        """Tokens per side of the latent grid."""
        return self.resolution // 2 ** (len(self.ch_mult) - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "tokenizer config") -> "TokenizerConfig":
        return _from_dict(cls, data, where)


@dataclass(frozen=True)
class BiGRConfig:
    """Bidirectional Llama backbone plus the per-token binary transcoder."""

    dim: int = 1024
    n_layer: int = 24
    n_head: int = 16
    bits: int = 24
    grid: int = 16
    num_classes: int = 1000
    transcoder_dim: int = 1024
    transcoder_blocks: int = 3
    multiple_of: int = 256
    ffn_dim_multiplier: float | None = None
    rope_base: float = 10000.0
    norm_eps: float = 1e-5
    train_diffusion_steps: int = 256
    dropout: float = 0.0
    token_dropout: float = 0.0
    class_dropout: float = 0.1
    feature_layer: int | None = None

    def __post_init__(self):
        if self.dim % self.n_head:
            raise ConfigError(f"dim {self.dim} is not divisible by n_head {self.n_head}")
        if (self.dim // self.n_head) % 4:
            raise ConfigError("head dim must be divisible by 4 for the 2-D rotary embedding")

    @property
    def seq_len(self) -> int:
        return self.grid * self.grid

    @property
    def ffn_hidden(self) -> int:
        """Llama's SwiGLU hidden size: 2/3 of 4*dim, optionally scaled, rounded up to `multiple_of`."""
        hidden = int(2 * (4 * self.dim) / 3)
        if self.ffn_dim_multiplier is not None:
            hidden = int(self.ffn_dim_multiplier * hidden)
        return -(-hidden // self.multiple_of) * self.multiple_of

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "bigr config") -> "BiGRConfig":
        return _from_dict(cls, data, where)


# The official release (github haoosz/BiGR). Head dim is 64 in every preset.
BIGR_PRESETS: dict[str, dict[str, Any]] = {
    "BiGR-L": dict(dim=1024, n_layer=24, n_head=16, transcoder_dim=1024, transcoder_blocks=3, grid=16),
    "BiGR-XL": dict(dim=1280, n_layer=36, n_head=20, transcoder_dim=1280, transcoder_blocks=6, grid=16),
    "BiGR-XXL": dict(dim=1536, n_layer=48, n_head=24, transcoder_dim=1536, transcoder_blocks=8, grid=16),
    "BiGR-L-512": dict(dim=1024, n_layer=24, n_head=16, transcoder_dim=1280, transcoder_blocks=6, grid=32),
}

TOKENIZER_PRESETS: dict[str, dict[str, Any]] = {
    "BAE-d24": dict(resolution=256, bits=24),
    "BAE-d32": dict(resolution=256, bits=32),
    "BAE-d32-512": dict(resolution=512, bits=32),
}


def bigr_preset(name: str, bits: int = 24, **overrides: Any) -> BiGRConfig:
    if name not in BIGR_PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {sorted(BIGR_PRESETS)}")
    return BiGRConfig(**{**BIGR_PRESETS[name], "bits": bits, **overrides})


def tokenizer_preset(name: str, **overrides: Any) -> TokenizerConfig:
    if name not in TOKENIZER_PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose from {sorted(TOKENIZER_PRESETS)}")
    return TokenizerConfig(**{**TOKENIZER_PRESETS[name], **overrides})

