"""One typed request per task: what it takes (its pictures, class, seed, number of samples, the sampling knobs and
its own options), how it runs on a pipeline, and how it is written into a result's parameters and read back.
The page, the command line and the HTTP API all build these, so every knob has one name, here, which is also its
key in a PNG's parameters."""
from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any, ClassVar

from PIL import Image

from . import edits
from .edits.regenerate import Result, result_params, sample_count
from .errors import InputError
from .pipeline import Pipeline, Progress

PICTURE = {"picture": True}  # a field's metadata: an input picture, which the parameters record by its hash only
SOURCE_KEY = "source_sha256"  # the content hash of the picture an edit started from: History chains edits by it
RENAMED = {"blend": "blend_mode"}  # keys of parameters written by earlier versions -> today's names


@dataclass(frozen=True)
class Sampling:
    """The sampling knobs a request sets (None: the model's default; see `sampling.params.SamplingParams`)."""
    cfg_scale: float | None = None
    cfg_schedule: str | None = None
    iterations: int | None = None
    gumbel: float | None = None
    gumbel_schedule: str | None = None
    diffusion_steps: int | None = None
    temperature: float | None = None
    mask_schedule: str | None = None

    def options(self) -> dict[str, Any]:
        """The knobs set, by name: what the pipeline's sampling takes."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_params(cls, params: dict) -> "Sampling":
        return cls(**{f.name: params[f.name] for f in fields(cls) if params.get(f.name) is not None})


@dataclass(frozen=True, kw_only=True)
class TaskRequest:
    """What every task takes. A subclass names its `task` and runs it in `run_on`."""
    task: ClassVar[str]
    seed: int | None = 0  # None: a fresh random seed, which the result records
    sampling: Sampling = field(default_factory=Sampling)
    source_sha256: str | None = None  # the content hash of the picture an edit starts from (see `history`)

    def run(self, pipeline: Pipeline, progress: Progress | None = None) -> Result:
        """The task's pictures, with the parameters they were made with (this request's, and what the pipeline
        resolved: the seed, the model's defaults, the fitted frame...)."""
        result = self.run_on(pipeline, progress, **self.sampling.options())
        if self.source_sha256 is not None:
            result.params[SOURCE_KEY] = self.source_sha256
        return result

    def run_on(self, pipeline: Pipeline, progress: Progress | None, **sampling) -> Result:
        raise NotImplementedError

    def to_params(self) -> dict[str, Any]:
        """The request as a result's parameters record it: the task, then every value set (pictures by their
        source hash only), the sampling knobs flattened."""
        values = {f.name: getattr(self, f.name) for f in fields(self)
                  if f.name != "sampling" and not f.metadata.get("picture")}
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items() if v is not None}
        return {"task": self.task, **values, **self.sampling.options()}

    @classmethod
    def from_params(cls, params: dict) -> "TaskRequest":
        """The request that parameters (a PNG's, an API call's) describe; keys of other tasks and what a result
        adds (the fitted frame, the cells...) are left out, and names of earlier versions are read too."""
        params = {RENAMED.get(k, k): v for k, v in params.items()}
        own = {f.name: f for f in fields(cls) if f.name != "sampling" and not f.metadata.get("picture")}
        values = {name: tuple(params[name]) if isinstance(params[name], list) else params[name]
                  for name in own if name in params}
        missing = [n for n, f in own.items() if n not in values and f.default is MISSING
                   and f.default_factory is MISSING]
        if missing:
            raise InputError(f"{cls.task} needs {', '.join(missing)}")
        return cls(**values, sampling=Sampling.from_params(params))


@dataclass(frozen=True, kw_only=True)
class GenerateRequest(TaskRequest):
    task: ClassVar[str] = "generate"
    class_id: str | int | None = None  # a class name or index; None: unconditional
    num_samples: int = 1

    def run_on(self, pipeline, progress, **sampling):
        seed, n = pipeline.resolve_seed(self.seed), sample_count(pipeline, self.num_samples)
        images = pipeline.generate(self.class_id, num_samples=n, seed=seed, progress=progress,
                                   **sampling)
        return Result(images, result_params(pipeline, self.task, sampling, class_id=self.class_id,
                                            num_samples=n, seed=seed))


@dataclass(frozen=True, kw_only=True)
class MaskedRequest(TaskRequest):
    """A masked edit: the picture, its mask and how the edit treats them (see `edits.inpaint.masked_edit`)."""
    edit: ClassVar = staticmethod(edits.inpaint)
    picture: Image.Image | None = field(default=None, repr=False, metadata=PICTURE)
    mask: Any = field(default=None, repr=False, metadata=PICTURE)  # white = regenerate (outpainting: keep)
    class_id: str | int | None = None
    num_samples: int = 1
    fit: str = "crop"
    blend_mode: str = "feather"
    feather_radius: float = 4.0
    threshold: float = 0.0
    grow: int = 0
    region: str = "auto"
    padding: int | None = None
    strength: float = 1.0
    paste: str = "mask"

    def run_on(self, pipeline, progress, **sampling):
        if self.mask is None:
            raise InputError("no mask: paint over the region, or give a mask picture (white = regenerate)")
        skip = {f.name for f in fields(TaskRequest)} | {"picture", "mask"}
        options = {f.name: getattr(self, f.name) for f in fields(MaskedRequest) if f.name not in skip}
        return type(self).edit(pipeline, needs_picture(self.picture), self.mask, seed=self.seed, progress=progress,
                               **options, **sampling)


