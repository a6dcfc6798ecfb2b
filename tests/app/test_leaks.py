"""The page, its configuration and API description, and the parameters of a result name no path of the server's
installation."""
import json
import urllib.request

from bigr_app.app.outputs import Outputs
from bigr_app.app.saving import read_params
from bigr_app.app.server_process import ROOT, free_port


def test_no_response_names_the_installation_path(tiny_engine, tmp_path):
    from gradio_client import Client

    from bigr_app.app.ui import build_ui

    outputs = Outputs(tmp_path / "outputs")
    demo = build_ui(tiny_engine, outputs=outputs, per_browser=True)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                allowed_paths=[str(outputs.root)])
    url = f"http://127.0.0.1:{port}"
    try:
        bodies = {path: urllib.request.urlopen(url + path, timeout=30).read().decode()
                  for path in ("/", "/config", "/gradio_api/info")}
        _, files = Client(url + "/", verbose=False).predict("c1", 1, 3, 3.0, 3, 0.0, 4, api_name="/generate")
    finally:
        demo.close()
    root = str(ROOT)
    assert {path: body.count(root) for path, body in bodies.items()} == {path: 0 for path in bodies}
    assert root not in json.dumps(read_params(files[0]))


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

    demo = build_ui(tiny_engine)
    demo.queue()
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **door(Accounts()))
    url = f"http://127.0.0.1:{port}"
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>'
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, format="PNG")
    try:
        served = {}
        for name, data in (("evil.svg", svg), ("page.html", b"<script>alert(1)</script>"), ("ok.png", png.getvalue())):
            with urllib.request.urlopen(f"{url}/gradio_api/file={upload(url, name, data)}", timeout=30) as r:
                served[name] = (r.headers.get("content-type"), r.headers.get("content-disposition"),
                                r.headers.get("x-content-type-options"))
    finally:
        demo.close()
    for name in ("evil.svg", "page.html"):  # gradio's own rule, with our nosniff
        kind, disposition, sniff = served[name]
        assert kind == "application/octet-stream" and disposition.startswith("attachment") and sniff == "nosniff"
    assert served["ok.png"][0] == "image/png" and served["ok.png"][1] != "attachment"
