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
