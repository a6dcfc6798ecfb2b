"""A headless Chromium for the browser tests (Debian's: Playwright cannot download browsers here), the app it
opens, and what the browser tests share."""
import contextlib
import io
import os
from pathlib import Path
from typing import Iterator

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
def app_servers(tiny_engine, tmp_path_factory):
    """Starts `python app.py` in a child process: `start(*flags, weights=..., env=...)` (default weights: the
    tiny engine's) returns the running `AppServer`; every server started is stopped after the module."""
    started = []

    def start(*flags: str, weights: Path | None = None, env: dict | None = None) -> AppServer:
        folder = tmp_path_factory.mktemp("app")
        weights = weights or tiny_engine.save_pretrained(folder / "weights")
        started.append(AppServer(weights, folder / "app.log", list(flags), env=env))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@contextlib.contextmanager
def served(demo, concurrency: int | None = None, **launch) -> Iterator[str]:
    """`demo` (a `build_ui` page) served from this process on a free loopback port, while inside: its URL.
    In-process, a test can reach its engine and studio, or give `launch` options (a gate, middleware)."""
    from bigr_app.app.server_process import free_port

    demo.queue(default_concurrency_limit=concurrency) if concurrency else demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **launch)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()


USERS = {"alice": "correct horse", "bob": "battery staple", "carol": "admin password"}
ADMINS = frozenset({"carol"})


@pytest.fixture(scope="module")
def locked_app(tiny_engine, tmp_path_factory):
    """The app in this process with accounts (USERS; carol an admin), results kept, the HTTP API beside the page:
    (its page, URL, outputs)."""
    from bigr_app.app.accounts import Accounts
    from bigr_app.app.outputs import Outputs
    from bigr_app.app.serve import door
    from bigr_app.app.ui import build_ui

    outputs = Outputs(tmp_path_factory.mktemp("outputs"))
    demo = build_ui(tiny_engine, outputs=outputs, per_browser=True, per_user=True, admins=ADMINS)
    accounts = Accounts.from_flags([f"{n}:{p}" for n, p in USERS.items()], None)
    with served(demo, allowed_paths=[str(outputs.root)], **door(accounts, outputs, ADMINS, demo.studio)) as url:
        yield demo, url, outputs


@pytest.fixture(scope="module")
def app(tiny_engine, app_servers, tmp_path_factory):
    """The app on the tiny model, with an Explore index of the test pictures."""
    weights = tiny_engine.save_pretrained(tmp_path_factory.mktemp("weights") / "weights")
    fixture = Path(__file__).parents[1] / "fixtures" / "emoji_tiny" / "train"
    assert main(["explore-index", "--weights", str(weights), "--device", "cpu", "--data", str(fixture)]) == 0
    return app_servers(weights=weights)


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


def masks_sent(page, editor: str = "inpaint-editor") -> int:
    """How many times the editor's canvas has sent its mask to the server."""
    return int(page.evaluate(f"Number(document.querySelector('#{editor} .mc').dataset.sent || 0)"))


@contextlib.contextmanager
def mask_sent(page, editor: str = "inpaint-editor") -> Iterator[None]:
    """Returns once the mask painted inside has reached the server: a button pressed sooner would send none."""
    before = masks_sent(page, editor)
    yield
    page.wait_for_function(f"(n) => Number(document.querySelector('#{editor} .mc').dataset.sent || 0) > n",
                           arg=before)


def paint_a_stroke(page, editor: str = "inpaint-editor") -> None:
    """A stroke across the middle of the editor's canvas, from 35% to 65% of its width, sent to the server."""
    canvas = page.locator(f"#{editor} canvas").first
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    with mask_sent(page, editor):
        page.mouse.move(cx - box["width"] * 0.15, cy)
        page.mouse.down()
        for k in range(1, 21):
            page.mouse.move(cx - box["width"] * 0.15 + k * box["width"] * 0.015, cy, steps=2)
        page.mouse.up()


def log_in(page, name: str, password: str) -> None:
    """Fill gradio's login form and send it (the caller waits for what should follow)."""
    page.get_by_label("username").fill(name)
    page.get_by_label("password").fill(password)
    page.get_by_role("button", name="Login").click()


def open_settings(page) -> None:
    page.get_by_text("Sampling settings (all tabs)").click()
    page.locator("#settings-seed input").wait_for(state="visible")


def type_into(box, text: str, tries: int = 3) -> None:
    """Types `text` into the input `box` and commits it (Enter), as a person would, and types it again if the page
    put the old value back. Gradio settles a panel's components in the first milliseconds after the panel opens;
    a value typed within them, faster than a person can, is overwritten (seen once in a few runs)."""
    for _ in range(tries):
        box.fill(text)
        box.press("Enter")
        box.page.evaluate("() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))")
        if box.input_value() == text:
            return
    raise AssertionError(f"the box keeps {box.input_value()!r}, not {text!r}")


def download_link(page, panel: str, index: int = 0) -> str:
    """The full-size file behind a result panel's picture `index`."""
    link = page.locator(f"#{panel}-files a").nth(index)
    link.wait_for(state="attached")
    return link.get_attribute("href")


