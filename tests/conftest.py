import os
import sys

import pytest
import torch

from bigr_app.tiny import TINY_BIGR, TINY_TOKENIZER, random_tiny_engine, randomize  # noqa: F401

FAST = dict(iterations=4, diffusion_steps=8)


@pytest.fixture(scope="session")
def tiny_engine():
    torch.manual_seed(0)
    return random_tiny_engine("cpu")


@pytest.fixture(scope="session")
def tiny_models(tiny_engine):
    return tiny_engine.tokenizer, tiny_engine.bigr


@pytest.fixture(autouse=True, scope="session")
def fp32_when_auto():
    """In-process engines resolve precision 'auto' to fp32, so tests behave alike on any CPU. The promises users
    get in bf16 (the default on CPUs with bf16 units and on GPUs) are tested in bf16 explicitly: same seed, same
    picture in sampling/test_batch_invariance.py and app/test_server_precision.py; test_precision.py,
    test_reference.py."""
    from bigr_app import devices as engine

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(engine, "cpu_has_native_bf16", lambda: False)
        yield


def pytest_sessionfinish(session, exitstatus):
    session.config.bigr_exitstatus = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    """End the process with pytest's own exit status once everything is reported. A normal exit runs the C++
    destructors of torch's thread pools while threads that sampled for a served app may still hold them, and now
    and then aborts ("terminate called without an active exception", exit 134) after every test passed."""
    status = getattr(config, "bigr_exitstatus", None)
    if status is not None and not hasattr(config, "workerinput"):
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            stream.flush()
        os._exit(status)
