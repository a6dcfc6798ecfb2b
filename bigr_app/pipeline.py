"""The pipeline: a loaded tokenizer + BiGR on a device, with its precision and graph policy. It loads and saves
weights, turns pictures into bits and back, and samples tokens: every task ends in `Pipeline.sample_tokens`,
which runs the one masked-decoding loop (`sampling.masked_decoding`, or the batcher a server puts in its place).
The tasks (`edits`, `analysis`) are functions of a pipeline; `engine.Engine` is a pipeline with a method for
each."""
from __future__ import annotations

import copy
import random
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable, Sequence

import torch
from PIL import Image

from .checks import whole_number
from .devices import autocast, pick_device, pick_graphs, pick_precision
from .errors import CheckpointError, InputError
from .images import fit, pils_to_tensor, tensor_to_pils, to_rgb
from .model.bigr import BiGR, with_linear_weights_in
from .model.folder import load_folder, save_folder
from .model.hub import OFFICIAL_MODELS, RELEASE_REPO, default_class_names, download
from .model.official import load_official_bae, load_official_bigr
from .model.tokenizer import BinaryAutoencoder
from .resources import WEIGHTS
from .sampling.fused_transcoder import compile_step
from .sampling.graphs import GraphCache
from .sampling.masked_decoding import DecodeLoop, masked_decode
from .sampling.noise import MAX_SEED, SampleStreams, sample_seeds
from .sampling.params import SamplingParams
from .sampling.timing import CostModel, PhaseTimer, measure_costs

DEFAULT_WEIGHTS = WEIGHTS / "default"

ClassSpec, Progress = int | str | None, Callable[[int, int], None]
FAST_NOTE = ", fast batching (a picture depends on its batch)"


def compile_for_sampling(model: BiGR) -> None:
    """torch.compile, in place, the backbone and the transcoder step (the masked-token count varies)."""
    model.backbone.compile(dynamic=True)
    compile_step(model.transcoder.net)


