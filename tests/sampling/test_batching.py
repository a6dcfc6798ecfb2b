"""Requests from many threads batched into one decoding loop: each gets what it gets alone, to the bit."""
import copy
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from bigr_app.sampling.batching import BatchedDecode, requests_of
from bigr_app.sampling.masked_decoding import masked_decode

FAST = dict(iterations=4, diffusion_steps=8)


def batched(engine, **options):
    served = copy.copy(engine)
    served.decode_loop = BatchedDecode(**options)
    return served


def at_once(jobs: list) -> list:
    """Run the jobs in threads started together; each result, or the exception it raised."""
    results = [None] * len(jobs)
    start = threading.Barrier(len(jobs))

    def worker(i):
        start.wait()
        try:
            results[i] = jobs[i]()
        except Exception as e:  # noqa: BLE001
            results[i] = e

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def pixels(images) -> list[np.ndarray]:
    return [np.asarray(im) for im in images]


@pytest.fixture()
def picture():
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 56, 3), dtype=np.uint8))


def masks(size):
    out = []
    for box in [(0, 0, 20, 20), (10, 5, 50, 30)]:
        m = Image.new("L", size, 0)
        m.paste(255, box)
        out.append(m)
    return out


def test_each_request_in_a_batch_gets_its_pictures_alone(tiny_engine, picture):
    served = batched(tiny_engine, window=1.0, max_batch=16)
    jobs = [
        lambda: served.generate("c1", seed=3, **FAST),
        lambda: served.generate(2, num_samples=2, seed=11, **FAST),
        lambda: served.generate(None, seed=5, **FAST),
    ] + [lambda m=m: served.inpaint(picture, m, class_id=1, num_samples=2, seed=7, **FAST)
         for m in masks(picture.size)]
    together = at_once(jobs)
    alone = [job() for job in [
        lambda: tiny_engine.generate("c1", seed=3, **FAST),
        lambda: tiny_engine.generate(2, num_samples=2, seed=11, **FAST),
        lambda: tiny_engine.generate(None, seed=5, **FAST),
    ] + [lambda m=m: tiny_engine.inpaint(picture, m, class_id=1, num_samples=2, seed=7, **FAST)
         for m in masks(picture.size)]]
    for got, want in zip(together, alone):
        assert not isinstance(got, Exception), got
        assert all(np.array_equal(a, b) for a, b in zip(pixels(got), pixels(want), strict=True))
    assert max(served.decode_loop.batch_sizes) > 2  # they did share batches
    assert sum(served.decode_loop.batch_sizes) == 1 + 2 + 1 + 2 + 2


def test_one_requests_failure_is_its_own(tiny_engine):
    served = batched(tiny_engine, window=1.0, max_batch=16)

    def gone(done, total):
        raise ConnectionError("the browser went away")

    seen = []
    results = at_once([
        lambda: served.generate(0, seed=1, progress=gone, **FAST),
        lambda: served.generate(1, seed=2, progress=lambda d, t: seen.append((d, t)), **FAST),
        lambda: served.generate(5, seed=2, **FAST),  # bad input: refused before it joins a batch
    ])
    assert isinstance(results[0], ConnectionError)
    assert np.array_equal(np.asarray(results[1][0]), np.asarray(tiny_engine.generate(1, seed=2, **FAST)[0]))
    assert "class" in str(results[2])
    assert seen == [(i, 4) for i in range(1, 5)]  # its own progress, once per iteration


def test_only_compatible_requests_share_a_batch(tiny_engine):
    served = batched(tiny_engine, window=0.5, max_batch=3)
    at_once([lambda: served.generate(0, seed=1, **FAST), lambda: served.generate(0, seed=2, cfg_scale=1.0, **FAST)]
            + [lambda s=s: served.generate(1, seed=s, **FAST) for s in range(4)])
    sizes = served.decode_loop.batch_sizes
    assert sum(sizes) == 6 and max(sizes) <= 3  # the largest batch is a flag
    assert len(sizes) >= 3  # cfg 1 runs apart from the others


def test_max_batch_one_runs_each_call_alone(tiny_engine):
    served = batched(tiny_engine, window=0.5, max_batch=1)
    at_once([lambda s=s: served.generate(1, seed=s, **FAST) for s in range(3)])
    assert served.decode_loop.batch_sizes == []  # not through the batcher at all


def test_without_a_window_calls_gather_while_the_device_is_busy(tiny_engine):
    served = batched(tiny_engine, window=0, max_batch=16)
    results = at_once([lambda s=s: served.generate(1, seed=s, **FAST) for s in range(6)])
    assert all(not isinstance(r, Exception) for r in results)
    assert sum(served.decode_loop.batch_sizes) == 6


def test_a_lone_user_waits_for_no_one(tiny_engine):
    served = batched(tiny_engine, window=60.0, max_batch=16)
    served.generate(1, num_samples=3, seed=0, **FAST)
    assert served.decode_loop.requesters_expected() == 1  # the next request runs at once, whatever its size
    served.generate(1, seed=0, **FAST)  # (with a wrong expectation this would wait the whole minute)
    assert served.decode_loop.batch_sizes == [3, 1]


