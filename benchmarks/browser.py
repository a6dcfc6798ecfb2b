"""Your own photo in the page: how long the Inpaint tab takes with large photographs, in headless Chromium.

    apt-get install chromium lomiri-wallpapers-16.04     # the browser and the default photographs
    python benchmarks/browser.py                          # a 12 MP and an 8 MP photo, bundled model

For each photo it prints the time from an action in the page until the page shows its answer:
upload until the cell preview shows; one stroke (30 mouse moves) until the preview is updated; a click on
the Region radio until the preview is updated; Inpaint x1 until the result shows. Beside Inpaint: the same
edit in the engine alone, in this process (median of two), so that the page's own share can be read off.
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bigr_app.app.server_process import AppServer  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PHOTOS = [Path("/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg"),  # 4272x2848, 12 MP
          Path("/usr/share/backgrounds/picosdeeuropa_by_Aitzol_Berasategi.jpg")]  # 3264x2448, 8 MP
STROKE = (0.3, 0.5, 0.6, 0.5)  # across the middle, in shares of the canvas
TIMEOUT_MS = 600_000
SETTLE_MS = 5000  # between steps: the editor keeps the browser busy for a few seconds after a stroke


def preview_src(page) -> str | None:
    return page.evaluate("() => document.querySelector('#inpaint-preview img')?.getAttribute('src') ?? null")


def wait_new_preview(page, old: str | None) -> None:
    page.wait_for_function("(old) => { const i = document.querySelector('#inpaint-preview img');"
                           " return i && i.getAttribute('src') && i.getAttribute('src') !== old && i.complete; }",
                           arg=old, timeout=TIMEOUT_MS)


def stopwatch(act, done) -> float:
    start = time.perf_counter()
    act()
    done()
    return time.perf_counter() - start


def upload_input(page):
    """The tab's picture upload (an editor of its own in older versions of the page)."""
    own = page.locator("#inpaint-picture input[type=file]")
    return own if own.count() else page.locator("#inpaint-editor input[type=file]")


def stroke(page) -> float:
    box = page.locator("#inpaint-editor canvas").first.bounding_box()
    x0, y0, x1, y1 = STROKE
    start = time.perf_counter()
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    for k in range(1, 31):
        t = k / 30
        page.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * box["width"], box["y"] + (y0 + t * (y1 - y0)) * box["height"])
    page.mouse.up()
    return time.perf_counter() - start


def in_the_page(page, photo: Path) -> dict[str, float]:
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-editor").wait_for(state="visible")
    page.wait_for_timeout(1000)
    page.get_by_text("Sampling settings (all tabs)").click()
    samples = page.locator("input[aria-label='number input for Samples']")
    samples.fill("1")
    samples.press("Enter")
    times = {}
    times["upload until the cell preview shows"] = stopwatch(
        lambda: upload_input(page).set_input_files(str(photo)), lambda: wait_new_preview(page, None))
    page.wait_for_timeout(SETTLE_MS)
    old = preview_src(page)
    moves = []
    whole = stopwatch(lambda: moves.append(stroke(page)), lambda: wait_new_preview(page, old))
    times["one stroke (30 mouse moves) until the preview is updated"] = whole
    times["  the mouse moves alone (the editor drawing the stroke)"] = moves[0]
    times["  from the mouse-up until the preview is updated"] = whole - moves[0]
    page.wait_for_timeout(SETTLE_MS)
    old = preview_src(page)
    times["Region click until the preview is updated"] = stopwatch(
        lambda: page.locator("#inpaint-region").get_by_label("whole").check(), lambda: wait_new_preview(page, old))
    page.locator("#inpaint-region").get_by_label("masked").check()
    page.wait_for_timeout(SETTLE_MS)
    times["Inpaint x1 until the result shows"] = stopwatch(
        lambda: page.locator("#inpaint-button").click(),
        lambda: (page.locator("#inpaint-gallery img").first.wait_for(state="visible", timeout=TIMEOUT_MS),
                 page.locator("#inpaint-gallery-files a").first.wait_for(state="attached", timeout=TIMEOUT_MS)))
    return times


def in_the_engine(weights: Path, photo: Path) -> float:
    """The same edit (a stroke across the middle, region masked, one sample) in the engine alone."""
    from PIL import Image

    from bigr_app.engine import Engine

    engine = Engine.from_pretrained(weights, device="cpu")
    with Image.open(photo) as im:
        picture = im.convert("RGB")
    mask = np.zeros((picture.height, picture.width), bool)
    x0, y, x1 = (round(v * s) for v, s in ((STROKE[0], picture.width), (STROKE[1], picture.height),
                                            (STROKE[2], picture.width)))
    band = max(1, round(min(picture.size) * 0.04))
    mask[y - band : y + band, x0:x1] = True
    seconds = []
    for _ in range(2):
        start = time.perf_counter()
        engine.inpaint(picture, mask, region="masked", num_samples=1, seed=0)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "default")
    ap.add_argument("--photos", type=Path, nargs="+", default=PHOTOS)
    ap.add_argument("--editor-limit", type=int, default=None, help="the app's --editor-limit (default: its own)")
    ap.add_argument("--log", type=Path, default=Path("/tmp/bigr-browser-benchmark.log"), help="the app's log")
    args = ap.parse_args()
    missing = [p for p in args.photos if not p.is_file()]
    if missing:
        sys.exit(f"missing: {', '.join(map(str, missing))} (apt-get install lomiri-wallpapers-16.04, or pass --photos)")
    from playwright.sync_api import sync_playwright
    from PIL import Image

    rows: dict[str, dict[str, float]] = {}
    extra = ["--editor-limit", str(args.editor_limit)] if args.editor_limit else []
    server = AppServer(args.weights, args.log, extra)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for photo in args.photos:
                page = browser.new_page(viewport={"width": 1300, "height": 1250})
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(server.url)
                page.wait_for_selector("#header")
                print(f"{photo.name} in the page...", flush=True)
                rows[photo.name] = in_the_page(page, photo)
                page.close()
            browser.close()
    finally:
        server.stop()
    logged = [float(m) for m in re.findall(r"inpaint of a \d+x\d+ picture: ([\d.]+) s in the engine",
                                              args.log.read_text())]
    for k, photo in enumerate(args.photos):
        print(f"{photo.name} in the engine...", flush=True)
        if len(logged) == len(args.photos):
            rows[photo.name]["  of which the engine, in the app (its log)"] = logged[k]
        rows[photo.name]["  the same inpaint in the engine alone, in this process"] = in_the_engine(args.weights, photo)
    names = list(rows)
    sizes = []
    for photo in args.photos:
        with Image.open(photo) as im:
            sizes.append(f"{im.width}x{im.height}")
    print("\n| step in the Inpaint tab | " + " | ".join(f"{n} ({s}) s" for n, s in zip(names, sizes)) + " |")
    print("|---|" + "---|" * len(names))
    for step in rows[names[0]]:
        print(f"| {step.strip()} | " + " | ".join(f"{rows[n][step]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
