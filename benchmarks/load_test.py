"""Many users at once: concurrent gradio_client clients sending generate or inpaint requests to the app, with
requests batched across users (the app's default) and without (--max-batch 1 --concurrency 1).

    python benchmarks/load_test.py                       # both tasks, batching on and off, 1, 4 and 8 clients
    python benchmarks/load_test.py --tasks generate --clients 8 --requests 5
    python benchmarks/load_test.py --batching on fast off    # also --batching fast (a batch computed as one)
    python benchmarks/load_test.py --fairness --tasks generate   # 4 users' latency beside a greedy one with 20

Starts the app on the bundled model, loopback only, bounded (at most 16 clients x 20 requests, each with a
timeout). Every answer is checked: the right number of pictures, the picture's size, and for inpaint pixels far
from the painted band unchanged (blend "none"). Prints, per task, batching and client count: throughput, p50
and p95 latency, the batches the server ran, and the server's memory.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bigr_app.app.server_process import AppServer  # noqa: E402

EXAMPLE = ROOT / "assets" / "examples" / "fox.png"
KNOBS = dict(cfg=3.0, iterations=10, gumbel=0.01, steps=25)


def band_layer(size: tuple[int, int], folder: Path) -> Path:
    """A painted layer covering the middle fifth of the rows."""
    w, h = size
    layer = np.zeros((h, w, 4), np.uint8)
    layer[2 * h // 5 : 3 * h // 5] = (255, 40, 40, 255)
    path = folder / "band.png"
    Image.fromarray(layer, "RGBA").save(path)
    return path


def check_answer(result, original: np.ndarray | None, resolution: int | None = None) -> str | None:
    """None when the answer is right, else what is wrong. original None: a generated picture, `resolution` square."""
    gallery, files = result
    if len(gallery) != 1 or len(files) != 1:
        return f"expected 1 picture, got {len(gallery)}"
    got = np.asarray(Image.open(files[0]).convert("RGB"))  # the full-size file (the gallery shows a display copy)
    if original is None:
        return None if got.shape == (resolution, resolution, 3) else f"size {got.shape[1]}x{got.shape[0]}"
    if got.shape != original.shape:
        return f"size {got.shape[1]}x{got.shape[0]}, expected {original.shape[1]}x{original.shape[0]}"
    q = original.shape[0] // 4
    if not (np.array_equal(got[:q], original[:q]) and np.array_equal(got[-q:], original[-q:])):
        return "pixels outside the painted band changed"
    return None


class MemoryWatch:
    """Samples the server's resident memory every 50 ms in a thread; keeps the peak."""

    def __init__(self, server: AppServer):
        self.server, self.peak, self._stop = server, server.rss_mib(), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.server.rss_mib())

    def stop(self) -> float:
        self._stop.set()
        self.thread.join()
        return self.peak


def asker(task: str, image: Path, knobs: dict) -> tuple:
    """(ask(client, seed): one request of `task` (generate, inpaint) and its answer, the original picture or None)."""
    from gradio_client import handle_file

    if task == "inpaint":
        original = np.asarray(Image.open(image).convert("RGB"))
        layer = band_layer((original.shape[1], original.shape[0]), Path(tempfile.mkdtemp(prefix="bigr-load-")))
        editor = {"background": handle_file(str(image)), "layers": [handle_file(str(layer))], "composite": None}

        def ask(client, seed: int):
            masked = [None, "(unconditional)", "none", 0, "whole", 0, "crop", 0]  # mask file ... grow
            return client.predict(editor, *masked, 1, seed, *knobs.values(), api_name="/inpaint")
        return ask, original
    if task == "generate":
        def ask(client, seed: int):
            return client.predict("(unconditional)", 1, seed, *knobs.values(), api_name="/generate")
        return ask, None
    raise ValueError(f"unknown task {task!r}")


