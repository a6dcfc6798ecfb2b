"""The mask canvas in a real browser: strokes, undo and redo, the eraser, the brush size keys, touch, zoom, and
that what the page shows painted is what the edit regenerates."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import CHROMIUM, EXAMPLE, download_link, fetch_image, mask_sent

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]
CANVAS = "#inpaint-editor .mc"


def load(page, picture: Path) -> dict:
    """`picture` into the Inpaint tab's canvas; returns the canvas's state once it shows it."""
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-picture input[type=file]").set_input_files(str(picture))
    width = Image.open(picture).width
    page.wait_for_function(f"(w) => {{ const c = document.querySelector('{CANVAS}');"
                           " return c && c.dataset.ready === '1' && c.maskCanvas.state().width === w; }", arg=width)
    return canvas_state(page)


def canvas_state(page) -> dict:
    return page.evaluate(f"document.querySelector('{CANVAS}').maskCanvas.state()")


def mask(page) -> np.ndarray:
    m = page.evaluate(f"document.querySelector('{CANVAS}').maskCanvas.mask()")
    return np.array(m["bits"], bool).reshape(m["height"], m["width"])


def screen_point(page, x: float, y: float) -> tuple[float, float]:
    """Where the working copy's point (x, y) is on the screen."""
    box = page.locator(f"{CANVAS} canvas").bounding_box()
    st = canvas_state(page)
    return box["x"] + x * box["width"] / st["width"], box["y"] + y * box["height"] / st["height"]


def stroke(page, start: tuple[float, float], end: tuple[float, float], moves: int = 10) -> None:
    """A mouse stroke between two points of the working copy; waits until the page has sent its mask."""
    with mask_sent(page):
        page.mouse.move(*screen_point(page, *start))
        page.mouse.down()
        for k in range(1, moves + 1):
            t = k / moves
            page.mouse.move(*screen_point(page, start[0] + t * (end[0] - start[0]),
                                          start[1] + t * (end[1] - start[1])))
        page.mouse.up()


def test_undo_after_three_strokes_leaves_strokes_one_and_two_and_redo_brings_back_three(page):
    load(page, EXAMPLE)
    masks = []
    for y in (30, 64, 100):
        stroke(page, (20, y), (108, y))
        masks.append(mask(page))
    assert masks[0].any() and (masks[1] & ~masks[0]).any() and (masks[2] & ~masks[1]).any()
    with mask_sent(page):
        page.locator(CANVAS).get_by_role("button", name="Undo").click()
    assert np.array_equal(mask(page), masks[1])  # strokes 1 and 2, to the pixel
    with mask_sent(page):
        page.locator(CANVAS).focus()
        page.keyboard.press("Control+Shift+Z")
    assert np.array_equal(mask(page), masks[2])
    page.keyboard.press("Control+Z")
    page.keyboard.press("Control+Z")
    assert np.array_equal(mask(page), masks[0])


def test_the_eraser_removes_paint(page):
    load(page, EXAMPLE)
    stroke(page, (20, 64), (108, 64))
    painted = mask(page)
    assert painted[64, 30:100].all()
    page.locator(CANVAS).get_by_role("button", name="Eraser").click()
    stroke(page, (20, 64), (108, 64))
    left = mask(page)
    assert not left[64, 30:100].any() and left.sum() < painted.sum() / 4


def test_square_brackets_change_the_brush_size(page):
    start = load(page, EXAMPLE)["size"]
    page.locator(CANVAS).focus()
    page.keyboard.press("]")
    page.keyboard.press("]")
    bigger = canvas_state(page)["size"]
    page.keyboard.press("[")
    assert bigger > start and canvas_state(page)["size"] < bigger
    assert page.locator(f"{CANVAS} .mc-size-label").inner_text() == f"{canvas_state(page)['size']} px"


def test_a_touch_stroke_paints(app, browser):
    context = browser.new_context(viewport={"width": 1300, "height": 1100}, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app.url)
    page.wait_for_selector("#header")
    load(page, EXAMPLE)
    cdp = context.new_cdp_session(page)
    with mask_sent(page):
        points = [screen_point(page, x, 64) for x in range(20, 110, 8)]
        for kind, (x, y) in [("touchStart", points[0]), *[("touchMove", p) for p in points[1:]]]:
            cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [{"x": x, "y": y}]})
        cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    painted = mask(page)
    assert painted[64, 25:100].all() and not painted[:30].any()
    context.close()


