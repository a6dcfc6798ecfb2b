"""Precision: the choice of bf16 / fp32 and what bf16 changes (little)."""
import numpy as np
import pytest
import torch

from bigr_app import InputError
from bigr_app import devices as engine_module
from bigr_app.devices import pick_precision
from bigr_app.tiny import random_tiny_engine

from .conftest import FAST


def test_explicit_precision_is_kept():
    assert pick_precision("fp32", torch.device("cpu")) == "fp32"
    assert pick_precision("bf16", torch.device("cpu")) == "bf16"


@pytest.mark.parametrize("native, expected", [(True, "bf16"), (False, "fp32")])
def test_auto_uses_bf16_only_where_the_cpu_has_it(monkeypatch, native, expected):
    monkeypatch.setattr(engine_module, "cpu_has_native_bf16", lambda: native)
    assert pick_precision("auto", torch.device("cpu")) == expected


@pytest.mark.parametrize("bad", ["fp16", "float32", "", None])
def test_unknown_precision_is_refused(bad):
    with pytest.raises(InputError, match="precision"):
        pick_precision(bad, torch.device("cpu"))


@pytest.fixture(scope="module")
def engines():
    return random_tiny_engine("cpu", precision="fp32"), random_tiny_engine("cpu", precision="bf16")


def test_bf16_engine_says_so_and_generates(engines):
    fp32, bf16 = engines
    assert "fp32" in fp32.describe() and "bf16" in bf16.describe()
    images = bf16.generate(2, 2, seed=0, **FAST)
    assert len(images) == 2 and images[0].size == (bf16.resolution, bf16.resolution)


def test_bf16_features_are_close_to_fp32(engines):
    fp32, bf16 = engines
    images = fp32.generate(1, 4, seed=0, **FAST)
    a, b = fp32.features(images), bf16.features(images)
    cosine = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert a.dtype == b.dtype == np.float32 and cosine.min() > 0.99


def test_bf16_reconstruction_is_close_to_fp32(engines):
    fp32, bf16 = engines
    images = fp32.generate(3, 2, seed=1, **FAST)
    x = fp32.images_to_tensor(images)
    assert (fp32.encode(x) == bf16.encode(x)).float().mean() > 0.97
    diff = (fp32.decode_tensor(fp32.encode(x)) - bf16.decode_tensor(fp32.encode(x))).abs().mean()
    assert diff < 0.02


def test_bf16_sampling_runs_a_bf16_copy_that_samples_what_autocast_over_the_loaded_weights_does(engines):
    _, bf16 = engines
    copy = bf16.sampling_model()
    assert copy is bf16.sampling_model() and copy is not bf16.bigr
    linears = [name for name, m in copy.named_modules() if isinstance(m, torch.nn.Linear)]
    assert linears and all(copy.get_submodule(n).weight.dtype == torch.bfloat16 for n in linears)
    assert all(p.dtype == torch.float32 for p in bf16.bigr.parameters())  # the loaded weights are untouched
    tokens = torch.zeros(3, bf16.grid, bf16.grid, bf16.bits, dtype=torch.bool)
    everything = torch.ones(3, bf16.grid, bf16.grid, dtype=torch.bool)
    classes = torch.tensor([0, 1, 2])
    from_copy = bf16.sample_tokens(tokens, everything, classes, seed=5, **FAST)
    bf16._sampling_models["bf16", False] = (bf16.bigr, None)  # what autocast alone would run
    try:
        from_loaded = bf16.sample_tokens(tokens, everything, classes, seed=5, **FAST)
    finally:
        bf16._sampling_models["bf16", False] = (copy, None)
    assert torch.equal(from_copy, from_loaded)
