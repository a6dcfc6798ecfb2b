"""No response of a session names a path of the server's (its installation, outputs, weights, home); uploads that
are not pictures are never served inline."""
import json
import urllib.request
from pathlib import Path

import pytest

from bigr_app.app.outputs import Outputs
from bigr_app.app.server_process import ROOT

from .conftest import log_in, served

EXAMPLE = ROOT / "assets" / "examples" / "fox.png"


class Recorder:
    """An ASGI middleware keeping every response body the app sends."""
    bodies: list[tuple[str, bytes]] = []

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def recording(message):
            if message["type"] == "http.response.body":
                Recorder.bodies.append((scope["path"], message.get("body", b"")))
            await send(message)

        return await self.app(scope, receive, recording)


def test_no_response_of_a_session_names_a_server_path(tiny_engine, tmp_path, browser):
    """A whole session on a server with accounts (the page: log in, generate, History; the API: generate, inpaint,
    a refused request), every byte of every response recorded: none names the installation, the outputs folder,
    the weights or the home folder."""
    from starlette.middleware import Middleware

    from bigr_app.app.accounts import Accounts
    from bigr_app.app.serve import door
    from bigr_app.app.ui import build_ui

    weights = tiny_engine.save_pretrained(tmp_path / "weights")
    outputs = Outputs(tmp_path / "outputs")
    demo = build_ui(tiny_engine, outputs=outputs, per_browser=True, per_user=True)
    options = door(Accounts.from_flags(["dana:a long password"], None), outputs)
    options["app_kwargs"]["middleware"].append(Middleware(Recorder))
    Recorder.bodies.clear()
    with served(demo, allowed_paths=[str(outputs.root)], **options) as url:
        session_through_page_and_api(browser, url)
    assert len(Recorder.bodies) > 50 and any(b"/gradio_api/file=" in body for _, body in Recorder.bodies)
    paths = {str(ROOT), str(outputs.root.resolve()), str(weights.resolve())}
    if len(Path.home().parts) > 1:
        paths.add(str(Path.home()))
    named = {(route, path) for route, body in Recorder.bodies for path in paths if path.encode() in body}
    assert named == set()


def session_through_page_and_api(browser, url: str) -> None:
    """Log in, generate, open the picture in History; through the API, generate and send a refused inpainting."""
    from gradio_client import Client, handle_file

    page = browser.new_page(viewport={"width": 1300, "height": 1000})
    page.set_default_timeout(60_000)
    try:
        page.goto(url + "/")
        log_in(page, "dana", "a long password")
        page.wait_for_selector("#header")
        page.get_by_role("button", name="Generate", exact=True).click()
        page.locator("#generate-gallery-files a").first.wait_for(state="attached")
        page.get_by_role("tab", name="History").click()
        page.locator("#history-refresh").click()
        page.locator("#history-gallery img").first.click()
        page.locator("#history-summary").get_by_text("seed").wait_for(state="visible")
        client = Client(url + "/", auth=("dana", "a long password"), verbose=False)
        client.predict("c1", 1, 3, 3.0, 3, 0.0, 4, api_name="/generate")
        editor = {"background": handle_file(str(EXAMPLE)), "layers": [], "composite": None}
        with pytest.raises(Exception, match="paint"):  # nothing painted: refused, with a message
            client.predict(editor, None, "(unconditional)", "none", 0, "whole", 0, "crop", 0, 1, 3, 3.0, 3, 0.0, 4,
                           api_name="/inpaint")
    finally:
        page.close()


def upload(url: str, name: str, data: bytes) -> str:
    boundary = "bigrboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url + "/gradio_api/upload", data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read())[0]


def test_uploaded_files_that_are_not_pictures_are_never_shown_inline(tiny_engine):
    import io

    from PIL import Image

    from bigr_app.app.serve import door
    from bigr_app.app.accounts import Accounts
    from bigr_app.app.ui import build_ui

    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    with served(build_ui(tiny_engine), **door(Accounts())) as url:
        headers = {}
        for name, data in (("evil.svg", svg), ("page.html", b"<script>alert(1)</script>"), ("ok.png", png.getvalue())):
            with urllib.request.urlopen(f"{url}/gradio_api/file={upload(url, name, data)}", timeout=30) as r:
                headers[name] = (r.headers.get("content-type"), r.headers.get("content-disposition"),
                                 r.headers.get("x-content-type-options"))
    for name in ("evil.svg", "page.html"):  # gradio's own rule, with our nosniff
        kind, disposition, sniff = headers[name]
        assert kind == "application/octet-stream" and disposition.startswith("attachment") and sniff == "nosniff"
    assert headers["ok.png"][0] == "image/png" and headers["ok.png"][1] != "attachment"