@dataclass(frozen=True, kw_only=True)
class InpaintRequest(MaskedRequest):
    task: ClassVar[str] = "inpaint"


@dataclass(frozen=True, kw_only=True)
class EditRequest(MaskedRequest):
    """Regenerate the masked region as the target class; every regenerated cell is pasted by default, so that
    the new class shows beyond a thin stroke."""
    task: ClassVar[str] = "edit"
    edit: ClassVar = staticmethod(edits.edit)
    class_id: str | int = field()  # the target class (required)
    paste: str = "cells"


@dataclass(frozen=True, kw_only=True)
class OutpaintRequest(MaskedRequest):
    """`expand` (left, top, right, bottom) pixels: a larger canvas, window by window; or, without it, `mask` is
    what to keep and the rest of the frame is regenerated."""
    task: ClassVar[str] = "outpaint"
    edit: ClassVar = staticmethod(edits.outpaint)
    expand: tuple[int, int, int, int] | None = None
    overlap: float = 0.5

    def run_on(self, pipeline, progress, **sampling):
        if self.expand is None:
            return super().run_on(pipeline, progress, **sampling)
        return edits.outpaint(pipeline, needs_picture(self.picture), expand=tuple(self.expand),
                              class_id=self.class_id, num_samples=self.num_samples, seed=self.seed,
                              overlap=self.overlap, progress=progress, **sampling)

    def to_params(self) -> dict[str, Any]:
        params = super().to_params()
        if self.expand is not None:  # the mask options do not apply to a canvas expansion
            return {k: params[k] for k in ("task", "expand", "overlap", "class_id", "num_samples", "seed",
                                           SOURCE_KEY, *self.sampling.options()) if k in params}
        return params


@dataclass(frozen=True, kw_only=True)
class InterpolateRequest(TaskRequest):
    task: ClassVar[str] = "interpolate"
    class_a: str | int
    class_b: str | int
    ratios: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)  # one picture per ratio r: r e_a + (1 - r) e_b

    def run_on(self, pipeline, progress, **sampling):
        return edits.interpolate(pipeline, self.class_a, self.class_b, self.ratios, self.seed, progress, **sampling)


@dataclass(frozen=True, kw_only=True)
class EnrichRequest(TaskRequest):
    """The release's enrichment: re-sample interleaved groups of tokens, `rounds` times, to add detail."""
    task: ClassVar[str] = "enrich"
    picture: Image.Image | None = field(default=None, repr=False, metadata=PICTURE)
    class_id: str | int | None = None
    rounds: int = 1
    downsample_rate: int = 2
    fit: str = "auto"

    def run_on(self, pipeline, progress, **sampling):
        return edits.enrich(pipeline, needs_picture(self.picture), rounds=self.rounds,
                            downsample_rate=self.downsample_rate, class_id=self.class_id, seed=self.seed, fit=self.fit,
                            progress=progress, **sampling)


@dataclass(frozen=True, kw_only=True)
class VaryRequest(TaskRequest):
    """Variations: re-sample a share `strength` of the tokens, spread over the grid."""
    task: ClassVar[str] = "vary"
    picture: Image.Image | None = field(default=None, repr=False, metadata=PICTURE)
    class_id: str | int | None = None
    num_samples: int = 1
    strength: float = 0.5
    fit: str = "auto"

    def run_on(self, pipeline, progress, **sampling):
        return edits.vary(pipeline, needs_picture(self.picture), strength=self.strength, class_id=self.class_id,
                          num_samples=self.num_samples, seed=self.seed, fit=self.fit, progress=progress, **sampling)


def needs_picture(picture: Image.Image | None) -> Image.Image:
    if picture is None:
        raise InputError("no picture: give the picture to work on")
    return picture


REQUESTS: dict[str, type[TaskRequest]] = {r.task: r for r in (
    GenerateRequest, InpaintRequest, EditRequest, OutpaintRequest, InterpolateRequest, EnrichRequest, VaryRequest)}


def request_from_params(params: dict) -> TaskRequest:
    """The request that a result's parameters (a PNG's) describe."""
    kind = REQUESTS.get(params.get("task"))
    if kind is None:
        raise InputError(f"no task {params.get('task')!r}: the tasks are {', '.join(REQUESTS)}")
    return kind.from_params(params)
