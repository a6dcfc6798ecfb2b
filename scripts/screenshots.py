"""Screenshots of the app on a model (default: the bundled one) for the README.

    python scripts/screenshots.py --out docs/screenshots
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bigr_app.server_process import AppServer  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "default")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--example", type=Path, default=ROOT / "assets" / "examples" / "fox.png")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    server = AppServer(args.weights, args.out / "app.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1250})
            page.set_default_timeout(180_000)
            page.goto(server.url)
            page.wait_for_selector("#header")
            page.get_by_role("button", name="Generate", exact=True).click()
            page.locator("#generate-gallery img").first.wait_for(state="visible")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.out / "generate.png"))

            page.get_by_role("tab", name="Inpaint").click()
            page.locator("#inpaint-editor").wait_for(state="visible")
            page.wait_for_timeout(1000)
            page.locator("#inpaint-editor input[type=file]").set_input_files(str(args.example))
            page.wait_for_timeout(2000)
            box = page.locator("#inpaint-editor canvas").first.bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.42
            page.mouse.move(cx - 40, cy)
            page.mouse.down()
            for k in range(1, 21):
                page.mouse.move(cx - 40 + 4 * k, cy + (k % 2) * 3, steps=2)
            page.mouse.up()
            page.locator("#inpaint-preview img").wait_for(state="visible")
            page.locator("#inpaint-button").click()
            page.locator("#inpaint-gallery img").first.wait_for(state="visible")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.out / "inpaint-result.png"))

            page.get_by_role("tab", name="Interpolate").click()
            slider = page.locator("#ratio-slider input[type=range]").bounding_box()
            page.mouse.click(slider["x"] + slider["width"] * 0.5, slider["y"] + slider["height"] / 2)
            page.locator("#interp-image img").wait_for(state="visible")
            page.wait_for_timeout(1000)
            page.screenshot(path=str(args.out / "interpolate.png"))

            page.get_by_role("tab", name="Explore").click()
            page.wait_for_function("document.querySelectorAll('#explore-plot .mark-symbol.role-mark path').length > 0")
            page.locator("#explore-image input[type=file]").set_input_files(str(args.example))
            page.wait_for_timeout(1000)
            page.locator("#explore-button").click()
            page.locator("#explore-neighbours img").first.wait_for(state="visible")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(args.out / "explore.png"))
            browser.close()
    finally:
        server.stop()
    for f in sorted(args.out.glob("*.png")):
        print(f)


if __name__ == "__main__":
    main()
