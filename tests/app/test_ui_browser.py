"""The app in a real browser: headless Debian Chromium driven by Playwright."""
from pathlib import Path

import numpy as np
import pytest
from PIL import Image



from .conftest import (CHROMIUM, EXAMPLE, canvas_ready, download_link, fetch_image, open_settings, paint_a_stroke,
                       shot, type_into, upload_shown)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]


def open_inpaint_with(page, picture: Path = EXAMPLE) -> None:
    page.get_by_role("tab", name="Inpaint").click()
    page.locator("#inpaint-editor .mc").wait_for(state="attached")  # the editor is mounted before it gets a file
    page.locator("#inpaint-picture input[type=file]").set_input_files(str(picture))
    page.locator("#inpaint-preview img").wait_for(state="visible")  # the server holds the picture
    canvas_ready(page)  # the editor has put it on its canvas


def test_header_names_the_model(page):
    header = page.locator("#header").inner_text()
    assert "5 classes" in header and "32px" in header and "cpu" in header
    assert "/" not in header and "local weights" in header  # the model's name, never a path on the server
    shot(page, "generate")


def test_paint_and_inpaint_changes_only_the_painted_area(page):
    open_inpaint_with(page)
    paint_a_stroke(page)
    page.locator("#inpaint-preview img").wait_for(state="visible")  # the live preview of the cells
    shot(page, "inpaint-painted")
    page.locator("#inpaint-blend").get_by_label("none").check()  # blend: none, so outside the stroke nothing may change
    page.locator("#inpaint-button").click()
    link = download_link(page, "inpaint-gallery")  # the results, not the pictures forming before them
    result = page.locator("#inpaint-gallery img").first
    result.wait_for(state="visible")
    shot(page, "inpaint-result")
    out = fetch_image(page, link)
    src = np.asarray(Image.open(EXAMPLE).convert("RGB"))
    assert out.shape == src.shape
    view = fetch_image(page, result.get_attribute("src"))  # the gallery shows it enlarged, pixel for pixel
    assert view.shape == (256, 256, 3) and np.array_equal(view[::2, ::2], out)
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
    open_inpaint_with(page)
    page.locator("#inpaint-button").click()
    message = page.get_by_text("no mask", exact=False).first
    message.wait_for(state="visible")
    shot(page, "error-no-mask")


def test_generate_then_send_to_inpaint(page):
    page.get_by_role("button", name="Generate", exact=True).click()
    download_link(page, "generate-gallery")  # the results, not the pictures forming before them
    page.locator("#generate-gallery img").first.wait_for(state="visible")
    page.locator("button:visible", has_text="Send to Inpaint").first.click()
    # the Inpaint tab opens with the picture in its editor, and the live preview shows it
    page.locator("#inpaint-preview img").wait_for(state="visible")
    assert page.get_by_role("tab", name="Inpaint").get_attribute("aria-selected") == "true"
    canvas_ready(page)
    shot(page, "send-to-inpaint")


def explore_points(page) -> list[tuple[str, float, float]]:
    """Each point of the map: its colour (its fill, or its outline where drawn hollow) and position."""
    return page.evaluate(
        "() => [...document.querySelectorAll('#explore-plot .mark-symbol.role-mark path')].map(p => {"
        " const s = getComputedStyle(p); const m = (p.getAttribute('transform') || '').match(/translate\\(([^,]+),([^)]+)\\)/);"
        " return [s.fill !== 'rgba(0, 0, 0, 0)' && s.fill !== 'none' ? s.fill : s.stroke, +m[1], +m[2]]; })")


def yours(points, colour: str):
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return [p for p in points if p[0].replace(" ", "") == f"rgb({r},{g},{b})"]


