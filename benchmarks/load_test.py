"""Many users at once: concurrent gradio_client clients sending inpaint requests to a running app.

    python benchmarks/load_test.py                         # starts the app on the bundled model
    python benchmarks/load_test.py --clients 8 --requests 5 --url http://127.0.0.1:7860/

Loopback only and bounded (at most 16 clients x 20 requests, each with a timeout). Every answer
is checked: the right number of pictures, the picture's size, and pixels far from the painted
band unchanged (blend "none"). Prints p50 / p95 latency, throughput, the server's peak memory and
its memory before and after the run.
"""
from __future__ import annotations

import argparse
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


def check_answer(result, original: np.ndarray) -> str | None:
    """None when the answer is right, else what is wrong."""
    gallery, files = result
    if len(gallery) != 1 or len(files) != 1:
        return f"expected 1 picture, got {len(gallery)}"
    got = np.asarray(Image.open(files[0]).convert("RGB"))  # the full-size file (the gallery shows a display copy)
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
             timeout: float = 300.0) -> dict:
    """`clients` threads, each with its own client, send `requests` inpaint requests; all answers checked."""
    from gradio_client import Client, handle_file

    if not (1 <= clients <= 16 and 1 <= requests <= 20):
        raise ValueError("bounded: 1-16 clients, 1-20 requests each")
    knobs = knobs or KNOBS
    original = np.asarray(Image.open(image).convert("RGB"))
    folder = Path(tempfile.mkdtemp(prefix="bigr-load-"))
    layer = band_layer((original.shape[1], original.shape[0]), folder)
    editor = {"background": handle_file(str(image)), "layers": [handle_file(str(layer))], "composite": None}

    def ask(client, seed: int):
        masked = [None, "(unconditional)", "none", 0, "whole", 0, "crop", 0]  # mask file ... grow
        return client.predict(editor, *masked, 1, seed, *knobs.values(), api_name="/inpaint")

    warm = Client(server.url, verbose=False)
    ask(warm, 0)  # model, caches and workers warm before the "before" reading
    time.sleep(1.0)
    before = server.rss_mib()
    watch = MemoryWatch(server)
    latencies, failures = [], []

    def one_client(k: int) -> None:
        client = Client(server.url, verbose=False)
        for r in range(requests):
            start = time.perf_counter()
            try:
                problem = check_answer(ask(client, 1000 * k + r), original)
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
    time.sleep(2.0)
    after = server.rss_mib()
    lat = np.array(latencies)
    return dict(requests=clients * requests, answered=len(latencies), failures=failures, wall_s=wall,
                p50_s=float(np.percentile(lat, 50)), p95_s=float(np.percentile(lat, 95)),
                throughput=len(latencies) / wall, rss_before_mib=before, rss_peak_mib=peak, rss_after_mib=after)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "default")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=5)
    ap.add_argument("--image", type=Path, default=EXAMPLE)
    ap.add_argument("--concurrency", type=int, default=1, help="the app's --concurrency")
    args = ap.parse_args()
    log = Path(tempfile.mkdtemp(prefix="bigr-load-")) / "app.log"
    server = AppServer(args.weights, log, ["--concurrency", str(args.concurrency)])
    try:
        r = run_load(server, args.clients, args.requests, args.image)
    finally:
        server.stop()
    print(f"{args.clients} clients x {args.requests} inpaint requests, app --concurrency {args.concurrency} "
          f"(N={KNOBS['iterations']} T={KNOBS['steps']}), loopback")
    print(f"answered {r['answered']}/{r['requests']}, wrong or failed {len(r['failures'])}")
    for failure in r["failures"]:
        print("  " + failure)
    print(f"latency p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s; {r['throughput']:.2f} requests/s over {r['wall_s']:.1f} s")
    change = r["rss_after_mib"] / r["rss_before_mib"] - 1
    print(f"server memory: before {r['rss_before_mib']:.0f} MiB, peak {r['rss_peak_mib']:.0f} MiB, "
          f"after {r['rss_after_mib']:.0f} MiB ({change:+.1%})")
    ok = not r["failures"] and r["answered"] == r["requests"] and change <= 0.10
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
