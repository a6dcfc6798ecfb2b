"""Screenshots of the app for the README, on a real photograph, with the time each action takes in the browser.

    apt-get install lomiri-wallpapers-16.04      # the default photograph (CC-BY-4.0, see assets/README.md)
    python scripts/screenshots.py --out docs/screenshots
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from bigr_app.app.server_process import AppServer  # noqa: E402

ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
PHOTO = Path("/usr/share/backgrounds/sunset_by_Aitzol_Berasategi.jpg")


class Session:
    """One page of the app, with a stopwatch for each action."""

    def __init__(self, page, out: Path):
        self.page, self.out, self.times = page, out, []

    def shot(self, name: str, whole_page: bool = False) -> None:
        self.page.wait_for_timeout(1500)  # let pictures finish drawing
        self.page.evaluate("window.scrollTo(0, 0)")
        self.page.screenshot(path=str(self.out / f"{name}.png"), full_page=whole_page)

    def timed(self, what: str, act, done) -> None:
        print(what, flush=True)
        start = time.perf_counter()
        act()
        done()
        self.times.append((what, time.perf_counter() - start))

    def tab(self, name: str) -> None:
        self.page.get_by_role("tab", name=name).click()
        self.page.wait_for_timeout(800)

    def upload(self, selector: str, path: Path) -> None:
        self.page.locator(f"{selector} input[type=file]").set_input_files(str(path))

    def paint(self, editor: str, strokes: list[tuple[float, float, float, float]]) -> None:
        """Strokes (x0, y0, x1, y1) in shares of the picture on the mask canvas; returns when the page has sent
        the last one's mask."""
        canvas = f"document.querySelector('{editor} .mc')"
        self.page.wait_for_function(f"{canvas}?.dataset.ready === '1'")
        box = self.page.locator(f"{editor} canvas").first.bounding_box()
        for x0, y0, x1, y1 in strokes:
            sent = self.page.evaluate(f"Number({canvas}.dataset.sent || 0)")
            self.page.mouse.move(box["x"] + x0 * box["width"], box["y"] + y0 * box["height"])
            self.page.mouse.down()
            self.page.mouse.move(box["x"] + x1 * box["width"], box["y"] + y1 * box["height"], steps=8)
            self.page.mouse.up()
            self.page.wait_for_function(f"(n) => Number({canvas}.dataset.sent || 0) > n", arg=sent)

    def results(self, gallery: str, count: int) -> None:
        print(f"waiting for {count} results in {gallery}", flush=True)
        self.page.locator(f"#{gallery}-files a").nth(count - 1).wait_for(state="attached")
        self.page.locator(f"#{gallery} img").first.wait_for(state="visible")


def take(page, out: Path, photo: Path) -> list[tuple[str, float]]:
    s = Session(page, out)
    s.timed("generate x4", lambda: page.get_by_role("button", name="Generate", exact=True).click(),
            lambda: s.results("generate-gallery", 4))
    s.shot("generate")

    s.tab("Inpaint")
    s.timed("load the photo into the editor (preview and note)", lambda: s.upload("#inpaint-picture", photo),
            lambda: page.wait_for_function("document.querySelector('#inpaint-note').innerText.length > 0"))
    # paint over the stone table in the foreground (the canvas is letterboxed in its panel)
    s.timed("paint two strokes (until the cells preview is back)",
            lambda: s.paint("#inpaint-editor", [(0.7, 0.7, 0.7, 0.85), (0.8, 0.7, 0.8, 0.85)]),
            lambda: page.locator("#inpaint-preview img").wait_for(state="visible"))
    page.locator("#inpaint-region").get_by_label("masked").check()
    s.timed("inpaint x4 (region: masked)", lambda: page.locator("#inpaint-button").click(),
            lambda: s.results("inpaint-gallery", 4))
    s.shot("inpaint-result", whole_page=True)
    inpainted = page.locator("#inpaint-gallery-files a").first.get_attribute("href")

    s.tab("Outpaint")
    s.upload("#outpaint-picture", photo)
    page.locator("#outpaint-preview img").wait_for(state="visible")
    s.timed("expand 1024 px on the right (until the preview shows it)", lambda: (
        page.locator("#outpaint-right input[type=number]").fill("1024"),
        page.locator("#outpaint-right input[type=number]").press("Enter")),
        lambda: page.wait_for_function("(w) => document.querySelector('#outpaint-note').innerText"
                                       ".includes('→ ' + w + 'x')", arg=Image.open(photo).width + 1024))
    s.shot("outpaint-preview")
    s.timed("outpaint x4 (1024 px on the right)", lambda: page.locator("#outpaint-button").click(),
            lambda: s.results("outpaint-gallery", 4))
    s.shot("outpaint", whole_page=True)

    s.tab("Enrich & vary")
    s.timed("load the photo (preview and note)", lambda: s.upload("#enrich-image", photo),
            lambda: page.wait_for_function("document.querySelector('#enrich-note').innerText.length > 0"))
    s.timed("vary x4", lambda: page.locator("#vary-button").click(), lambda: s.results("enrich-gallery", 4))
    s.shot("vary")

    s.tab("Interpolate")
    s.timed("interpolate (tab opens with a picture)", lambda: None,
            lambda: page.locator("#interp-image img").wait_for(state="visible"))
    s.shot("interpolate")

    s.tab("Explore")
    page.wait_for_function("document.querySelectorAll('#explore-plot .mark-symbol.role-mark path').length > 0")
    s.upload("#explore-image", photo)
    page.wait_for_timeout(2000)
    s.timed("place the photo on the map", lambda: page.locator("#explore-button").click(),
            lambda: page.locator("#explore-neighbours img").first.wait_for(state="visible"))
    s.shot("explore")

    s.tab("PNG Info")
    saved = out / "inpainted.png"
    saved.write_bytes(page.request.get(inpainted).body())
    s.timed("read an inpainted PNG's parameters", lambda: s.upload("#pnginfo-image", saved),
            lambda: page.get_by_text("Made by inpaint").wait_for(state="visible"))
    s.shot("png-info")
    saved.unlink()
    return s.times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--weights", type=Path, default=ROOT / "weights" / "default")
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    ap.add_argument("--photo", type=Path, default=PHOTO)
    ap.add_argument("--max-side", type=int, default=0, help="reduce the photo to this long side first (0: as it is)")
    args = ap.parse_args()
    if not args.photo.is_file():
        sys.exit(f"{args.photo} is missing: apt-get install lomiri-wallpapers-16.04, or pass --photo")
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    if args.max_side:
        with Image.open(args.photo) as im:
            im.thumbnail((args.max_side, args.max_side), Image.Resampling.LANCZOS)
            reduced = Path(tempfile.mkdtemp()) / args.photo.name
            im.save(reduced, quality=92)
        args.photo = reduced

    server = AppServer(args.weights, args.out / "app.log", ["--outputs", tempfile.mkdtemp(prefix="bigr-shots-")])
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1300, "height": 1250})
            page.set_default_timeout(300_000)
            page.goto(server.url)
            page.wait_for_selector("#header")
            times = take(page, args.out, args.photo)
            browser.close()
    finally:
        server.stop()
    (args.out / "app.log").unlink(missing_ok=True)
    with Image.open(args.photo) as im:
        size = f"{im.width}x{im.height}"
    print(f"| action in the browser ({args.photo.name}, {size}) | seconds |\n|---|---|")
    for what, seconds in times:
        print(f"| {what} | {seconds:.1f} |")


if __name__ == "__main__":
    main()