def test_explore_map_places_an_upload_as_a_point_of_its_own_colour(page):
    from bigr_app.app.ui.explore import YOUR_IMAGE_COLOUR

    page.get_by_role("tab", name="Explore").click()
    page.wait_for_function("document.querySelectorAll('#explore-plot .mark-symbol.role-mark path').length >= 33")
    points = explore_points(page)
    references = [p for p in points if p not in yours(points, YOUR_IMAGE_COLOUR)]
    assert len(references) == 32  # one per reference picture; no class shares the upload's colour
    width = max(p[1] for p in references)
    parked = yours(points, YOUR_IMAGE_COLOUR)
    assert len(parked) == 1 and parked[0][1] > 2 * width  # no upload yet: one point outside the plot (clipped)
    legend = page.locator("#explore-legend")
    assert all(name in legend.inner_text() for name in ("your image", "animal", "flag", "place & weather"))
    assert YOUR_IMAGE_COLOUR in legend.inner_html()
    page.click("#explore-button")  # no picture yet: a hint, and the map keeps its points with no error badge
    page.get_by_text("upload a picture first").first.wait_for(state="visible")  # with any error badge, not before
    assert "Error" not in page.locator("#explore-plot").inner_text()
    assert len(explore_points(page)) == 33
    page.locator("#explore-image input[type=file]").set_input_files(str(EXAMPLE))
    upload_shown(page, "explore-image")
    page.click("#explore-button")
    page.locator("#explore-neighbours img").nth(7).wait_for(state="visible")
    assert page.locator("#explore-neighbours img").count() == 8
    assert "Nearest classes" in page.locator("#explore-summary").inner_text()
    page.wait_for_function("(w) => [...document.querySelectorAll('#explore-plot .mark-symbol.role-mark path')]"
                           ".some(p => { const s = getComputedStyle(p); return (s.stroke + s.fill).includes('rgb(0, 0, 0)')"
                           " && +(p.getAttribute('transform').match(/translate\\(([^,]+)/)[1]) <= w; })", arg=width * 1.05)
    placed = yours(explore_points(page), YOUR_IMAGE_COLOUR)
    assert len(placed) == 9 and all(0 <= p[1] <= width * 1.1 for p in placed)  # on the map now: a black ring
    shot(page, "explore")


def test_galleries_show_whole_enlarged_pictures_and_reuse_seed(page):
    open_settings(page)
    type_into(page.locator("#settings-seed input"), "5")
    page.get_by_role("button", name="Generate", exact=True).click()
    link = download_link(page, "generate-gallery", 1)  # the results, not the pictures forming before them
    thumbs = page.locator("#generate-gallery img")
    thumbs.nth(1).wait_for(state="visible")
    fit = thumbs.first.evaluate("img => getComputedStyle(img).objectFit")
    assert fit == "contain"  # whole pictures, not cropped thumbnails
    assert thumbs.first.evaluate("img => img.naturalWidth") == 256  # 32 px results, enlarged for display
    assert fetch_image(page, link).shape == (32, 32, 3)  # downloads: native
    thumbs.nth(1).click()
    note = page.locator("#generate-gallery-picked").get_by_text("Picked picture 2 of")
    note.wait_for(state="visible")
    assert note.inner_text().endswith("seed 6"), note.inner_text()  # made with seed 5: the second picture's is 6
    page.locator("#generate-gallery-reuse").click()
    try:
        page.wait_for_function("document.querySelector('#settings-seed input').value === '6'", timeout=20_000)
    except Exception as e:  # say what the page shows instead
        seed = page.locator("#settings-seed input").input_value()
        toasts = page.locator(".toast-body").all_inner_texts()
        raise AssertionError(f"seed box shows {seed!r} after Reuse seed; messages: {toasts}") from e


