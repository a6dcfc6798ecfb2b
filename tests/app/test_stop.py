"""Stop: a request its user stops (a cancelled API job, the page's Stop button) ends at its next iteration, keeps
nothing, and the next request is served."""
import re
import time
from pathlib import Path

import pytest

from .conftest import CHROMIUM, open_page, open_settings, type_into

LONG = dict(n=4, iterations=64, steps=100)  # the tiny model takes over 15 s for this: a stop is plainly seen


def stops(app) -> list[tuple[int, int]]:
    """(iteration, of) for every request the server log says was stopped."""
    app.log.flush()
    text = Path(app.log.name).read_text(errors="replace")
    return [(int(a), int(b)) for a, b in re.findall(r"stopped by its user at iteration (\d+) of (\d+)", text)]


def kept(app, seed: int) -> list[Path]:
    return sorted(app.outputs.rglob(f"generate-*-{seed}.png")) if app.outputs.exists() else []


def wait_for_stop(app, before: int) -> tuple[int, int]:
    deadline = time.monotonic() + 60
    while len(stops(app)) == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(stops(app)) == before + 1, "the server never reported the request stopped"
    return stops(app)[-1]


def test_a_cancelled_api_job_stops_at_its_next_iteration_and_the_next_request_is_served(app):
    from gradio_client import Client
    from gradio_client.utils import Status

    client = Client(app.url, verbose=False)
    before = len(stops(app))
    job = client.submit("(unconditional)", LONG["n"], 9173, 3.0, LONG["iterations"], 0.0, LONG["steps"],
                        api_name="/generate")
    while job.status().code != Status.PROGRESS:  # sampling has begun
        assert not job.done(), "the request finished before it could be stopped"
        time.sleep(0.05)
    assert job.cancel()
    iteration, total = wait_for_stop(app, before)
    assert iteration < total == LONG["iterations"]
    _, files = client.predict("(unconditional)", 1, 9190, 3.0, 4, 0.0, 4, api_name="/generate")
    assert len(files) == 1
    assert [kept(app, seed) for seed in range(9173, 9177)] == [[]] * 4  # nothing of the stopped request was kept


@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (apt-get install chromium)")
def test_the_stop_button_ends_the_request_and_the_page_goes_on(app, browser):
    page = open_page(browser, app.url)
    try:
        open_settings(page)
        for label, value in (("Samples", LONG["n"]), ("Iterations N", LONG["iterations"]),
                             ("Diffusion steps T", LONG["steps"]), ("Seed", 9273)):
            box = page.locator(f"input[aria-label='number input for {label}']") if label != "Seed" else \
                page.locator("#settings-seed input")
            type_into(box, str(value))
        before = len(stops(app))
        page.get_by_role("button", name="Generate", exact=True).click()
        page.locator("#generate-gallery").get_by_text("forming…").first.wait_for(state="attached")  # sampling
        page.locator("button:visible", has_text="Stop").first.click()
        iteration, total = wait_for_stop(app, before)
        assert iteration < total == LONG["iterations"]
        for label, value in (("Samples", 1), ("Iterations N", 4), ("Diffusion steps T", 4), ("Seed", 9300)):
            box = page.locator(f"input[aria-label='number input for {label}']") if label != "Seed" else \
                page.locator("#settings-seed input")
            type_into(box, str(value))
        page.get_by_role("button", name="Generate", exact=True).click()
        page.locator("#generate-gallery-files a").first.wait_for(state="attached")
        assert page.locator("#generate-gallery-files a").count() == 1
        assert [kept(app, seed) for seed in range(9273, 9277)] == [[]] * 4 and len(kept(app, 9300)) == 1
    finally:
        page.close()
