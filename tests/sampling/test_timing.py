"""The expected-time model counts exactly the work the sampler does."""
import pytest
import torch

from bigr_app.sampling.timing import PhaseTimer

from bigr_app.sampling.params import SamplingParams

from bigr_app.sampling.masked_decoding import masked_decode
from bigr_app.sampling.timing import CostModel


class CountingTimer(PhaseTimer):
    """Counts backbone sequences and transcoder row-steps instead of seconds."""

    def __init__(self):
        super().__init__()
        self.sequences = 0
        self.row_steps = 0
        self.steps = 0

    def measure(self, phase, fn, *args, **kwargs):
        if phase == "backbone":  # guided_backbone(backbone, tokens, unknown, cond, uncond, groups)
            self.sequences += args[1].shape[0] * (1 if args[4] is None else 2)
        else:  # per_sample_bits(bits_of, h_cond, h_uncond, noise, counts, exact)
            steps = args[0].keywords["steps"]
            rows = args[1].shape[0] + (args[2].shape[0] if args[2] is not None else 0)
            self.row_steps += rows * steps
            self.steps += steps
        return fn(*args, **kwargs)


@pytest.mark.parametrize("todo_count,batch,cfg,iterations,steps", [
    (256, 1, 3.0, 6, 5), (256, 3, 1.0, 4, 3), (100, 2, 3.0, 5, 2), (1, 1, 2.0, 3, 4),
])
def test_estimate_counts_the_samplers_work(tiny_models, todo_count, batch, cfg, iterations, steps):
    _, model = tiny_models
    params = SamplingParams(cfg_scale=cfg, iterations=iterations, diffusion_steps=steps)
    todo = torch.zeros(batch, 256, dtype=torch.bool)
    todo[:, :todo_count] = True
    timer = CountingTimer()
    masked_decode(model, torch.zeros(batch, 256, 8), todo, model.backbone.class_condition(torch.zeros(batch, dtype=torch.long)),
                  model.backbone.null_condition(batch), params, torch.Generator().manual_seed(0), timer=timer)
    unit = dict(backbone_s=0.0, step_s=0.0, row_step_s=0.0, decode_s=0.0, device="cpu")
    assert CostModel(**{**unit, "backbone_s": 1.0}).estimate(params, todo_count, 256, batch) == timer.sequences
    assert CostModel(**{**unit, "row_step_s": 1.0}).estimate(params, todo_count, 256, batch) == timer.row_steps
    assert CostModel(**{**unit, "step_s": 1.0}).estimate(params, todo_count, 256, batch) == timer.steps
    assert CostModel(**{**unit, "decode_s": 1.0}).estimate(params, todo_count, 256, batch) == batch


def test_measured_costs_are_positive_and_grow_with_the_settings(tiny_engine):
    costs = tiny_engine.cost_model()
    assert costs.backbone_s > 0 and costs.decode_s > 0 and costs.row_step_s >= 0 and costs.device == "cpu"
    base = SamplingParams(iterations=4, diffusion_steps=10)
    t = costs.estimate(base, 256, 256)
    assert costs.estimate(SamplingParams(iterations=8, diffusion_steps=10), 256, 256) > t
    assert costs.estimate(SamplingParams(iterations=4, diffusion_steps=40), 256, 256) > t
    assert costs.estimate(base, 256, 256, batch=4) > t > costs.estimate(base, 64, 256)


def test_app_shows_the_expected_time(tiny_engine):
    from bigr_app.app.ui import Studio

    studio = Studio(tiny_engine)
    text = studio.expected.generation(2, 3.0, 10, 25)
    assert "per picture" in text and "for 2" in text and "CPU" in text
    assert "out of range" in studio.expected.generation(2, 3.0, 10, 100000)


def test_calibration_follows_the_recent_runs():
    from bigr_app.sampling.timing import Calibration

    cal = Calibration(keep=3)
    assert cal.factor == 1.0
    for measured in (2.0, 2.2, 1.8):
        cal.record(measured, 1.0)
    assert cal.factor == 2.0
    for _ in range(3):
        cal.record(0.5, 1.0)  # the machine got faster: the old runs fall out
    assert cal.factor == 0.5
    cal.record(1.0, 0.0)  # nothing to compare with
    assert len(cal.ratios) == 3


def test_the_apps_expected_time_follows_its_last_generations(tiny_engine):
    from bigr_app.app.ui import Studio

    studio = Studio(tiny_engine)
    before = studio.expected.generation(1, 3.0, 4, 8)
    assert "measured at start-up" in before
    params = tiny_engine.sampling_params(cfg_scale=3.0, iterations=4, diffusion_steps=8)
    studio.expected.record(params, 1, 10 * studio.expected.costs.estimate(params, 256, 256))
    after = studio.expected.generation(1, 3.0, 4, 8)
    assert "following the last 1 run" in after and after != before
    from bigr_app.app.ui.generate import GenerateActions
    from bigr_app.app.ui.requests import Sampling

    GenerateActions(studio).generate("c1", Sampling.read(seed=0, cfg=3.0, iterations=4, gumbel=0.0, steps=8, n=1))
    assert "last 2 runs" in studio.expected.generation(1, 3.0, 4, 8)


def test_the_pages_expected_time_follows_a_model_switch(tiny_engine):
    from bigr_app.app.ui import Studio
    from bigr_app.tiny import random_tiny_engine

    studio = Studio(tiny_engine, models={"first": lambda device: tiny_engine,
                                         "second": lambda device: random_tiny_engine(device, seed=1)})
    shown = studio.expected.generation  # what the page's events hold from the start
    params = tiny_engine.sampling_params(cfg_scale=3.0, iterations=4, diffusion_steps=8)
    studio.expected.record(params, 1, 5 * studio.expected.sampling_seconds(params))
    assert "following the last 1 run" in shown(1, 3.0, 4, 8)
    assert studio.switch_model("second", progress=lambda *a, **k: None) == "second"
    assert "measured at start-up" in shown(1, 3.0, 4, 8)  # the new model's own figures
    assert studio.expected.engine is studio.pool.engines[0] is not tiny_engine