def test_png_info_restores_a_picture_into_its_tab(page, tiny_engine, tmp_path):
    from bigr_app.app.saving import picture_params, save_png

    result = tiny_engine.inpaint(Image.open(EXAMPLE), np.ones((128, 128), bool), class_id=3, num_samples=2, seed=40,
                                 blend_mode="none", region="whole", iterations=2, diffusion_steps=2, cfg_scale=2.5)
    path = save_png(result[1], tmp_path / "made.png", picture_params(result.params, 1))
    open_settings(page)
    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo-image input[type=file]").set_input_files(str(path))
    page.get_by_text("Made by inpaint, seed 41").wait_for(state="visible")
    assert '"cfg_scale": 2.5' in page.locator("#pnginfo-params").inner_text().replace("\n", " ") or \
        "2.5" in page.locator("#pnginfo-params").inner_text()
    page.locator("#pnginfo-restore").click()
    page.wait_for_function("document.querySelector('#settings-seed input').value === '41'")
    assert page.get_by_role("tab", name="Inpaint").get_attribute("aria-selected") == "true"
    assert page.locator("#inpaint-blend").get_by_label("none").is_checked()
    assert page.locator("#inpaint-class input").input_value() == "c3"
    assert page.locator("#settings-cfg input[type=number]").input_value() == "2.5"
    page.locator("#inpaint-preview img").wait_for(state="visible", timeout=5000)  # the picture is in the editor
    page.locator(".toast-body").first.wait_for(state="visible")
    page.locator("#inpaint-fit").wait_for(state="visible", timeout=10000)  # region whole: its fit applies
    canvas_ready(page)  # the restore has run to its end: no other note comes
    assert page.locator(".toast-body").count() == 1  # one note, "Restored; the mask is not stored..."
    page.locator("#inpaint-region").get_by_label("auto").check()
    page.locator("#inpaint-fit").wait_for(state="hidden")  # masked or auto: always letterboxed
    shot(page, "png-info-restored")
    # a picture without parameters: a message, nothing to restore, no error badge
    Image.open(EXAMPLE).save(tmp_path / "plain.png")
    page.reload()
    page.get_by_role("tab", name="PNG Info").click()
    page.locator("#pnginfo-image input[type=file]").set_input_files(str(tmp_path / "plain.png"))
    page.get_by_text("not made by BiGR Studio", exact=False).wait_for(state="visible")
    assert page.locator("#pnginfo-restore").is_disabled()


def test_editing_tabs_start_unconditional(page):
    for tab, box in (("Inpaint", "#inpaint-class"), ("Outpaint", "#outpaint-class")):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_function(f"document.querySelector('{box} input')?.value", timeout=30_000)  # set at load
        assert page.locator(f"{box} input").input_value() == "(unconditional)"


def test_outpaint_previews_the_expanded_frame(page):
    page.get_by_role("tab", name="Outpaint").click()
    page.locator("#outpaint-picture input[type=file]").set_input_files(str(EXAMPLE))
    page.locator("#outpaint-preview img").wait_for(state="visible")
    first = page.locator("#outpaint-preview img").get_attribute("src")
    assert fetch_image(page, first).shape[:2] == (128, 192)  # 64 px more on the right (the default)
    left = page.locator("#outpaint-left input[type=number]")
    left.fill("128")
    left.press("Enter")
    page.wait_for_function("() => document.querySelector('#outpaint-preview img').naturalWidth === 320")
    assert "128x128 → 320x128" in page.locator("#outpaint-note").inner_text()


def test_a_single_result_is_in_view(page):
    page.get_by_role("tab", name="Enrich & vary").click()
    page.locator("#enrich-image input[type=file]").set_input_files(str(EXAMPLE))
    upload_shown(page, "enrich-image")
    page.get_by_role("button", name="Enrich", exact=True).click()
    img = page.locator("#enrich-gallery img").first
    img.wait_for(state="visible")
    gallery, picture = page.locator("#enrich-gallery").bounding_box(), img.bounding_box()
    assert picture["height"] > 100
    assert picture["y"] >= gallery["y"] and picture["y"] + picture["height"] <= gallery["y"] + gallery["height"]


def test_captions_and_file_names_are_whole(page):
    page.get_by_role("tab", name="Explore").click()
    page.locator("#explore-image input[type=file]").set_input_files(str(EXAMPLE))
    upload_shown(page, "explore-image")
    page.click("#explore-button")
    page.locator("#explore-neighbours img").nth(7).wait_for(state="visible")
    page.get_by_role("tab", name="Interpolate").click()
    page.locator("#interp-image img").wait_for(state="visible")
    cut = page.evaluate("() => [...document.querySelectorAll('#explore-neighbours [class*=caption], .filename .stem')]"
                        ".filter(e => e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1)"
                        ".map(e => e.innerText)")
    shown = page.evaluate("() => [...document.querySelectorAll('.filename .stem')].filter(e => e.offsetParent)"
                          ".map(e => e.innerText)")
    assert shown and not cut, cut
