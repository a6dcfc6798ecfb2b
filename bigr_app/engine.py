"""The Engine: a loaded tokenizer + BiGR on a device, with the user-facing operations.

Every generative operation ends in `Engine.sample_tokens`, which runs the single masked-decoding
loop of `sampler.py`.
"""
from __future__ import annotations

import contextlib
import copy
import random
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np
import torch
from PIL import Image

from .edits import EditsMixin
from .features import FeaturesMixin
from .checkpoints import load_folder, load_official_bae, load_official_bigr, save_folder
from .config import GRAPH_MODES, PRECISIONS
from .graphs import GraphCache
from .errors import CheckpointError, InputError
from .hub import OFFICIAL_MODELS, RELEASE_REPO, download
from .images import fit, pils_to_tensor, tensor_to_pils, to_rgb
from .model import BiGR, with_linear_weights_in
from .noise import MAX_SEED, SampleStreams, sample_seeds
from .sampler import PhaseTimer, SamplingParams, masked_decode
from .tokenizer import BinaryAutoencoder

from .resources import ASSETS, WEIGHTS

DEFAULT_WEIGHTS = WEIGHTS / "default"
IMAGENET_CLASSES = ASSETS / "imagenet_classes.txt"

ClassSpec = int | str | None
Progress = Callable[[int, int], None]


def pick_device(device: str | torch.device | None) -> torch.device:
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError("CUDA was asked for but is not available on this machine")
    return device


def cpu_has_native_bf16() -> bool:
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def pick_precision(precision: str, device: torch.device) -> str:
    """'fp32' or 'bf16'. 'auto' is bf16 on a GPU and on a CPU with native bf16 matrix units
    (AVX512-BF16 / AMX), where batched sampling is about 1.4x faster; fp32 elsewhere, where bf16
    would only be emulated."""
    if precision not in PRECISIONS:
        raise InputError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type == "cpu" and cpu_has_native_bf16():
        return "bf16"
    return "fp32"


def pick_graphs(graphs: str, device: torch.device) -> bool:
    """Whether sampling replays recorded CUDA graphs: 'auto' on a GPU, 'on' or 'off'."""
    if graphs not in GRAPH_MODES:
        raise InputError(f"graphs must be one of {GRAPH_MODES}, got {graphs!r}")
    if graphs == "on" and device.type != "cuda":
        raise InputError("CUDA graphs need a CUDA device")
    return device.type == "cuda" if graphs == "auto" else graphs == "on"


def compile_sampling_steps(model: BiGR) -> None:
    """torch.compile, in place, the backbone and the transcoder step (the masked-token count varies)."""
    model.backbone.compile(dynamic=True)
    net = model.transcoder.net
    net.forward_modulated = torch.compile(net.forward_modulated, dynamic=True)


def _default_class_names(n: int) -> list[str]:
    if n == 1000 and IMAGENET_CLASSES.is_file():
        names = [line.strip() for line in IMAGENET_CLASSES.read_text().splitlines() if line.strip()]
        if len(names) == 1000:
            return names
    return [f"class {i}" for i in range(n)]


