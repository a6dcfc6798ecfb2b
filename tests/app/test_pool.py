"""One engine per device: requests go to the least busy, a model switch reaches every device, and the engine side
imports without gradio. Exercised with two CPU engines of one thread each."""
import copy
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from bigr_app.app.pool import EnginePool, serving_devices
from bigr_app.errors import InputError

FAST = dict(iterations=4, diffusion_steps=8)


@pytest.fixture()
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def pool(tiny_engine, one_thread):
    return EnginePool([tiny_engine, copy.copy(tiny_engine)], window=0.0, max_batch=8)


def test_a_request_goes_to_the_least_busy_engine(pool):
    a, b = pool.engines
    with pool.request() as first:
        with pool.request() as second:
            assert (first, second) == (a, b)
            with pool.request() as third:
                assert third is a  # equally busy: the first
        with pool.request() as fourth:
            assert fourth is b  # b is free again
    assert pool.requests == [0, 0]


def test_requests_at_once_share_the_engines_and_sample_as_alone(pool, tiny_engine):
    picked, start = [], threading.Barrier(4)
    results = [None] * 4

    def user(i):
        with pool.request() as engine:
            picked.append(engine)
            start.wait()  # all four are being served at the same time
            results[i] = engine.generate(i % 3, seed=i, **FAST)

    threads = [threading.Thread(target=user, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    a, b = pool.engines
    assert sorted(map(id, picked)) == sorted([id(a), id(a), id(b), id(b)])
    assert a.decode_loop.batch_sizes and b.decode_loop.batch_sizes  # both devices sampled
    for i, images in enumerate(results):
        assert np.array_equal(np.asarray(images[0]), np.asarray(tiny_engine.generate(i % 3, seed=i, **FAST)[0]))


def test_a_model_switch_reaches_every_device(pool, tiny_engine):
    asked = []

    def load(device):
        asked.append(device)
        return copy.copy(tiny_engine)

    before = list(pool.engines)
    pool.replace(load)
    assert asked == ["cpu", "cpu"]
    assert all(new is not old for new, old in zip(pool.engines, before))
    assert all(e.decode_loop.max_batch == 8 for e in pool.engines)  # still batching as asked

    def broken(device):
        raise InputError("no such model")

    with pytest.raises(InputError):
        pool.replace(broken)
    assert len(pool.engines) == 2  # all or nothing: still serving the last model


def test_the_engines_given_are_left_as_they_were(tiny_engine, one_thread):
    loop = tiny_engine.decode_loop
    EnginePool([tiny_engine])
    assert tiny_engine.decode_loop is loop


@pytest.mark.parametrize("spec,devices", [("cuda:0,cuda:1", ["cuda:0", "cuda:1"]), ("cpu", ["cpu"]),
                                          ("auto", ["auto"]), (" cuda:1 , cuda:3", ["cuda:1", "cuda:3"])])
def test_device_lists(spec, devices):
    assert serving_devices(spec) == devices


def test_all_devices_without_a_gpu_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert serving_devices("all") == ["cpu"]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert serving_devices("all") == ["cuda:0", "cuda:1"]
    with pytest.raises(InputError):
        serving_devices(" , ")


def test_the_engine_side_imports_without_gradio():
    code = ("import sys; sys.modules['gradio'] = None\n"
            "import bigr_app.engine, bigr_app.sampling.batching, bigr_app.app.pool, bigr_app.app.cli, bigr_app.train\n"
            "print('ok')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_the_sampling_threads_do_not_change_the_pictures():
    """A loopback server samples on one core fewer than a server for others: the same seed must still make the
    same picture, in the precision users get by default."""
    from bigr_app.engine import Engine

    engine = Engine.from_pretrained(None, device="cpu")
    pictures = {}
    for threads in (1, 2):
        with EnginePool([engine], window=0.0, threads=threads).request() as served:
            pictures[threads] = [np.asarray(p) for p in served.generate([0, 3], num_samples=2, seed=7, **FAST)]
    assert all(np.array_equal(a, b) for a, b in zip(pictures[1], pictures[2]))
