"""Pictures of any size in a real browser: the brush and the notes scale with the picture, and a 12 MP photo is
painted on a working copy and edited at full size."""
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import (CHROMIUM, canvas_ready, download_link, mask_sent, open_page, open_settings, shot,
                       type_into)
from .test_ui_browser import open_inpaint_with

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def painted_box_share(page, picture: Path) -> float:
    """Paint the same stroke across the middle of a picture and inpaint its surroundings: the regenerated box's
    height as a share of the picture's (the brush's width sets it)."""
    open_inpaint_with(page, picture)
    if Image.open(picture).height > 600:  # far larger than the model's 32 px: the note says where it is regenerated
        page.wait_for_function("document.querySelector('#inpaint-note').innerText.includes('Regenerated at')",
                               timeout=180_000)  # the editor takes its time with a large picture
        note = page.locator("#inpaint-note").inner_text()
        assert "Regenerated at 32x32" in note and "20.0 picture pixels to one" in note
        shot(page, "inpaint-large-note")
    box = page.locator("#inpaint-editor canvas").first.bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    with mask_sent(page):
        page.mouse.move(cx - 10, cy)
        page.mouse.down()
        page.mouse.move(cx + 10, cy, steps=4)
        page.mouse.up()
    page.locator("#inpaint-region").get_by_label("masked").check()
    page.locator("#inpaint-button").click()
    page.locator("#inpaint-gallery img").first.wait_for(state="visible")
    with Image.open(io.BytesIO(page.request.get(download_link(page, "inpaint-gallery")).body())) as im:
        params = json.loads(im.text["parameters"])
        height = im.height
    left, top, right, bottom = params["box"]
    return (bottom - top) / height


def test_brush_and_note_scale_with_the_picture(browser, app, tmp_path):
    rng = np.random.default_rng(0)
    sizes = {"small": (120, 80), "large": (960, 640)}
    shares = {}
    for name, (w, h) in sizes.items():
        path = tmp_path / f"{name}.png"
        Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(path)
        page = open_page(browser, app.url)
        shares[name] = painted_box_share(page, path)
        page.close()
    assert 0.5 < shares["small"] / shares["large"] < 2.0, shares  # the same stroke covers the same share


def big_photo(path: Path, size=(4000, 3000)) -> Path:
    """A 12 MP photo-like JPEG: smooth light, texture, a dark band."""
    w, h = size
    yy, xx = np.mgrid[0:h:4, 0:w:4].astype(np.float32)
    small = np.stack([90 + 80 * xx / w + 40 * np.sin(yy / 60), 120 + 60 * yy / h, 160 - 70 * xx / w], -1)
    small += np.random.default_rng(0).normal(0, 12, small.shape)
    Image.fromarray(small.clip(0, 255).astype(np.uint8)).resize(size, Image.Resampling.BILINEAR).save(path, quality=90)
    return path


def set_samples(page, n: int):
    open_settings(page)
    box = page.locator("input[aria-label='number input for Samples']")
    type_into(box, str(n))


def test_a_12_mp_photo_is_painted_on_a_working_copy_and_edited_at_full_size(page, tmp_path):
    photo = big_photo(tmp_path / "photo.jpg")
    set_samples(page, 1)
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-picture input[type=file]").set_input_files(str(photo))
    page.wait_for_function("document.querySelector('#inpaint-note').innerText.includes('4000x3000')",
                           timeout=120_000)  # the note speaks of the original
    canvas_ready(page)  # the editor has put the working copy on its canvas
    canvas = page.locator("#inpaint-editor canvas").first
    box = canvas.bounding_box()
    old = page.locator("#inpaint-preview img").get_attribute("src")
    page.mouse.move(box["x"] + box["width"] * 0.35, box["y"] + box["height"] * 0.5)
    page.mouse.down()
    for k in range(1, 11):
        page.mouse.move(box["x"] + box["width"] * (0.35 + k * 0.02), box["y"] + box["height"] * 0.5)
    page.mouse.up()
    page.wait_for_function("(old) => document.querySelector('#inpaint-preview img').getAttribute('src') !== old",
                           arg=old, timeout=120_000)
    page.locator("#inpaint-blend").get_by_label("none").check()
    page.locator("#inpaint-region").get_by_label("masked").check()
    page.locator("#inpaint-button").click()
    with Image.open(io.BytesIO(page.request.get(download_link(page, "inpaint-gallery")).body())) as im:
        params = json.loads(im.text["parameters"])
        out = np.asarray(im.convert("RGB"))
    src = np.asarray(Image.open(photo).convert("RGB"))
    assert out.shape == src.shape == (3000, 4000, 3)  # the download is full size
    left, top, right, bottom = params["box"]
    assert (right - left) * (bottom - top) < 0.75 * 4000 * 3000  # the stroke's surroundings, not the frame
    outside = np.ones(src.shape[:2], bool)
    outside[top:bottom, left:right] = False
    assert np.array_equal(out[outside], src[outside])  # every pixel outside the box is the file's
    assert not np.array_equal(out[~outside], src[~outside])
    changed_rows = np.nonzero(np.any(out != src, -1).any(1))[0]
    assert abs(changed_rows.mean() - 1500) < 300  # where the stroke was, on the original's scale
