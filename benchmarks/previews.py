"""What showing pictures as they form costs: the same generation through the app's request path with previews
(the page's stream) and without, interleaved, on the bundled model.

    python benchmarks/previews.py                       # batch 1 and 4, N=10, 5 repeats each
    python benchmarks/previews.py --batch 8 --iterations 20

Prints seconds per request (median), the overhead and how many previews were shown per request.
Goal: previews cost at most 10% of the sampling time.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bigr_app import Engine  # noqa: E402
from bigr_app.app.pool import EnginePool, sample_on_one_thread  # noqa: E402
from bigr_app.app.ui.studio import Studio  # noqa: E402
from bigr_app.devices import cpu_has_native_bf16  # noqa: E402


def quietly(*args, **kwargs):
    pass


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=None, help="default: the bundled model")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cores = sample_on_one_thread()  # as the server runs: sampling on one thread with every core
    engine = Engine.from_pretrained(args.weights, device=args.device)
    pool = EnginePool([engine], threads=cores)
    with_previews, without = Studio(pool, previews=True), Studio(pool, previews=False)
    cpu = "native bf16" if cpu_has_native_bf16() else "no native bf16"
    print(f"{engine.describe()}; {engine.device} ({cpu}), N={args.iterations}, {args.repeats} repeats, interleaved")
    print("| batch | without previews s | with previews s | overhead | previews shown |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for batch in args.batch:
        times = {True: [], False: []}
        shown = 0
        for repeat in range(args.repeats + 1):
            for streaming in (False, True):
                studio = with_previews if streaming else without

                def make(studio=studio):
                    return studio.engine.generate(None, num_samples=batch, seed=repeat, iterations=args.iterations,
                                                  progress=studio.reporter(quietly))

                start = time.perf_counter()
                if streaming:
                    steps = list(studio.streaming(make)())
                else:
                    studio.streaming(make)()
                if repeat:  # the first round warms up
                    times[streaming].append(time.perf_counter() - start)
                    if streaming:
                        shown += len(steps) - 1
        base, live = statistics.median(times[False]), statistics.median(times[True])
        overhead = live / base - 1
        worst = max(worst, overhead)
        print(f"| {batch} | {base:.3f} | {live:.3f} | {100 * overhead:+.1f}% | {shown / args.repeats:.1f} |")
    print(f"\nworst overhead: {100 * worst:+.1f}% (goal: at most 10%)")
    return 0 if worst <= 0.10 else 1


if __name__ == "__main__":
    sys.exit(main())
