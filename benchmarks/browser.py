"""Your own photo in the page: how long the Inpaint tab takes with large photographs, in headless Chromium.

    apt-get install chromium lomiri-wallpapers-16.04     # the browser and the default photographs
    python benchmarks/browser.py                          # a 12 MP and an 8 MP photo, bundled model

For each photo it prints the time from an action in the page until the page shows its answer:
upload until the cell preview shows; one stroke (30 mouse moves, drawn by the page's mask canvas) and, from the
mouse-up, until the preview is updated; Undo until the preview is updated; a click on the Region radio until the
preview is updated; Inpaint x1 until the result shows, twice (seeds 0 and 1). Beside Inpaint: the same edit in the engine alone, in this
process (median of two), so that the page's own share can be read off, and each step's goal.

--setups compares how the server's sampling thread uses the cores while the browser shares them:
"default" (the server's own choice: on loopback, one core fewer than the machine has), "all" (every core),
"cores-1" (one fewer), "passive" (every core, idle OpenMP threads sleeping at once: OMP_WAIT_POLICY=PASSIVE),
and "no-previews" (the default, without the pictures forming as they sample).
"""
from __future__ import annotations

import argparse
import os
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
SETTLE_MS = 500  # between steps
CANVAS = "#inpaint-editor .mc"
CORES = os.cpu_count() or 2
SETUPS = {"default": ([], {}), "all": (["--sampling-threads", str(CORES)], {}),
          "cores-1": (["--sampling-threads", str(max(1, CORES - 1))], {}),
          "passive": (["--sampling-threads", str(CORES)], {"OMP_WAIT_POLICY": "PASSIVE"}),
          "no-previews": (["--no-previews"], {})}
GOALS = {"upload until the cell preview shows": 5.0,
         "one stroke (30 mouse moves), drawn": 1.0,
         "  from the mouse-up until the preview is updated": 0.5}


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


def canvas_ready(page) -> None:
    page.wait_for_function(f"document.querySelector('{CANVAS}')?.dataset.ready === '1'", timeout=TIMEOUT_MS)


def stroke(page) -> float:
    """30 mouse moves across the middle; returns the seconds until the last is drawn."""
    box = page.locator(f"{CANVAS} canvas").bounding_box()
    x0, y0, x1, y1 = STROKE
    start = time.perf_counter()
    page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
    page.mouse.down()
    for k in range(1, 31):
        t = k / 30
        page.mouse.move(box["x"] + (x0 + t * (x1 - x0)) * box["width"], box["y"] + (y0 + t * (y1 - y0)) * box["height"])
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => r()))")  # the stroke is on the screen
    return time.perf_counter() - start


def in_the_page(page, photo: Path) -> dict[str, float]:
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-editor").wait_for(state="visible")
    page.get_by_text("Sampling settings (all tabs)").click()
    times = {}
    times["upload until the cell preview shows"] = stopwatch(
        lambda: page.locator("#inpaint-picture input[type=file]").set_input_files(str(photo)),
        lambda: (wait_new_preview(page, None), canvas_ready(page)))
    page.wait_for_timeout(SETTLE_MS)
    old = preview_src(page)
    times["one stroke (30 mouse moves), drawn"] = stroke(page)
    times["  from the mouse-up until the preview is updated"] = stopwatch(
        lambda: page.mouse.up(), lambda: wait_new_preview(page, old))
    page.wait_for_timeout(SETTLE_MS)
    old = preview_src(page)
    times["Undo until the preview is updated"] = stopwatch(
        lambda: page.locator(CANVAS).get_by_role("button", name="Undo").click(), lambda: wait_new_preview(page, old))
    page.wait_for_timeout(SETTLE_MS)
    old = preview_src(page)
    page.locator(CANVAS).get_by_role("button", name="Redo").click()
    wait_new_preview(page, old)
    page.wait_for_timeout(SETTLE_MS)
    old = preview_src(page)
    times["Region click until the preview is updated"] = stopwatch(
        lambda: page.locator("#inpaint-region").get_by_label("whole").check(), lambda: wait_new_preview(page, old))
    page.locator("#inpaint-region").get_by_label("masked").check()
    page.wait_for_timeout(SETTLE_MS)
    times["Inpaint x1 until the result shows"] = inpaint_once(page)
    page.wait_for_timeout(SETTLE_MS)
    times["Inpaint x1 again (seed +1)"] = inpaint_once(page, seed=1)
    return times