def run_load(server: AppServer, clients: int, requests: int, image: Path = EXAMPLE, knobs: dict | None = None,
             timeout: float = 300.0, task: str = "inpaint", warm: bool = True) -> dict:
    """`clients` threads, each with its own client, send `requests` requests of `task` (generate, inpaint); every
    answer checked."""
    from gradio_client import Client

    if not (1 <= clients <= 16 and 1 <= requests <= 20):
        raise ValueError("bounded: 1-16 clients, 1-20 requests each")
    ask, original = asker(task, image, knobs or KNOBS)
    first = Client(server.url, verbose=False)
    resolution = np.asarray(Image.open(ask(first, 0)[1][0])).shape[0]
    if warm:  # model, caches and workers warm before the "before" reading
        time.sleep(1.0)
    before = server.rss_mib()
    watch = MemoryWatch(server)
    latencies, failures = [], []
    batches_before = server_batches(server)

    def one_client(k: int) -> None:
        client = Client(server.url, verbose=False)
        for r in range(requests):
            start = time.perf_counter()
            try:
                problem = check_answer(ask(client, 1000 * k + r), original, resolution)
            except Exception as e:  # noqa: BLE001 - every failure is counted and reported
                problem = f"{type(e).__name__}: {e}"
            latencies.append(time.perf_counter() - start)
            if problem:
                failures.append(f"client {k} request {r}: {problem}")

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(one_client, k) for k in range(clients)]
        for f in futures:
            f.result(timeout=timeout)
    wall = time.perf_counter() - start
    peak = watch.stop()
    after = server.rss_mib()
    lat = np.array(latencies)
    batches = server_batches(server)[len(batches_before):]
    return dict(requests=clients * requests, answered=len(latencies), failures=failures, wall_s=wall,
                p50_s=float(np.percentile(lat, 50)), p95_s=float(np.percentile(lat, 95)),
                throughput=len(latencies) / wall, rss_before_mib=before, rss_peak_mib=peak, rss_after_mib=after,
                batches=batches)


PASSWORD = "load-test-password"


def run_fairness(server: AppServer, lone: int, rounds: int, greedy: int, keep_up: bool = False,
                 task: str = "generate", image: Path = EXAMPLE, timeout: float = 600.0) -> dict:
    """Fair shares on a server with accounts: `lone` users (lone0, lone1, ...) each send one request per round,
    half a second after the user "greedy" has sent `greedy` at once (0: no greedy user); the next round starts
    when every answer is in. `keep_up`: instead, the greedy user keeps `greedy` requests in flight all along (a
    refused one, over the per-user cap, sent again a second later) while the lone users send theirs one after
    another. The lone users' latencies, and what the greedy one got."""
    from gradio_client import Client

    ask, original = asker(task, image, KNOBS)
    lone_clients = [Client(server.url, auth=(f"lone{k}", PASSWORD), verbose=False) for k in range(lone)]
    greedy_client = Client(server.url, auth=("greedy", PASSWORD), verbose=False)
    resolution = np.asarray(Image.open(ask(lone_clients[0], 0)[1][0])).shape[0]
    latencies, failures, got = [], [], {"greedy_answered": 0, "greedy_refused": 0}
    done = threading.Event()

    def lone_request(k: int, r: int) -> None:
        start = time.perf_counter()
        try:
            problem = check_answer(ask(lone_clients[k], 1000 * k + r), original, resolution)
        except Exception as e:  # noqa: BLE001 - every failure is counted and reported
            problem = f"{type(e).__name__}: {e}"
        latencies.append(time.perf_counter() - start)
        if problem:
            failures.append(f"lone{k} request {r}: {problem}")

    def greedy_request(seed: int) -> None:
        while True:
            try:
                ask(greedy_client, seed)
                got["greedy_answered"] += 1
            except Exception as e:  # noqa: BLE001 - refused (the cap), or a failure worth reporting
                if "requests in progress" not in str(e):
                    failures.append(f"greedy: {type(e).__name__}: {e}")
                got["greedy_refused"] += 1
                done.wait(1.0)
            seed += 1
            if not keep_up or done.is_set():
                return

    with ThreadPoolExecutor(greedy + lone) as pool:
        if keep_up:
            greedy_jobs = [pool.submit(greedy_request, 10_000 * (i + 1)) for i in range(greedy)]
            time.sleep(2.0)  # its requests are in before the others come
            lone_jobs = [pool.submit(lambda k: [lone_request(k, r) for r in range(rounds)], k) for k in range(lone)]
            for f in lone_jobs:
                f.result(timeout=timeout)
            done.set()
            for f in greedy_jobs:
                f.result(timeout=timeout)
        else:
            for r in range(rounds):
                jobs = [pool.submit(greedy_request, 10_000 * (i + 1) + r) for i in range(greedy)]
                if greedy:
                    time.sleep(0.5)
                jobs += [pool.submit(lone_request, k, r) for k in range(lone)]
                for f in jobs:
                    f.result(timeout=timeout)
    lat = np.array(latencies)
    return dict(answered=len(latencies), requests=lone * rounds, failures=failures,
                p50_s=float(np.percentile(lat, 50)), p95_s=float(np.percentile(lat, 95)), **got)


