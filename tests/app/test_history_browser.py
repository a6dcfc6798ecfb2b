"""The History tab in a real browser: each browser its own history on a shared server, and a restore from History
that sets the page as PNG Info's restore of the same picture does."""
import time
from pathlib import Path

import pytest


from .conftest import CHROMIUM, open_settings, paint_a_stroke, type_into

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]
SETTINGS = ["#settings-seed input", "#settings-cfg input[type=number]", "#generate-class input"]


@pytest.fixture(scope="module")
def shared_app(app_servers):
    """A server others could reach (all interfaces), keeping results: each browser gets a history of its own."""
    return app_servers("--host", "0.0.0.0", "--insecure-no-auth")  # a browser-keyed History: no accounts


def new_page(context, url: str):
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#header")
    return page


def generate(page, seed: int, cfg: str = "3") -> None:
    open_settings(page)
    type_into(page.locator("#settings-seed input"), str(seed))  # committed before the click reads it
    type_into(page.locator("#settings-cfg input[type=number]"), cfg)
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#generate-gallery img").first.wait_for(state="visible")
    page.locator("#generate-gallery-files a").first.wait_for(state="attached")


def history_captions(page) -> list[str]:
    page.get_by_role("tab", name="History").click()
    page.locator("#history-refresh").click()
    page.locator("#history-page").get_by_text("Page 1 of").wait_for(state="visible")
    page.locator("#history-gallery img").first.wait_for(state="visible")
    return sorted(page.locator("#history-gallery .caption-label, #history-gallery figcaption").all_inner_texts())


def pictures_kept(server, count: int) -> None:
    """Returns once the server has kept `count` generated pictures (a minute at most, else the test fails)."""
    deadline = time.time() + 60
    while len(list(server.outputs.rglob("generate-*.png"))) < count:
        assert time.time() < deadline, f"the server kept {len(list(server.outputs.rglob('generate-*.png')))} " \
                                       f"generated pictures, not {count}"
        time.sleep(0.2)


def test_two_browsers_see_only_their_own_history(shared_app, browser):
    one, two = browser.new_context(viewport={"width": 1300, "height": 1300}), \
        browser.new_context(viewport={"width": 1300, "height": 1300})
    try:
        a, b = new_page(one, shared_app.url), new_page(two, shared_app.url)
        before = len(list(shared_app.outputs.rglob("generate-*.png")))
        generate(a, 10)
        pictures_kept(shared_app, before + 4)
        generate(b, 500)
        pictures_kept(shared_app, before + 8)
        page_line = "#history-page"
        history_captions(b)
        assert b.locator(page_line).inner_text().endswith("· 4 pictures")
        b.get_by_role("tab", name="Generate").click()
        b.get_by_role("button", name="Generate", exact=True).click()  # b makes 4 more
        pictures_kept(shared_app, before + 12)
        seen_a = history_captions(a)
        history_captions(b)  # b's History tab open
        assert a.locator(page_line).inner_text().endswith("· 4 pictures"), seen_a  # a sees only its own 4
        b.locator("#history-refresh").click()
        b.locator(page_line).get_by_text("· 8 pictures").wait_for(state="visible")  # b its own 8
        a.reload()  # the browser keeps its key: the same history after a reload
        a.wait_for_selector("#header")
        assert history_captions(a) == seen_a
    finally:
        one.close()
        two.close()


def controls(page) -> dict[str, str]:
    return {"tab": page.locator("[role=tab][aria-selected=true]").inner_text(),
            **{selector: page.locator(selector).input_value() for selector in SETTINGS}}


def test_restore_from_history_equals_restore_from_png_info(shared_app, browser):
    context = browser.new_context(viewport={"width": 1300, "height": 1300})
    try:
        page = new_page(context, shared_app.url)
        generate(page, 77, cfg="2.5")
        history_captions(page)
        page.locator("#history-gallery img").first.click()
        page.locator("#history-summary").get_by_text("seed").wait_for(state="visible")
        picked = page.locator("#history-summary code").inner_text()
        type_into(page.locator("#settings-seed input"), "1")  # moved away: the restore must set it back
        page.locator("#history-restore").click()
        page.wait_for_function("document.querySelector('#settings-seed input').value !== '1'")
        from_history = controls(page)

        (path,) = shared_app.outputs.rglob(picked)
        type_into(page.locator("#settings-seed input"), "1")
        type_into(page.locator("#settings-cfg input[type=number]"), "9")
        page.get_by_role("tab", name="PNG Info").click()
        page.locator("#pnginfo-image input[type=file]").set_input_files(str(path))
        page.get_by_text("Made by generate").wait_for(state="visible")
        page.locator("#pnginfo-restore").click()
        page.wait_for_function("document.querySelector('#settings-seed input').value !== '1'")
        assert controls(page) == from_history
        assert from_history["tab"] == "Generate" and from_history["#settings-cfg input[type=number]"] == "2.5"
        assert from_history["#settings-seed input"] == picked.split("-")[-1].removesuffix(".png")
    finally:
        context.close()


def test_captions_sit_under_their_pictures(shared_app, browser):
    context = browser.new_context(viewport={"width": 1300, "height": 1100})
    page = new_page(context, shared_app.url)
    generate(page, seed=11)
    pictures_kept(shared_app, 1)
    assert history_captions(page)
    boxes = page.evaluate("""() => [...document.querySelectorAll('#history-gallery .gallery-item')].map(g => {
        const i = g.querySelector('img').getBoundingClientRect(), c = g.querySelector('.caption-label');
        return c ? [i.bottom, c.getBoundingClientRect().top] : null; }).filter(Boolean)""")
    assert boxes and all(image_bottom <= caption_top + 0.5 for image_bottom, caption_top in boxes), boxes
    context.close()


def test_an_edit_made_in_the_page_is_chained_to_its_source_in_history(shared_app, browser):
    """Generate, send the picture to Inpaint, paint, inpaint; History shows the inpainting with the generated
    picture before it (the edit records its source's content hash, whatever the picture's size)."""
    context = browser.new_context(viewport={"width": 1300, "height": 1000})
    try:
        page = new_page(context, shared_app.url)
        generate(page, seed=4242)
        page.locator("button:visible", has_text="Send to Inpaint").first.click()
        page.locator("#inpaint-preview img").wait_for(state="visible")
        paint_a_stroke(page, "inpaint-editor")
        page.locator("#inpaint-button").click()
        page.locator("#inpaint-gallery-files a").first.wait_for(state="attached")
        history_captions(page)
        page.locator("#history-gallery img").first.click()  # the newest: the inpainting
        page.locator("#history-summary strong").get_by_text("inpaint", exact=True).wait_for(state="visible")
        page.locator("#history-chain img").nth(1).wait_for(state="visible")
        chain = page.locator("#history-chain .caption-label, #history-chain figcaption").all_inner_texts()
        assert len(chain) == 2 and "generate" in chain[0] and chain[1].startswith("▶") and "inpaint" in chain[1]
    finally:
        context.close()