class Pipeline:
    MAX_SAMPLES = 16  # samples per edit

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
            raise CheckpointError(f"the tokenizer makes {tokenizer.cfg.bits}-bit codes but BiGR expects {bigr.cfg.bits} bits")
        if bigr is not None and bigr.cfg.grid != tokenizer.cfg.grid:
            raise CheckpointError(f"the tokenizer makes a {tokenizer.cfg.grid}x{tokenizer.cfg.grid} grid but BiGR "
                                  f"expects {bigr.cfg.grid}x{bigr.cfg.grid}")
        n = bigr.cfg.num_classes if bigr is not None else 0
        self.class_names = list(class_names) if class_names else default_class_names(n)
        if bigr is not None and len(self.class_names) != n:
            raise CheckpointError(f"{len(self.class_names)} class names for a model of {n} classes")
        self.defaults = defaults or SamplingParams()
        self.source = source
        self.domain = dict(domain or {})  # what it was trained on: {"trained_on": text, "tokenizer_psnr": dB}
        self.folder = folder  # the weights folder it came from (None for official files or in-memory models)
        self.decode_loop: DecodeLoop = masked_decode  # a server's batcher stands in for it (see app.pool)
        self.exact_batches = True  # each sample's model calls are its own (exact as alone); False: faster, batch-dependent
        self.compile = compile
        self._sampling_models: dict[tuple[str, bool], tuple[BiGR, GraphCache | None]] = {}

    def sampling_model(self) -> BiGR:
        """The BiGR that sampling runs at the current precision, made once per precision: in bf16 a copy
        with bf16 linear weights (same results as autocast over `self.bigr`, without re-casting every
        weight at every call); compiled when the engine was asked to compile. `self.bigr` stays as loaded."""
        return self._sampling()[0]

    def sampling_graphs(self) -> GraphCache | None:
        """The recorded CUDA graphs that sampling replays (one cache per sampling model), or None."""
        return self._sampling()[1]

    def _sampling(self) -> tuple[BiGR, GraphCache | None]:
        model = self.require_bigr()
        key = (self.precision, self.graphs)
        if key not in self._sampling_models:
            if self.precision == "bf16":
                model = with_linear_weights_in(model, torch.bfloat16)
            elif self.compile:
                model = copy.deepcopy(model)
            if self.compile:
                compile_for_sampling(model)
            self._sampling_models[key] = (model, GraphCache() if self.graphs else None)
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
    ) -> "Pipeline":
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
    ) -> "Pipeline":
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
    ) -> "Pipeline":
        """The release's BiGR `.pt` and B-AE `.th`."""
        model = load_official_bigr(bigr, heads=heads)
        tokenizer = load_official_bae(bae, grid=model.cfg.grid)
        if tokenizer.cfg.bits != model.cfg.bits:
            raise CheckpointError(f"{bae}: B-AE makes {tokenizer.cfg.bits}-bit codes but {bigr} expects {model.cfg.bits} bits")
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

    def describe(self, source: bool = True) -> str:  # source: where its weights came from (maybe a local path)
        what = f"BiGR {self.bigr.cfg.n_layer}x{self.bigr.cfg.dim}" if self.bigr else "tokenizer only"
        where = (" with CUDA graphs" if self.graphs else "") + ("" if self.exact_batches else FAST_NOTE)
        where += f" ({self.source})" if source else ""
        return (f"{what}, {self.num_classes} classes, {self.resolution}px as {self.grid}x{self.grid} tokens x "
                f"{self.bits} bits, on {self.device.type} in {self.precision}{where}")

    @property
    def frame_margin(self) -> int:
        """Model pixels at the frame's edge that whole-picture edits keep clear of the picture: a tokenizer
        trained on drawings with white borders decodes any frame's outermost pixels white."""
        return int(self.domain.get("frame_margin", 0))

    @property
    def feature_layer(self) -> int:
        """The layer recorded by the probe in the model's config, else the middle layer."""
        cfg = self.require_bigr().cfg
        return cfg.feature_layer if cfg.feature_layer is not None else cfg.n_layer // 2

    def autocast(self):
        """The precision's autocast on the engine's device (nothing in fp32)."""
        return autocast(self.precision, self.device)

    def require_bigr(self) -> BiGR:
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
        with self.autocast():
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
        with self.autocast():
            x = self.tokenizer.decode(bits.to(self.device).float().permute(0, 3, 1, 2))
        return x.float().clamp(0, 1)

    # ---- classes ------------------------------------------------------------------------
    def class_index(self, spec: ClassSpec) -> int:
        """A class given by index or name -> index; None -> the null (unconditional) class."""
        if spec is None:
            return self.require_bigr().cfg.num_classes
        if isinstance(spec, str):
            if spec in self.class_names:
                return self.class_names.index(spec)
            if spec.strip().lstrip("-").isdigit():
                spec = int(spec)
            else:
                raise InputError(f"unknown class {spec!r}")
        return whole_number("class (a name, or an index)", spec, 0, self.num_classes - 1)

    def class_ids(self, spec: ClassSpec, n: int) -> torch.Tensor:
        """The class (None: unconditional) as ids for a batch of n."""
        return torch.full((n,), self.class_index(spec), dtype=torch.long, device=self.device)

    def class_weights(self, mix: dict[ClassSpec, float]) -> torch.Tensor:
        """{class: weight} -> a mixing vector over the class table (null class last)."""
        w = torch.zeros(self.require_bigr().cfg.num_classes + 1, device=self.device)
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
        return whole_number("seed", seed, 0, MAX_SEED - 4096)

    def noise_streams(self, seed: int | None, batch: int, seed_step: int = 0) -> SampleStreams:
        """Row i draws from seed + i (mixed with `seed_step` for an edit's later windows or rounds)."""
        return SampleStreams.from_seeds(sample_seeds(self.resolve_seed(seed), batch, seed_step), self.device)

    @torch.inference_mode()
    def sample_tokens(
        self,
        bits: torch.Tensor,
        cells: torch.Tensor,
        classes: torch.Tensor,
        seed: int | None = 0,
        progress: Progress | None = None,
        timer: PhaseTimer | None = None,
        seed_step: int = 0,
        **sampling,
    ) -> torch.Tensor:
        """The single entry to the masked-decoding loop.

        bits [B, h, w, K] bool/{0,1}; cells [B, h, w] bool, the tokens to generate; classes: ids [B] (long, the
        null id for unconditional) or mixing weights [B, num_classes + 1]. Returns bits [B, h, w, K].
        Row i samples with its own stream, seed + i: alone with that seed it samples the same.
        """
        model, graphs = self._sampling()
        params = self.sampling_params(**sampling)
        b = bits.shape[0]
        tokens = bits.to(self.device).float().reshape(b, -1, self.bits)
        flat_cells = cells.to(self.device).bool().reshape(b, -1)
        cond = model.backbone.class_condition(classes.to(self.device))
        uncond = model.backbone.null_condition(b)
        with self.autocast():
            out = self.decode_loop(model, tokens, flat_cells, cond, uncond, params, self.noise_streams(seed, b, seed_step),
                                   progress, timer, graphs=graphs, exact=self.exact_batches)
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
        num_samples = whole_number("num_samples", num_samples, 1)
        ids = torch.tensor([self.class_index(s) for s in specs for _ in range(num_samples)], device=self.device)
        return self.decode(self.generate_tokens(ids, seed, progress, **sampling))

    def generate_tokens(self, classes: torch.Tensor, seed: int | None = 0, progress: Progress | None = None,
                        **sampling) -> torch.Tensor:
        b = classes.shape[0]
        bits = torch.zeros(b, self.grid, self.grid, self.bits, dtype=torch.bool, device=self.device)
        everything = torch.ones(b, self.grid, self.grid, dtype=torch.bool, device=self.device)
        return self.sample_tokens(bits, everything, classes, seed, progress, **sampling)

    def cost_model(self) -> CostModel:
        """The unit costs of sampling on this engine's device, measured now (see `sampling.timing`)."""
        blank = torch.zeros(1, self.grid, self.grid, self.bits, device=self.device)
        model, graphs = self._sampling()
        return measure_costs(model, graphs, self.device, self.autocast, lambda: self.decode_tensor(blank))
