"""Many users at once: concurrent gradio_client clients sending generate or inpaint requests to the app, with
requests batched across users (the app's default) and without (--max-batch 1 --concurrency 1).

    python benchmarks/load_test.py                       # both tasks, batching on and off, 1, 4 and 8 clients
    python benchmarks/load_test.py --tasks generate --clients 8 --requests 5
    python benchmarks/load_test.py --batching on fast off    # also --batching fast (a batch computed as one)

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


def run_load(server: AppServer, clients: int, requests: int, image: Path = EXAMPLE, knobs: dict | None = None,
             timeout: float = 300.0, task: str = "inpaint", warm: bool = True) -> dict:
    """`clients` threads, each with its own client, send `requests` requests of `task` (generate, inpaint); every
    answer checked."""
    from gradio_client import Client, handle_file

    if not (1 <= clients <= 16 and 1 <= requests <= 20):
        raise ValueError("bounded: 1-16 clients, 1-20 requests each")
    knobs = knobs or KNOBS
    folder = Path(tempfile.mkdtemp(prefix="bigr-load-"))
    if task == "inpaint":
        original = np.asarray(Image.open(image).convert("RGB"))
        layer = band_layer((original.shape[1], original.shape[0]), folder)
        editor = {"background": handle_file(str(image)), "layers": [handle_file(str(layer))], "composite": None}

        def ask(client, seed: int):
            masked = [None, "(unconditional)", "none", 0, "whole", 0, "crop", 0]  # mask file ... grow
            return client.predict(editor, *masked, 1, seed, *knobs.values(), api_name="/inpaint")
    elif task == "generate":
        original = None

        def ask(client, seed: int):
            return client.predict("(unconditional)", 1, seed, *knobs.values(), api_name="/generate")
    else:
        raise ValueError(f"unknown task {task!r}")

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
    ap.add_argument("--requests", type=int, default=4, help="per client")
    ap.add_argument("--image", type=Path, default=EXAMPLE)
    ap.add_argument("--batching", nargs="+", choices=list(MODES), default=["on", "off"],
                    help="on: the app's defaults (exact batching); fast: --batching fast; off: no batching")
    ap.add_argument("--batch-window", type=float, default=None, help="the app's --batch-window when batching")
    args = ap.parse_args()
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