def test_at_400_percent_a_dot_lands_within_a_pixel_of_where_it_was_put(page, tmp_path):
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((400, 600, 3)) * 255).astype(np.uint8)).save(tmp_path / "photo.png")
    load(page, tmp_path / "photo.png")
    page.evaluate(f"(() => {{ const c = document.querySelector('{CANVAS}').maskCanvas; c.zoom(4); c.setSize(5); }})()")
    assert page.locator(f"{CANVAS} .mc-zoom").inner_text() == "400%"
    target = (283.5, 211.5)  # near the view's centre, which the zoom keeps in view
    with mask_sent(page):
        page.mouse.click(*screen_point(page, *target))
    ys, xs = np.nonzero(mask(page))
    assert len(xs) and abs(xs.mean() + 0.5 - target[0]) <= 1 and abs(ys.mean() + 0.5 - target[1]) <= 1
    assert xs.max() - xs.min() <= 6  # a dot of the brush's 5 px, not a blot


def inpaint_result(page) -> tuple[np.ndarray, dict]:
    page.locator("#inpaint-blend").get_by_label("none").check()
    page.locator("#inpaint-region").get_by_label("masked").check()
    page.locator("#inpaint-button").click()
    data = page.request.get(download_link(page, "inpaint-gallery")).body()
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB")), json.loads(im.text["parameters"])


def test_what_is_painted_is_what_is_regenerated(page):
    """blend none, paste mask: every changed pixel is a painted one, after strokes and an undo."""
    load(page, EXAMPLE)
    stroke(page, (20, 40), (108, 40))
    stroke(page, (20, 90), (108, 90))
    with mask_sent(page):
        page.locator(CANVAS).get_by_role("button", name="Undo").click()
    painted = mask(page)
    page.locator("#inpaint-preview img").wait_for(state="visible")
    out, _ = inpaint_result(page)
    src = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    changed = np.any(out != src, -1)
    assert changed.any() and not (changed & ~painted).any()
    assert not changed[70:].any()  # the undone stroke's row is the original's


def test_a_button_pressed_while_a_stroke_is_on_its_way_waits_for_it(page):
    """On a slow link the mask of the last stroke is still uploading when the user presses Inpaint: the press
    waits for it, so the edit regenerates every stroke the page shows."""
    load(page, EXAMPLE)
    stroke(page, (20, 40), (108, 40))
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 1500, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    page.mouse.move(*screen_point(page, 20, 90))  # a second stroke, and Inpaint at once
    page.mouse.down()
    page.mouse.move(*screen_point(page, 108, 90), steps=10)
    page.mouse.up()
    assert page.evaluate(f"document.querySelector('{CANVAS}').dataset.sending") == "1"
    out, _ = inpaint_result(page)
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": -1})
    changed = np.any(out != np.asarray(Image.open(EXAMPLE).convert("RGB")), -1)
    assert changed[30:50].any() and changed[80:100].any()  # both strokes regenerated


def test_an_uploaded_mask_is_used_exactly(page, tmp_path):
    load(page, EXAMPLE)
    stroke(page, (20, 100), (108, 100))  # paint that the uploaded file replaces
    file_mask = np.zeros((128, 128), np.uint8)
    file_mask[20:50, 30:90] = 255
    Image.fromarray(file_mask).save(tmp_path / "mask.png")
    old = page.locator("#inpaint-preview img").get_attribute("src")
    page.locator("#inpaint-mask-file input[type=file]").set_input_files(str(tmp_path / "mask.png"))
    page.wait_for_function("(old) => document.querySelector('#inpaint-preview img').getAttribute('src') !== old",
                           arg=old)
    preview = fetch_image(page, page.locator("#inpaint-preview img").get_attribute("src"))
    assert preview.shape[0] >= 128
    out, params = inpaint_result(page)
    src = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    changed = np.any(out != src, -1)
    assert changed.any() and not (changed & (file_mask == 0)).any()
