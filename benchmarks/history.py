"""The History index at scale: an outputs folder of N pictures (default 10,000), the time to rebuild its index from
the files, and the time of a page of the history with each filter the History tab offers.

    python benchmarks/history.py                  # 10,000 pictures in a temporary folder
    python benchmarks/history.py --rows 2000 --keep /tmp/outs

Prints a table: milliseconds per page (median and p95 of 50 queries, 24 per page, the first page and a page
deep in the history), and the rebuild time. Goal: a page in 50 ms or less at 10,000 rows.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bigr_app.app.history import DATABASE, Filters, History  # noqa: E402
from bigr_app.app.outputs import Outputs  # noqa: E402

TASKS = ("generate", "inpaint", "edit", "outpaint", "vary")
CLASSES = ("hearts", "flags", "clocks", "hands", "mammals", None)


def fill(outputs: Outputs, rows: int) -> None:
    """`rows` small pictures with varied parameters, some starred, two owners."""
    rng = np.random.default_rng(0)
    for i in range(rows):
        image = Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8))
        params = {"task": TASKS[i % len(TASKS)], "seed": i, "class_id": CLASSES[i % len(CLASSES)],
                  "model": "bundled" if i % 4 else "BiGR-L-d24", "cfg_scale": 3.0, "iterations": 10}
        (entry,) = outputs.save([image], [params], owner=None if i % 10 else "browser-b")
        if i % 17 == 0:
            outputs.history.star(entry.id, True, entry.owner)


def timed(fn, repeats: int = 50) -> tuple[float, float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.95 * (len(times) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--keep", type=Path, default=None, help="build the folder here and keep it")
    args = ap.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bigr-history-"))
    try:
        outputs = Outputs(folder)
        start = time.perf_counter()
        fill(outputs, args.rows)
        print(f"{args.rows} pictures saved and indexed in {time.perf_counter() - start:.1f} s")
        history = outputs.history
        start = time.perf_counter()
        count = history.rebuild()
        print(f"index rebuilt from the files: {count} rows in {time.perf_counter() - start:.1f} s")
        history.close()
        (folder / DATABASE).unlink()
        start = time.perf_counter()
        history = History(folder)  # a missing database, as at start-up
        print(f"index built at start-up (missing database): {time.perf_counter() - start:.1f} s")

        _, total = history.page(Filters())
        deep = max(0, total // 24 - 1)
        cases = {
            "all, first page": (Filters(), 0),
            f"all, page {deep + 1}": (Filters(), deep),
            "task = inpaint": (Filters(task="inpaint"), 0),
            "class = hearts": (Filters(class_name="hearts"), 0),
            "model = BiGR-L-d24": (Filters(model="BiGR-L-d24"), 0),
            "starred": (Filters(starred=True), 0),
            "one day": (Filters(since=time.time() - 86400, until=time.time() + 1), 0),
            "task + class + starred": (Filters(task="generate", class_name="flags", starred=True), 0),
            "another browser's": (Filters(owner="browser-b"), 0),
        }
        print(f"\n{total} rows for the local user, {args.rows} in all; 24 per page; ms per page, 50 queries")
        print("| query | rows matched | median ms | p95 ms |")
        print("|---|---|---|---|")
        worst = 0.0
        for name, (filters, page) in cases.items():
            matched = history.page(filters, page)[1]
            median, p95 = timed(lambda: history.page(filters, page))
            worst = max(worst, p95)
            print(f"| {name} | {matched} | {median:.2f} | {p95:.2f} |")
        print(f"\nworst p95: {worst:.2f} ms (goal: 50 ms)")
        return 0 if worst <= 50 else 1
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
