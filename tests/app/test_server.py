"""The server under stress: a failing worker, many clients at once, files it must not serve."""
import importlib.util
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from bigr_app.app.server_process import ROOT

from .conftest import served

EXAMPLE = ROOT / "assets" / "examples" / "smiley.png"
KNOBS = dict(seed=1, cfg=3.0, iterations=3, gumbel=0.0, steps=4)



@pytest.fixture()
def in_process_app(tiny_engine):
    """The app served from this process, so a test can make its engine fail."""
    from gradio_client import Client

    from bigr_app.app.ui import build_ui

    demo = build_ui(tiny_engine)
    with served(demo, concurrency=1) as url:
        yield demo, Client(url + "/", verbose=False)


def test_a_failing_worker_fails_one_request_and_the_server_carries_on(in_process_app, tiny_engine, monkeypatch):
    from gradio_client.exceptions import AppError

    demo, client = in_process_app
    real = type(tiny_engine).generate
    calls = []

    def out_of_memory_once(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise MemoryError("CUDA out of memory (injected)")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(tiny_engine), "generate", out_of_memory_once)
    with pytest.raises(AppError, match="MemoryError"):
        client.predict("c1", 1, *KNOBS.values(), api_name="/generate")
    gallery, files = client.predict("c1", 1, *KNOBS.values(), api_name="/generate")
    assert len(gallery) == 1 and len(calls) == 2


@pytest.fixture(scope="module")
def server(app_servers):
    return app_servers("--log-batches")


def test_concurrent_clients_all_answered_correctly(server):
    spec = importlib.util.spec_from_file_location("load_test", ROOT / "benchmarks" / "load_test.py")
    load_test = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load_test)
    r = load_test.run_load(server, clients=3, requests=2, image=EXAMPLE,
                           knobs=dict(cfg=3.0, iterations=3, gumbel=0.0, steps=4))
    assert r["failures"] == [] and r["answered"] == r["requests"] == 6
    assert r["rss_peak_mib"] >= r["rss_before_mib"] > 0


@pytest.mark.parametrize("path", ["/etc/passwd", str(ROOT / "app.py"), str(ROOT / "weights")])
def test_files_outside_the_served_folders_are_refused(server, path):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{server.url}gradio_api/file={path}", timeout=10)
    assert e.value.code in (403, 404)


def test_server_binds_loopback_only(server):
    import app

    args = app.parse_args([])
    assert args.host == "127.0.0.1" and not args.share
    assert server.url.startswith("http://127.0.0.1:")


def test_each_user_of_a_batch_sees_their_own_progress(server):
    """Sampling runs on the device's thread, for a batch of several users: each request's bar still moves."""
    from gradio_client import Client

    iterations = 24
    knobs = dict(seed=0, cfg=3.0, iterations=iterations, gumbel=0.0, steps=16)
    jobs = [Client(server.url, verbose=False).submit("(unconditional)", 1, *knobs.values(), api_name="/generate")
            for _ in range(3)]
    seen = [set() for _ in jobs]

    def watch(i):
        while not jobs[i].done():
            for unit in jobs[i].status().progress_data or []:
                if unit.desc == "sampling" and unit.length == iterations:
                    seen[i].add(unit.index)
            time.sleep(0.005)

    watchers = [threading.Thread(target=watch, args=(i,)) for i in range(len(jobs))]
    for w in watchers:
        w.start()
    for job, w in zip(jobs, watchers):
        assert len(job.result(timeout=120)[0]) == 1
        w.join(10)
    assert all(len(s) >= 2 for s in seen), seen  # every request's bar moved, not only one of them
    batches = [line for line in Path(server.log.name).read_text().splitlines() if "batch of" in line]
    assert any("from 2 requests" in b or "from 3 requests" in b for b in batches), batches
