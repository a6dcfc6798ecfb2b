"""The app in a real browser: headless Debian Chromium driven by Playwright."""
import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bigr_app.cli import main

from bigr_app.server_process import ROOT, AppServer

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]
SCREENSHOTS = Path(os.environ.get("BIGR_SCREENSHOTS", ROOT / "outputs" / "screenshots"))
EXAMPLE = ROOT / "assets" / "examples" / "fox.png"


@pytest.fixture(scope="module")
def app(tiny_engine, tmp_path_factory):
    folder = tmp_path_factory.mktemp("app")
    weights = tiny_engine.save_pretrained(folder / "weights")
    fixture = Path(__file__).parent / "fixtures" / "emoji_tiny" / "train"
    assert main(["explore-index", "--weights", str(weights), "--device", "cpu", "--data", str(fixture)]) == 0
    server = AppServer(weights, folder / "app.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


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


def open_inpaint_with_example(page):
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-editor").wait_for(state="visible")
    page.wait_for_timeout(1000)  # let the editor finish mounting before it receives a file
    page.locator("#inpaint-editor input[type=file]").set_input_files(str(EXAMPLE))
    page.wait_for_timeout(2000)  # the editor loads the picture onto its canvas


def test_header_names_the_model(page):
    header = page.locator("#header").inner_text()
    assert "5 classes" in header and "32px" in header and "cpu" in header
    shot(page, "generate")


def test_paint_and_inpaint_changes_only_the_painted_area(page):
    open_inpaint_with_example(page)
    canvas = page.locator("#inpaint-editor canvas").first
    box = canvas.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx - box["width"] * 0.15, cy)
    page.mouse.down()
    for k in range(1, 21):
        page.mouse.move(cx - box["width"] * 0.15 + k * box["width"] * 0.015, cy, steps=2)
    page.mouse.up()
    page.locator("#inpaint-preview img").wait_for(state="visible")  # the live preview of the cells
    shot(page, "inpaint-painted")
    page.locator("#inpaint-blend").get_by_label("none").check()  # blend: none, so outside the stroke nothing may change
    page.locator("#inpaint-button").click()
    result = page.locator("#inpaint-gallery img").first
    result.wait_for(state="visible")
    page.wait_for_timeout(500)
    shot(page, "inpaint-result")
    out = fetch_image(page, result.get_attribute("src"))
    src = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    assert out.shape == src.shape
    changed = np.abs(out.astype(int) - src.astype(int)).sum(-1) > 0  # blend "none": exact elsewhere
    rows = np.nonzero(changed.any(1))[0]
    h = src.shape[0]
    assert changed.any(), "the painted area did not change"
    # the stroke ran along the middle row: every change is near it, the top and bottom are untouched
    assert abs(rows.mean() - h / 2) < h * 0.1
    assert not changed[: int(h * 0.25)].any() and not changed[int(h * 0.75):].any()


def interpolation_src(page) -> str | None:
    return page.evaluate("() => document.querySelector('#interp-image img')?.getAttribute('src') ?? null")


def wait_for_new_interpolation(page, old: str | None) -> str:
    page.wait_for_function("(old) => { const i = document.querySelector('#interp-image img');"
                           " return i && i.getAttribute('src') !== old; }", arg=old)
    return interpolation_src(page)


def test_interpolation_opens_with_a_picture_and_rerenders_on_any_change(page):
    page.get_by_role("tab", name="Interpolate").click()
    opened = wait_for_new_interpolation(page, None)  # no click needed: the tab has a picture
    slider = page.locator("#ratio-slider input[type=range]")
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)  # a click on the track
    after_click = wait_for_new_interpolation(page, opened)
    slider.focus()
    page.keyboard.press("ArrowLeft")  # keys
    after_key = wait_for_new_interpolation(page, after_click)
    number = page.locator("#ratio-slider input[type=number]")
    number.fill("0.15")
    number.press("Enter")  # a typed value
    after_typed = wait_for_new_interpolation(page, after_key)
    page.locator("#interp-class-b input").click()
    page.get_by_role("option", name="c4", exact=True).click()  # another class
    after_class = wait_for_new_interpolation(page, after_typed)
    pictures = [fetch_image(page, src) for src in (opened, after_click, after_typed, after_class)]
    assert not np.array_equal(pictures[0], pictures[1]) and not np.array_equal(pictures[2], pictures[3])
    assert after_class.split("?")[0].endswith(".png")  # the panel shows, and downloads, the saved PNG
    shot(page, "interpolate")


def test_inpaint_without_mask_shows_a_message(page):
    open_inpaint_with_example(page)
    page.locator("#inpaint-button").click()
    message = page.get_by_text("no mask", exact=False).first
    message.wait_for(state="visible")
    shot(page, "error-no-mask")


def test_generate_then_send_to_inpaint(page):
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#generate-gallery img").first.wait_for(state="visible")
    page.locator("button:visible", has_text="Send to Inpaint").first.click()
    # the Inpaint tab opens with the picture in its editor, and the live preview shows it
    page.locator("#inpaint-preview img").wait_for(state="visible")
    assert page.get_by_role("tab", name="Inpaint").get_attribute("aria-selected") == "true"
    shot(page, "send-to-inpaint")


def test_explore_map_renders_and_places_an_upload(page):
    page.get_by_role("tab", name="Explore").click()
    points = page.locator("#explore-plot .mark-symbol.role-mark path")
    page.wait_for_function("document.querySelectorAll('#explore-plot .mark-symbol.role-mark path').length >= 32")
    assert points.count() == 32  # one per reference picture
    legend = page.locator("#explore-legend").inner_text()
    assert all(name in legend for name in ("your image", "animal", "flag", "place & weather"))
    page.click("#explore-button")  # no picture yet: a hint, and the map keeps its points with no error badge
    page.get_by_text("upload a picture first").first.wait_for(state="visible")
    page.wait_for_timeout(500)
    assert "Error" not in page.locator("#explore-plot").inner_text()
    assert page.locator("#explore-plot .mark-symbol.role-mark path").count() >= 32
    page.locator("#explore-image input[type=file]").set_input_files(str(EXAMPLE))
    page.wait_for_timeout(1000)
    page.click("#explore-button")
    page.locator("#explore-neighbours img").nth(7).wait_for(state="visible")
    assert page.locator("#explore-neighbours img").count() == 8
    assert "Nearest classes" in page.locator("#explore-summary").inner_text()
    page.wait_for_function("document.querySelectorAll('#explore-plot .mark-symbol.role-mark path').length == 33")
    shot(page, "explore")