class Engine(EditsMixin, FeaturesMixin):
    def __init__(
        self,
        tokenizer: BinaryAutoencoder,
        bigr: BiGR | None,
        class_names: Sequence[str] | None = None,
        device: str | torch.device | None = None,
        defaults: SamplingParams | None = None,
        source: str = "",
        compile: bool = False,
        folder: Path | None = None,
        precision: str = "auto",
        graphs: str = "auto",
        domain: dict | None = None,
    ):
        self.device = pick_device(device)
        self.precision = pick_precision(precision, self.device)
        self.graphs = pick_graphs(graphs, self.device)
        self.tokenizer = tokenizer.to(self.device).eval()
        self.bigr = bigr.to(self.device).eval() if bigr is not None else None
        if bigr is not None and bigr.cfg.bits != tokenizer.cfg.bits:
            raise CheckpointError(
                f"the tokenizer makes {tokenizer.cfg.bits}-bit codes but BiGR expects {bigr.cfg.bits} bits"
            )
        if bigr is not None and bigr.cfg.grid != tokenizer.cfg.grid:
            raise CheckpointError(
                f"the tokenizer makes a {tokenizer.cfg.grid}x{tokenizer.cfg.grid} grid but BiGR expects "
                f"{bigr.cfg.grid}x{bigr.cfg.grid}"
            )
        n = bigr.cfg.num_classes if bigr is not None else 0
        self.class_names = list(class_names) if class_names else _default_class_names(n)
        if bigr is not None and len(self.class_names) != n:
            raise CheckpointError(f"{len(self.class_names)} class names for a model of {n} classes")
        self.defaults = defaults or SamplingParams()
        self.source = source
        self.domain = dict(domain or {})  # what it was trained on: {"trained_on": text, "tokenizer_psnr": dB}
        self.folder = folder  # the weights folder it came from (None for official files or in-memory models)
        self.decode_loop = masked_decode  # benchmarks swap in reference.reference_decode
        self.compile = compile
        self._sampling_models: dict[tuple[str, bool], BiGR] = {}

    def sampling_model(self) -> BiGR:
        """The BiGR that sampling runs at the current precision, made once per precision: in bf16 a copy
        with bf16 linear weights (same results as autocast over `self.bigr`, without re-casting every
        weight at every call); compiled when the engine was asked to compile; replaying recorded CUDA graphs
        when it uses graphs. `self.bigr` stays as loaded."""
        model = self._require_bigr()
        key = (self.precision, self.graphs)
        if key not in self._sampling_models:
            if self.precision == "bf16":
                model = with_linear_weights_in(model, torch.bfloat16)
            elif self.compile:
                model = copy.deepcopy(model)
            if self.compile:
                compile_sampling_steps(model)
            if self.graphs:
                model = copy.copy(model)  # shares the modules; only the copy replays graphs
                model.graphs = GraphCache()
            self._sampling_models[key] = model
        return self._sampling_models[key]

    # ---- loading ------------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        *,
        bigr: str | Path | None = None,
        bae: str | Path | None = None,
        heads: int | None = None,
        device: str | torch.device | None = None,
        class_names: Sequence[str] | None = None,
        compile: bool = False,
        precision: str = "auto",
        graphs: str = "auto",
    ) -> "Engine":
        """Our weights folder (default: the bundled model); an official model by name ("BiGR-L-d24", ...),
        downloaded from the Hub on first use; or the release's files given as `bigr=` + `bae=`
        (`heads=` for a layout that matches no release preset)."""
        options = dict(device=device, class_names=class_names, compile=compile, precision=precision, graphs=graphs)
        if bigr is not None or bae is not None:
            if path is not None:
                raise InputError("give either a weights folder or official files, not both")
            if bigr is None or bae is None:
                raise InputError("official weights need both files: bigr=<...>.pt and bae=<...>.th")
            return cls.from_official_files(bigr, bae, heads=heads, **options)
        if isinstance(path, str) and path in OFFICIAL_MODELS and not Path(path).exists():
            model = OFFICIAL_MODELS[path]
            return cls.from_hub(RELEASE_REPO, bigr=model.bigr, bae=model.bae, heads=heads or model.heads,
                                name=model.name, **options)
        folder = Path(path) if path is not None else DEFAULT_WEIGHTS
        tokenizer, model, config = load_folder(folder)
        sampling = config.get("sampling") or {}
        try:
            defaults = SamplingParams(**sampling).validated()
        except TypeError as e:
            raise CheckpointError(f"{folder / 'config.json'}: bad 'sampling' section: {e}") from None
        return cls(tokenizer, model, class_names or config.get("class_names"), device, defaults, source=str(folder),
                   compile=compile, folder=folder, precision=precision, graphs=graphs, domain=config.get("domain"))

    @classmethod
    def from_hub(
        cls,
        repo_id: str,
        *,
        bigr: str,
        bae: str,
        revision: str | None = None,
        heads: int | None = None,
        cache_dir: str | Path | None = None,
        name: str | None = None,
        **options,
    ) -> "Engine":
        """Official-format files at `bigr` and `bae` (paths inside a Hub repository), downloaded into
        the Hugging Face cache on first use."""
        bigr_path, bae_path = download(repo_id, [bigr, bae], revision=revision, cache_dir=cache_dir)
        source = f"{name or bigr} from {repo_id}" + (f"@{revision}" if revision else "")
        return cls.from_official_files(bigr_path, bae_path, heads=heads, source=source, **options)

    @classmethod
    def from_official_files(
        cls,
        bigr: str | Path,
        bae: str | Path,
        *,
        heads: int | None = None,
        source: str | None = None,
        **options,
    ) -> "Engine":
        """The release's BiGR `.pt` and B-AE `.th`."""
        model = load_official_bigr(bigr, heads=heads)
        tokenizer = load_official_bae(bae, grid=model.cfg.grid)
        if tokenizer.cfg.bits != model.cfg.bits:
            raise CheckpointError(
                f"{bae}: B-AE makes {tokenizer.cfg.bits}-bit codes but {bigr} expects {model.cfg.bits} bits"
            )
        source = source or f"official: {Path(bigr).name} + {Path(bae).name}"
        res = tokenizer.cfg.resolution
        domain = {"trained_on": f"ImageNet-1k photographs at {res}x{res} (1,000 classes)"}
        return cls(tokenizer, model, source=source, domain=domain, **options)

    def save_pretrained(self, folder: str | Path, dtype: torch.dtype | None = None) -> Path:
        """Our folder format; `dtype` (e.g. torch.bfloat16) stores the weights at that precision."""
        return save_folder(folder, self.tokenizer, self.bigr, self.class_names,
                           {"sampling": self.defaults.to_dict(), **({"domain": self.domain} if self.domain else {})},
                           dtype=dtype)

    # ---- facts --------------------------------------------------------------------------
    @property
    def resolution(self) -> int:
        return self.tokenizer.cfg.resolution

    @property
    def grid(self) -> int:
        return self.tokenizer.cfg.grid

    @property
    def bits(self) -> int:
        return self.tokenizer.cfg.bits

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        what = f"BiGR {self.bigr.cfg.n_layer}x{self.bigr.cfg.dim}" if self.bigr else "tokenizer only"
        return (
            f"{what}, {self.num_classes} classes, {self.resolution}px as {self.grid}x{self.grid} tokens "
            f"x {self.bits} bits, on {self.device.type} in {self.precision}{' with CUDA graphs' if self.graphs else ''} "
            f"({self.source})"
        )

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _require_bigr(self) -> BiGR:
        if self.bigr is None:
            raise InputError("these weights hold only a tokenizer; generation needs a BiGR model")
        return self.bigr

    # ---- tokenizer ----------------------------------------------------------------------
    def images_to_tensor(self, images: Image.Image | Iterable[Image.Image] | torch.Tensor, fit_mode: str = "crop") -> torch.Tensor:
        if isinstance(images, torch.Tensor):
            x = images if images.dim() == 4 else images[None]
            if x.shape[1:] != (3, self.resolution, self.resolution):
                raise InputError(f"image tensors must be [B, 3, {self.resolution}, {self.resolution}], got {tuple(x.shape)}")
            return x.to(self.device, torch.float32)
        images = [images] if isinstance(images, Image.Image) else list(images)
        if not images:
            raise InputError("no images given")
        fitted = [fit(to_rgb(img), self.resolution, fit_mode)[0] for img in images]
        return pils_to_tensor(fitted).to(self.device)

    @torch.inference_mode()
    def encode(self, images, fit_mode: str = "crop") -> torch.Tensor:
        """Images -> deterministic bits, BoolTensor [B, h, w, K]."""
        x = self.images_to_tensor(images, fit_mode)
        with self._autocast():
            bits = self.tokenizer.encode(x, deterministic=True)
        return bits.permute(0, 2, 3, 1) > 0.5

    @torch.inference_mode()
    def decode(self, bits: torch.Tensor) -> list[Image.Image]:
        """Bits [B, h, w, K] (bool or {0,1}) -> RGB images at the model resolution, decoded one by one: a
        convolution's rounding depends on the batch, and a sample regenerated alone should match to the bit."""
        return [image for one in bits.split(1) for image in tensor_to_pils(self.decode_tensor(one))]

    @torch.inference_mode()
    def decode_tensor(self, bits: torch.Tensor) -> torch.Tensor:
        if bits.dim() != 4 or bits.shape[1:] != (self.grid, self.grid, self.bits):
            raise InputError(f"bits must be [B, {self.grid}, {self.grid}, {self.bits}], got {tuple(bits.shape)}")
        with self._autocast():
            x = self.tokenizer.decode(bits.to(self.device).float().permute(0, 3, 1, 2))
        return x.float().clamp(0, 1)

    # ---- classes ------------------------------------------------------------------------
    def class_index(self, spec: ClassSpec) -> int:
        """A class given by index or name -> index; None -> the null (unconditional) class."""
        if spec is None:
            return self._require_bigr().cfg.num_classes
        if isinstance(spec, str):
            if spec in self.class_names:
                return self.class_names.index(spec)
            if spec.strip().lstrip("-").isdigit():
                spec = int(spec)
            else:
                raise InputError(f"unknown class {spec!r}")
        if isinstance(spec, bool) or not isinstance(spec, int) or not 0 <= spec < self.num_classes:
            raise InputError(f"class must be a name or an index in [0, {self.num_classes - 1}], got {spec!r}")
        return spec

    def class_weights(self, mix: dict[ClassSpec, float]) -> torch.Tensor:
        """{class: weight} -> a mixing vector over the class table (null class last)."""
        w = torch.zeros(self._require_bigr().cfg.num_classes + 1, device=self.device)
        for spec, weight in mix.items():
            w[self.class_index(spec)] += float(weight)
        return w

    # ---- sampling -----------------------------------------------------------------------
    def sampling_params(self, **overrides) -> SamplingParams:
        known = {k: v for k, v in overrides.items() if v is not None}
        try:
            return replace(self.defaults, **known).validated()
        except TypeError as e:
            raise InputError(f"unknown sampling option: {e}") from None

    @staticmethod
    def resolve_seed(seed: int | None) -> int:
        """The seed as given (checked), or a fresh random one for None, so a result can record it."""
        if seed is None:
            return random.randrange(2**31 - 1)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED - 4096:
            raise InputError(f"seed must be a whole number in [0, {MAX_SEED - 4096}], got {seed!r}")
        return int(seed)

    def noise_streams(self, seed: int | None, batch: int, seed_step: int = 0) -> SampleStreams:
        """Row i draws from seed + i (mixed with `seed_step` for an edit's later windows or rounds)."""
        return SampleStreams.from_seeds(sample_seeds(self.resolve_seed(seed), batch, seed_step), self.device)

    @torch.inference_mode()
    def sample_tokens(
        self,
        tokens: torch.Tensor,
        to_generate: torch.Tensor,
        classes: torch.Tensor,
        seed: int | None = 0,
        progress: Progress | None = None,
        timer: PhaseTimer | None = None,
        seed_step: int = 0,
        **sampling,
    ) -> torch.Tensor:
        """The single entry to the masked-decoding loop.

        tokens [B, h, w, K] bool/{0,1}; to_generate [B, h, w] bool; classes: ids [B] (long, the
        null id for unconditional) or mixing weights [B, num_classes + 1]. Returns bits [B, h, w, K].
        Row i samples with its own stream, seed + i: alone with that seed it samples the same.
        """
        model = self.sampling_model()
        params = self.sampling_params(**sampling)
        b = tokens.shape[0]
        flat_tokens = tokens.to(self.device).float().reshape(b, -1, self.bits)
        flat_mask = to_generate.to(self.device).bool().reshape(b, -1)
        cond = model.backbone.class_condition(classes.to(self.device))
        uncond = model.backbone.null_condition(b)
        with self._autocast():
            out = self.decode_loop(model, flat_tokens, flat_mask, cond, uncond, params, self.noise_streams(seed, b, seed_step),
                                   progress, timer)
        return out.reshape(b, self.grid, self.grid, self.bits) > 0.5

    def generate(
        self,
        class_ids: ClassSpec | Sequence[ClassSpec],
        num_samples: int = 1,
        seed: int | None = 0,
        progress: Progress | None = None,
        **sampling,
    ) -> list[Image.Image]:
        """`num_samples` images for each class given (None = unconditional), class by class."""
        specs = list(class_ids) if isinstance(class_ids, (list, tuple)) else [class_ids]
        if not specs:
            raise InputError("no class given")
        if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
            raise InputError(f"num_samples must be a positive integer, got {num_samples!r}")
        ids = torch.tensor([self.class_index(s) for s in specs for _ in range(num_samples)], device=self.device)
        return self.decode(self.generate_tokens(ids, seed, progress, **sampling))

    def generate_tokens(self, classes: torch.Tensor, seed: int | None = 0, progress: Progress | None = None, **sampling) -> torch.Tensor:
        b = classes.shape[0]
        tokens = torch.zeros(b, self.grid, self.grid, self.bits, dtype=torch.bool, device=self.device)
        everything = torch.ones(b, self.grid, self.grid, dtype=torch.bool, device=self.device)
        return self.sample_tokens(tokens, everything, classes, seed, progress, **sampling)