def inpaint_once(page, seed: int = 0) -> float:
    """Seconds from the click until the result's file and picture show (one sample)."""
    samples = page.locator("input[aria-label='number input for Samples']")
    samples.fill("1")
    samples.press("Enter")
    seed_box = page.locator("#settings-seed input")
    seed_box.fill(str(seed))
    seed_box.press("Enter")
    old = page.evaluate("document.querySelector('#inpaint-gallery-files a')?.getAttribute('href') ?? null")
    return stopwatch(
        lambda: page.locator("#inpaint-button").click(),
        lambda: (page.wait_for_function("(old) => { const a = document.querySelector('#inpaint-gallery-files a');"
                                        " return a && a.getAttribute('href') !== old; }", arg=old, timeout=TIMEOUT_MS),
                 page.locator("#inpaint-gallery img").first.wait_for(state="visible", timeout=TIMEOUT_MS)))


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


def run_setup(args, setup: str) -> dict[str, dict[str, float]]:
    """Every photo through the page, the server sampling as `setup` says."""
    from playwright.sync_api import sync_playwright

    flags, env = SETUPS[setup]
    extra = (["--editor-limit", str(args.editor_limit)] if args.editor_limit else []) + flags
    rows = {}
    server = AppServer(args.weights, args.log, extra, env=env)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for photo in args.photos:
                page = browser.new_page(viewport={"width": 1300, "height": 1250})
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(server.url)
                page.wait_for_selector("#header")
                print(f"{photo.name} in the page, sampling on {setup}...", flush=True)
                rows[photo.name] = in_the_page(page, photo)
                page.close()
            browser.close()
    finally:
        server.stop()
    log = args.log.read_text()
    logged = [float(m) for m in re.findall(r"inpaint: 1 picture\(s\) in [\d.]+ s: ([\d.]+) s in the engine", log)]
    if re.search(r"inpaint: [2-9] picture\(s\)", log):
        sys.exit("an Inpaint made more than one picture: the page did not take the sample count")
    for k, photo in enumerate(args.photos):  # two inpaints per photo
        if len(logged) == 2 * len(args.photos):
            rows[photo.name]["  of which the engine, in the app (its log), first / again"] = logged[2 * k: 2 * k + 2]
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "default")
    ap.add_argument("--photos", type=Path, nargs="+", default=PHOTOS)
    ap.add_argument("--setups", nargs="+", choices=list(SETUPS), default=["default"])
    ap.add_argument("--editor-limit", type=int, default=None, help="the app's --editor-limit (default: its own)")
    ap.add_argument("--log", type=Path, default=Path("/tmp/bigr-browser-benchmark.log"), help="the app's log")
    args = ap.parse_args()
    missing = [p for p in args.photos if not p.is_file()]
    if missing:
        sys.exit(f"missing: {', '.join(map(str, missing))} (apt-get install lomiri-wallpapers-16.04, or pass --photos)")
    from PIL import Image

    by_setup = {setup: run_setup(args, setup) for setup in args.setups}
    alone = {}
    for photo in args.photos:
        print(f"{photo.name} in the engine...", flush=True)
        alone[photo.name] = in_the_engine(args.weights, photo)
    columns = [(photo, setup) for photo in args.photos for setup in args.setups]
    sizes = {}
    for photo in args.photos:
        with Image.open(photo) as im:
            sizes[photo.name] = f"{im.width}x{im.height}"
    goals = dict(GOALS)
    steps = list(by_setup[args.setups[0]][args.photos[0].name]) + ["  the same inpaint in the engine alone"]
    print("\n| step in the Inpaint tab | " + " | ".join(f"{p.name} ({sizes[p.name]}), sampling on {s}, s"
                                                    for p, s in columns) + " | goal |")
    print("|---|" + "---|" * (len(columns) + 1))
    for step in steps:
        values = [alone[p.name] if step.startswith("  the same") else by_setup[s][p.name].get(step, float("nan"))
                  for p, s in columns]
        goal = goals.get(step)
        if step.startswith("Inpaint x1"):
            goal_text = "≤ engine alone + 1 s: " + ", ".join(
                "met" if v <= alone[p.name] + 1 else "missed" for v, (p, _) in zip(values, columns))
        elif goal is not None:
            goal_text = f"≤ {goal:g} s: " + ", ".join("met" if v <= goal else "missed" for v in values)
        else:
            goal_text = ""
        shown = [" / ".join(f"{x:.2f}" for x in v) if isinstance(v, list) else f"{v:.2f}" for v in values]
        print(f"| {step.strip()} | " + " | ".join(shown) + f" | {goal_text} |")


if __name__ == "__main__":
    main()
