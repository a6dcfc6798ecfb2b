"""The page, its configuration and API description, and the parameters of a result name no path of the server's
installation."""
import json
import socket
import urllib.request

from bigr_app.app.outputs import Outputs
from bigr_app.app.saving import read_params
from bigr_app.app.server_process import ROOT


def test_no_response_names_the_installation_path(tiny_engine, tmp_path):
    from gradio_client import Client

    from bigr_app.app.ui import build_ui

    outputs = Outputs(tmp_path / "outputs")
    demo = build_ui(tiny_engine, outputs=outputs, per_browser=True)
    demo.queue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
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
