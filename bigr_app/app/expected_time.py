"""What the page says a request will take before it runs: the served model's cost model, measured at start-up on
its sampling thread (`sampling.timing`), scaled by how the last generations compared with it; for an edit of a
picture, plus the picture's own work (`edit_time`)."""
from __future__ import annotations

from ..engine import Engine
from ..errors import BiGRError
from ..sampling.params import SamplingParams
from ..sampling.timing import Calibration, CostModel
from .edit_time import picture_costs
from .pool import EnginePool


def format_seconds(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


class ExpectedTime:
    """Expected times of the model `pool` serves, on its device; nothing is expected of a model that cannot sample.
    One object for the life of the page, so that the page's events bound to it follow a model switch."""

    def __init__(self, pool: EnginePool):
        self.pool = pool
        self.measure()

    def measure(self) -> None:
        """The served model's costs, measured where its first engine samples (so the figures see the threads
        sampling gets); the runs before are forgotten. At start and after a model switch."""
        self.engine: Engine = self.pool.engines[0]
        self.costs: CostModel | None = self.pool.on_sampling_thread(self.engine, self.engine.cost_model) \
            if self.engine.bigr is not None else None
        self.calibration = Calibration()

    def params(self, cfg, iterations, steps) -> SamplingParams | None:
        """The engine's sampling parameters for these knobs, or None when they are out of range."""
        try:
            return self.engine.sampling_params(cfg_scale=float(cfg), iterations=int(iterations),
                                               diffusion_steps=int(steps))
        except (BiGRError, TypeError, ValueError):
            return None

    def sampling_seconds(self, params: SamplingParams, to_generate: int | None = None, n: int = 1) -> float:
        """`n` pictures regenerating `to_generate` tokens each (default: all of them)."""
        tokens = self.engine.grid**2
        return self.calibration.factor * self.costs.estimate(params, tokens if to_generate is None else to_generate, tokens,
                                                              batch=int(n))

    def record(self, params: SamplingParams, n: int, measured_s: float) -> None:
        """A generation of `n` pictures took `measured_s`: later figures follow it."""
        if self.costs is not None:
            tokens = self.engine.grid**2
            self.calibration.record(measured_s, self.costs.estimate(params, tokens, tokens, batch=int(n)))

    def generation(self, n, cfg, iterations, steps) -> str:
        """The expected time of a generation of `n` pictures at these knobs, as the page shows it."""
        if self.costs is None:
            return ""
        params = self.params(cfg, iterations, steps)
        if params is None:
            return "Expected time: — (settings out of range)"
        one, many = self.sampling_seconds(params), self.sampling_seconds(params, n=n)
        half = self.sampling_seconds(params, self.engine.grid**2 // 2)
        runs = len(self.calibration.ratios)
        basis = f"following the last {runs} run{'s' * (runs > 1)}" if runs else "measured at start-up"
        return (f"Expected time on this {self.costs.device.upper()}: about **{format_seconds(one)}** per picture "
                f"({format_seconds(many)} for {int(n)}), half-picture inpainting about {format_seconds(half)}; "
                f"{basis}")

    def edit_seconds(self, cells: int, size: tuple[int, int], png_px: float, n, cfg, iterations,
                     steps) -> tuple[float, float] | None:
        """A masked edit regenerating `cells` of a picture of `size` (whose PNG writes at `png_px` seconds per
        pixel), `n` results: (seconds sampling, seconds of the picture's own work: reading it, pasting each result
        back, writing the PNGs). None: no estimate."""
        params = self.params(cfg, iterations, steps) if self.costs is not None else None
        if params is None:
            return None
        width, height = size
        return self.sampling_seconds(params, cells, n), picture_costs().estimate(width * height, int(n), png_px)

    def edit(self, cells: int, size: tuple[int, int], png_px: float, n, cfg, iterations, steps) -> str:
        """The expected time of a masked edit (see `edit_seconds`), as the page shows it."""
        seconds = self.edit_seconds(cells, size, png_px, n, cfg, iterations, steps)
        if seconds is None:
            return ""
        sampling, work = seconds
        return (f"Expected time of this edit: about **{format_seconds(sampling + work)}** for {int(n)} "
                f"(sampling {format_seconds(sampling)}, the {size[0]}x{size[1]} picture itself "
                f"{format_seconds(work)}).")
