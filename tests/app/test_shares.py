"""Each user may have a few requests in progress; the next is refused with a message, other users are not."""
import threading

import gradio as gr
import pytest

from bigr_app.app.ui.studio import Studio
from bigr_app.errors import InputError


def test_a_user_over_their_share_is_refused_and_others_are_served(tiny_engine):
    studio = Studio(tiny_engine, per_user=True, max_waiting_per_user=2)
    release, started = threading.Event(), threading.Semaphore(0)

    def slow(engine):
        started.release()
        release.wait(30)

    def served(name: str) -> str:
        studio.service.compute(slow, studio.context(gr.Request(username=name)))
        return name

    results = []
    threads = [threading.Thread(target=lambda: results.append(served("alice"))) for _ in range(2)]
    for t in threads:
        t.start()
    for _ in threads:
        assert started.acquire(timeout=30)
    with pytest.raises(InputError, match="already have 2 requests in progress"):
        served("alice")
    bob = threading.Thread(target=lambda: results.append(served("bob")))
    bob.start()
    assert started.acquire(timeout=30)  # bob's request runs beside alice's two
    release.set()
    for t in [*threads, bob]:
        t.join(30)
    assert sorted(results) == ["alice", "alice", "bob"]
    assert served("alice") == "alice"  # her requests are done: she is served again


def test_the_local_user_has_no_cap(tiny_engine):
    studio = Studio(tiny_engine, max_waiting_per_user=1)  # loopback: every result is the local user's
    local = studio.sessions.owner(gr.Request(username=None))
    with studio.shares.hold(local), studio.shares.hold(local):  # two at once, none refused
        assert local is None and not studio.shares.in_progress
