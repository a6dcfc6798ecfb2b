"""The app's model picker: an official model downloads through the real Hub client (from a local
stand-in Hub) on first choice, then serves; a model that cannot be fetched leaves the current one."""
from pathlib import Path

import pytest

from bigr_app.model.hub import OFFICIAL_MODELS, RELEASE_REPO

from ..local_hub import LocalHub
from ..model.test_checkpoints import write_official
from .conftest import CHROMIUM
from .conftest import open_page, shot

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)"),
]
PRESET = OFFICIAL_MODELS["BiGR-L-d24"]


@pytest.fixture(scope="module")
def app(tiny_models, app_servers, tmp_path_factory):
    folder = tmp_path_factory.mktemp("switch")
    bigr_path, bae_path = write_official(folder, *tiny_models)
    files = {f"{RELEASE_REPO}/{PRESET.bigr}": bigr_path, f"{RELEASE_REPO}/{PRESET.bae}": bae_path}
    with LocalHub(files) as hub:
        env = {"HF_ENDPOINT": hub.url, "HF_HOME": str(folder / "hf"), "HF_HUB_DISABLE_TELEMETRY": "1"}
        server = app_servers(env=env)
        server.hub = hub
        yield server
        server.stop()


@pytest.fixture()
def page(app, browser):  # noqa: F811
    page = open_page(browser, app.url, height=900)
    yield page
    page.close()


def pick_model(page, name):
    from bigr_app.model.hub import OFFICIAL_MODELS

    page.locator("#model-picker input").click()
    label = f"{name} · {OFFICIAL_MODELS[name].download_mb / 1000:.1f} GB download"  # the picker says the size
    page.get_by_role("option", name=label, exact=True).click()


def test_picking_an_official_model_downloads_and_serves_it(app, page):
    before = page.locator("#header").inner_text()
    assert "32px" in before and "random" not in before
    pick_model(page, "BiGR-L-d24")
    page.wait_for_function("document.querySelector('#header').innerText.includes('Model: BiGR-L-d24 ·')")
    header = page.locator("#header").inner_text()
    assert "5 classes" in header and "32px" in header and "on cpu" in header
    assert sorted(p for m, p in app.hub.requests if m == "GET" and "/resolve/" in p) == sorted(
        f"/{RELEASE_REPO}/resolve/main/{f}" for f in (PRESET.bigr, PRESET.bae))
    shot(page, "model-switched")
    page.get_by_role("button", name="Generate", exact=True).click()
    page.locator("#generate-gallery img").first.wait_for(state="visible")
    assert "BiGR-L-d24" in page.locator("#model-picker input").input_value()


def model_line(page) -> str:
    return next(line for line in page.locator("#header").inner_text().splitlines() if line.startswith("Model:"))


def test_a_new_page_shows_the_served_model_and_a_failed_pick_keeps_it(app, page):
    # runs after the test above switched the server to BiGR-L-d24
    page.wait_for_function("document.querySelector('#header').innerText.includes('Model: BiGR-L-d24 ·')")
    assert page.locator("#model-picker input").input_value().startswith("BiGR-L-d24 ·")
    before = model_line(page)
    pick_model(page, "BiGR-XL-d24")  # not on the stand-in Hub: 404
    page.get_by_text("could not be loaded").first.wait_for(state="visible", timeout=120_000)
    page.wait_for_function("document.querySelector('#model-picker input').value.startsWith('BiGR-L-d24 ·')")
    assert page.get_by_text("could not be loaded").count() == 1  # one message, by the time the pick is undone
    assert model_line(page) == before
    shot(page, "model-switch-failed")
    assert len([r for r in app.hub.requests if "bigr_XL_d24" in r[1]]) == 1  # one pick, one try
