"""Same seed, same picture, in every precision the app picks: sample i of a batch is the picture seed + i makes
alone, and a request batched with others is the request alone. The bundled model is used because its matrix
shapes are the ones where bf16 kernels round by row count (the random tiny model's are too small to show it)."""
import os
import subprocess
import sys

import numpy as np
import pytest

from bigr_app.engine import Engine

from ..conftest import FAST
from .test_batching import at_once, batched, masks

PRECISIONS = ["fp32", "bf16"]


@pytest.fixture(scope="module", params=PRECISIONS)
def bundled(request):
    return Engine.from_pretrained(None, device="cpu", precision=request.param)


def equal(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def test_each_sample_of_a_batch_is_its_seed_alone(bundled):
    batch = bundled.generate(["mammals", "flags"], num_samples=3, seed=100)
    classes = ["mammals"] * 3 + ["flags"] * 3  # class by class; row j has seed 100 + j
    alone = [bundled.generate([c], num_samples=1, seed=100 + j)[0] for j, c in enumerate(classes)]
    assert [equal(a, b) for a, b in zip(batch, alone)] == [True] * 6


def test_each_inpainted_sample_is_its_seed_alone(bundled):
    from PIL import Image

    from bigr_app.app.server_process import ROOT

    picture = Image.open(ROOT / "assets" / "examples" / "fox.png").convert("RGB")
    mask = np.asarray(Image.open(ROOT / "assets" / "examples" / "fox_mask.png").convert("L")) > 127
    batch = bundled.inpaint(picture, mask, num_samples=3, seed=40)
    assert [equal(batch[i], bundled.inpaint(picture, mask, num_samples=1, seed=40 + i)[0]) for i in range(3)] == [True] * 3


def test_requests_batched_together_are_the_requests_alone(bundled, picture):
    served = batched(bundled, window=1.0, max_batch=16)
    jobs = [lambda s=s: served.generate("mammals", seed=s) for s in (1, 2, 3)]
    jobs += [lambda m=m: served.inpaint(picture, m, class_id=1, num_samples=2, seed=7) for m in masks(picture.size)]
    together = at_once(jobs)
    alone = [bundled.generate("mammals", seed=s) for s in (1, 2, 3)]
    alone += [bundled.inpaint(picture, m, class_id=1, num_samples=2, seed=7) for m in masks(picture.size)]
    for got, want in zip(together, alone):
        assert not isinstance(got, Exception), got
        assert [equal(a, b) for a, b in zip(got, want, strict=True)] == [True] * len(want)
    assert max(served.decode_loop.batch_sizes) > 2  # they did share batches


@pytest.fixture()
def picture():
    from PIL import Image

    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8))


def test_fast_batching_is_the_documented_trade():
    """--batching fast computes a batch as one: the engine says so, and at batch 1 it is the exact path."""
    engine = Engine.from_pretrained(None, device="cpu", precision="bf16")
    exact = engine.generate("mammals", seed=5, **FAST)
    engine.exact_batches = False
    assert "fast batching" in engine.describe()
    assert equal(engine.generate("mammals", seed=5, **FAST)[0], exact[0])


def test_bf16_emulated_keeps_each_sample_its_seed_alone():
    """On a CPU without bf16 units (oneDNN held to AVX2 here), bf16 is emulated: the promise still holds."""
    code = ("import numpy as np\n"
            "from bigr_app.engine import Engine\n"
            "e = Engine.from_pretrained(None, device='cpu', precision='bf16')\n"
            "batch = e.generate(['mammals'], num_samples=3, seed=9, iterations=4, diffusion_steps=8)\n"
            "alone = [e.generate(['mammals'], seed=9 + i, iterations=4, diffusion_steps=8)[0] for i in range(3)]\n"
            "print([np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(batch, alone)])\n")
    env = {**os.environ, "ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600, env=env)
    assert done.stdout.strip() == "[True, True, True]", done.stderr[-2000:]


def test_fast_batching_is_recorded_in_every_png(tiny_engine, tmp_path):
    import copy

    from bigr_app.app.outputs import Outputs
    from bigr_app.app.saving import read_params
    from bigr_app.app.ui.studio import Studio
    from bigr_app.tasks import GenerateRequest, Sampling

    fast = copy.copy(tiny_engine)
    fast.exact_batches = False
    outputs = Outputs(tmp_path / "outputs")
    quick = Sampling(iterations=2, diffusion_steps=2)
    Studio(fast, outputs=outputs).run(GenerateRequest(seed=1, sampling=quick), None)
    Studio(tiny_engine, outputs=outputs).run(GenerateRequest(seed=2, sampling=quick), None)
    (fast_entry, exact_entry) = sorted(outputs.history.page()[0], key=lambda e: e.path.name)
    assert "depends on the batch" in read_params(fast_entry.path)["batching"]
    assert "batching" not in read_params(exact_entry.path)
