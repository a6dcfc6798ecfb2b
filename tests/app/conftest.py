"""A headless Chromium for the browser tests (Debian's: Playwright cannot download browsers here), the app it
opens, and what the browser tests share."""
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bigr_app.app.cli import main
from bigr_app.app.server_process import ROOT, AppServer

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(os.environ.get("BIGR_SCREENSHOTS", ROOT / "outputs" / "screenshots"))
EXAMPLE = ROOT / "assets" / "examples" / "fox.png"


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def app(tiny_engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("app")
    weights = tiny_engine.save_pretrained(folder / "weights")
    fixture = Path(__file__).parents[1] / "fixtures" / "emoji_tiny" / "train"
    assert main(["explore-index", "--weights", str(weights), "--device", "cpu", "--data", str(fixture)]) == 0
    server = AppServer(weights, folder / "app.log")
    yield server
    server.stop()


def open_page(browser, url: str, height: int = 1100):
    page = browser.new_page(viewport={"width": 1300, "height": height})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#header")
    return page


@pytest.fixture()
def page(app, browser):
    page = open_page(browser, app.url)
    yield page
    page.close()


def shot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def fetch_image(page, src) -> np.ndarray:
    data = page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def canvas_ready(page, editor: str = "inpaint-editor", timeout: float = 120_000) -> None:
    """Returns once the mask canvas of `editor` shows its picture (the canvas marks itself ready)."""
    page.wait_for_function(f"document.querySelector('#{editor} .mc')?.dataset.ready === '1'", timeout=timeout)


def upload_shown(page, component: str) -> None:
    """Returns once the image component `component` shows the file just given to it."""
    page.locator(f"#{component} img").first.wait_for(state="visible")


def paint_a_stroke(page, editor: str = "inpaint-editor") -> None:
    """A stroke across the middle of the editor's canvas, from 35% to 65% of its width."""
    canvas = page.locator(f"#{editor} canvas").first
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - box["width"] * 0.15, cy)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(cx - box["width"] * 0.15 + k * box["width"] * 0.015, cy, steps=2)
    page.mouse.up()


def download_link(page, panel: str, index: int = 0) -> str:
    """The full-size file behind a result panel's picture `index`."""
    link = page.locator(f"#{panel}-files a").nth(index)
    link.wait_for(state="attached")
    return link.get_attribute("href")