def fairness(args) -> bool:
    """The lone users' latency without and with a greedy user (a burst each round, or keeping up), at the default
    per-user cap and with the cap raised to the greedy user's count (so that only the batches' fairness keeps it
    in check)."""
    users = [*(f"lone{k}" for k in range(args.lone)), "greedy"]
    auth = [a for name in users for a in ("--auth", f"{name}:{PASSWORD}")]
    every_core = ["--sampling-threads", str(os.cpu_count() or 1)]
    setups = {"4 (default)": [], str(args.greedy): ["--max-waiting-per-user", str(args.greedy),
                                                    "--concurrency", str(args.greedy + args.lone + 4)]}
    scenarios = {"none": (0, False), f"{args.greedy} at once each round": (args.greedy, False),
                 f"keeps {args.greedy} in flight": (args.greedy, True)}
    rows, ok = [], True
    for setup, extra in setups.items():
        log = Path(tempfile.mkdtemp(prefix="bigr-load-")) / "app.log"
        server = AppServer(args.weights, log, [*auth, *every_core, *extra, "--log-batches"])
        try:
            for scenario, (greedy, keep_up) in scenarios.items():
                batches_before = len(server_batches(server))
                r = run_fairness(server, args.lone, args.requests, greedy, keep_up, args.tasks[0], args.image)
                r["batches"] = server_batches(server)[batches_before:]
                rows.append((setup, scenario, r))
                ok &= not r["failures"] and r["answered"] == r["requests"]
                for failure in r["failures"][:5]:
                    print(f"cap {setup}, greedy {scenario}: {failure}")
        finally:
            server.stop()
    print(f"fair shares: {args.lone} users sending {args.requests} {args.tasks[0]} requests each, beside a greedy "
          f"user; one picture each, N={KNOBS['iterations']} T={KNOBS['steps']} cfg={KNOBS['cfg']}, loopback, exact "
          "batching. 'at once each round': every round the greedy user sends its requests at once, the others one "
          "each half a second later; 'in flight': it keeps that many going (a refused one sent again after 1 s) "
          "while the others send theirs one after another")
    print("| per-user cap | greedy user | lone answered | lone p50 s | lone p95 s | p95 against none | "
          "greedy answered / refused | batches (mean rows) |")
    print("|---|---|---|---|---|---|---|---|")
    alone = {setup: r for setup, scenario, r in rows if scenario == "none"}
    for setup, scenario, r in rows:
        b = r["batches"]
        batches = f"{len(b)} ({np.mean(b):.1f})" if b else "-"
        print(f"| {setup} | {scenario} | {r['answered']}/{r['requests']} | {r['p50_s']:.2f} | {r['p95_s']:.2f} | "
              f"{r['p95_s'] / alone[setup]['p95_s']:.2f}x | {r['greedy_answered']} / {r['greedy_refused']} | "
              f"{batches} |")
    return ok


