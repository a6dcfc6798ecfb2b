"""BiGR Studio: binary latent generative modelling (Hao et al., ICLR 2025) as an engine and app."""
from .model.config import BiGRConfig, TokenizerConfig, bigr_preset, tokenizer_preset
from .engine import Engine
from .errors import BiGRError, CheckpointError, ConfigError, InputError, SamplingError
from .model.bigr import BiGR
from .sampling.params import SamplingParams
from .model.tokenizer import BinaryAutoencoder

__all__ = [
    "BiGR", "BiGRConfig", "BiGRError", "BinaryAutoencoder", "CheckpointError", "ConfigError", "Engine",
    "InputError", "SamplingError", "SamplingParams", "TokenizerConfig", "bigr_preset", "tokenizer_preset",
]