def test_users_of_a_batch_are_waited_for_when_they_come_back(tiny_engine):
    served = batched(tiny_engine, window=3.0, max_batch=16)

    def user(k):
        return [served.generate(1, seed=10 * k + r, **FAST) for r in range(4)]

    at_once([lambda k=k: user(k) for k in range(3)])
    sizes = served.decode_loop.batch_sizes
    # together after the first, not split into one and two for good (the last waits out the window for the one
    # whose four are done)
    assert sum(sizes) == 12 and sizes[1:3] == [3, 3]


def waiting(loop: BatchedDecode, calls: int) -> None:
    """Returns once `calls` calls wait for a batch."""
    with loop.changed:
        assert loop.changed.wait_for(lambda: sum(len(q.calls) for q in loop.queues.values()) >= calls, timeout=60)


def test_a_requester_with_many_calls_delays_another_by_one_batch_at_most(tiny_engine):
    """Fair shares: one requester with eight calls waiting and another with one; the lone call runs in the next
    batch, beside one of the eight, not after all of them."""
    served = batched(tiny_engine, window=0.2, max_batch=16)
    loop, order = served.decode_loop, []

    def generate(who, seed):
        with requests_of(who):
            served.generate(1, seed=seed, **FAST)
        order.append((who, len(loop.batch_sizes)))

    with loop.device_held():  # the device busy: all nine wait together
        threads = [threading.Thread(target=generate, args=("greedy", s)) for s in range(8)]
        for t in threads:
            t.start()
        waiting(loop, 8)
        threads.append(threading.Thread(target=generate, args=("lone", 99)))
        threads[-1].start()
        waiting(loop, 9)
    for t in threads:
        t.join(60)
    assert dict(order)["lone"] == 1 and loop.batch_sizes[0] == 2  # the first batch: its call and one of the eight
    assert sum(loop.batch_sizes) == 9


@pytest.mark.parametrize("exact", [True, False])
def test_a_requester_alone_fills_the_batch_only_where_rows_come_almost_free(tiny_engine, exact):
    """In fast batching a requester alone fills the batch; in exact batching, where each row costs its own time,
    its calls run one by one, so that a newcomer never waits behind a long batch of theirs."""
    served = batched(tiny_engine, window=0.2, max_batch=16)
    served.exact_batches = exact
    loop = served.decode_loop

    def generate(seed):
        with requests_of("one"):
            served.generate(1, seed=seed, **FAST)

    with loop.device_held():
        threads = [threading.Thread(target=generate, args=(s,)) for s in range(6)]
        for t in threads:
            t.start()
        waiting(loop, 6)
    for t in threads:
        t.join(60)
    assert loop.batch_sizes == ([1] * 6 if exact else [6])


def test_batches_sample_on_the_devices_own_thread_in_the_callers_precision(tiny_engine):
    """One thread samples for every caller (on a CPU, OpenMP teams of many threads slow each other), with the
    torch threads it was given, in the autocast of the engine that called, and reports progress from there."""
    seen = []

    def loop(*args, **kwargs):
        seen.append((threading.current_thread(), torch.get_num_threads(), torch.is_autocast_enabled("cpu"),
                     torch.get_autocast_dtype("cpu")))
        return masked_decode(*args, **kwargs)

    served = batched(tiny_engine, window=0.5, max_batch=16, loop=loop, threads=1)
    served.precision = "bf16"
    reports = []
    at_once([lambda s=s: served.generate(1, seed=s, progress=lambda d, t: reports.append(threading.current_thread()),
                                         **FAST) for s in range(3)]
            + [lambda: served.generate(1, num_samples=16, seed=0, **FAST)])  # too large to batch: alone, same thread
    assert len(seen) >= 2 and len({thread for thread, *_ in seen}) == 1
    thread, threads, autocast, dtype = seen[0]
    assert thread is not threading.main_thread() and threads == 1 and autocast and dtype == torch.bfloat16
    assert set(reports) == {thread}
    assert not torch.is_autocast_enabled("cpu")  # the caller's own state untouched


def test_each_caller_previews_only_its_own_rows(tiny_engine):
    """Pictures forming, in a batch of several callers: each sees its own rows, every iteration but the last."""

    class Watch:
        def __init__(self):
            self.rows, self.unknown = [], []

        def __call__(self, done, total):
            pass

        def preview(self, tokens, unknown):
            self.rows.append(len(tokens))
            self.unknown.append(int(unknown.sum()))

    served = batched(tiny_engine, window=5.0, max_batch=16)
    served.decode_loop.last_batch = ({"a", "b"}, time.monotonic())  # as if both had just been served together
    watches = [Watch(), Watch()]

    def generate(who, *args, **kwargs):
        with requests_of(who):
            return served.generate(*args, **kwargs)

    at_once([lambda: generate("a", 1, num_samples=1, seed=0, progress=watches[0], **FAST),
             lambda: generate("b", 2, num_samples=3, seed=5, progress=watches[1], **FAST)])
    assert served.decode_loop.batch_sizes == [4]  # one batch
    assert watches[0].rows == [1] * 3 and watches[1].rows == [3] * 3  # FAST: 4 iterations, the last not shown
    for watch, n in zip(watches, (1, 3)):
        assert watch.unknown == sorted(watch.unknown, reverse=True) and 0 < watch.unknown[-1] < n * tiny_engine.grid**2