def server_batches(server: AppServer) -> list[int]:
    """The rows of every batch the server has run, from its log ("batch of N rows")."""
    server.log.flush()
    text = Path(server.log.name).read_text(errors="replace")
    return [int(line.rsplit("batch of ", 1)[1].split()[0]) for line in text.splitlines() if "batch of " in line]


MODES = {"on": [], "fast": ["--batching", "fast"], "off": ["--max-batch", "1", "--concurrency", "1"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "default")
    ap.add_argument("--tasks", nargs="+", choices=["generate", "inpaint"], default=["generate", "inpaint"])
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 4, 8])
    ap.add_argument("--requests", type=int, default=4, help="per client (with --fairness: per lone user)")
    ap.add_argument("--image", type=Path, default=EXAMPLE)
    ap.add_argument("--batching", nargs="+", choices=list(MODES), default=["on", "off"],
                    help="on: the app's defaults (exact batching); fast: --batching fast; off: no batching")
    ap.add_argument("--batch-window", type=float, default=None, help="the app's --batch-window when batching")
    ap.add_argument("--fairness", action="store_true",
                    help="instead: lone users' latency beside a greedy one (a server with accounts; --tasks' first)")
    ap.add_argument("--lone", type=int, default=4, help="with --fairness: users sending one request at a time")
    ap.add_argument("--greedy", type=int, default=20, help="with --fairness: the greedy user's requests in flight")
    args = ap.parse_args()
    if args.fairness:
        ok = fairness(args)
        print("OK" if ok else "FAILED")
        return 0 if ok else 1
    rows, ok = [], True
    for mode in args.batching:
        log = Path(tempfile.mkdtemp(prefix="bigr-load-")) / "app.log"
        window = ["--batch-window", str(args.batch_window)] if args.batch_window is not None and mode != "off" else []
        # sampling on every core, as a server that others reach has it (a loopback one keeps a core for the browser)
        every_core = ["--sampling-threads", str(os.cpu_count() or 1)]
        server = AppServer(args.weights, log, [*MODES[mode], *window, *every_core, "--log-batches"])
        try:
            for task in args.tasks:
                for clients in args.clients:
                    r = run_load(server, clients, args.requests, args.image, task=task)
                    rows.append((task, mode, clients, r))
                    ok &= not r["failures"] and r["answered"] == r["requests"]
                    for failure in r["failures"]:
                        print(f"{task} {mode} {clients}: {failure}")
        finally:
            server.stop()
    print(f"{args.requests} requests per client, one picture each, N={KNOBS['iterations']} T={KNOBS['steps']} "
          f"cfg={KNOBS['cfg']}, loopback; batching on: the app's defaults (exact), fast: --batching fast, off: "
          "--max-batch 1 --concurrency 1")
    print("| task | batching | clients | answered | requests/s | p50 s | p95 s | batches (mean rows) | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task, mode, clients, r in rows:
        b = r["batches"]
        batches = f"{len(b)} ({np.mean(b):.1f})" if b else "-"
        print(f"| {task} | {mode} | {clients} | {r['answered']}/{r['requests']} | {r['throughput']:.2f} | "
              f"{r['p50_s']:.2f} | {r['p95_s']:.2f} | {batches} | {r['rss_peak_mib']:.0f} |")
    by = {(t, m, c): r for t, m, c, r in rows}
    for task in args.tasks:
        for clients in args.clients:
            off = by.get((task, "off", clients))
            for mode in ("on", "fast"):
                on = by.get((task, mode, clients))
                if on and off:
                    print(f"{task}, {clients} clients: batching {mode} gives {on['throughput'] / off['throughput']:.2f}x "
                          f"the throughput, p95 {on['p95_s']:.2f} s against {off['p95_s']:.2f} s")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
