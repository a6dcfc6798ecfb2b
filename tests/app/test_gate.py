"""The gate on its own, in front of a stand-in app: failed logins from one address are throttled, and the files a
user may download are those named in responses to them."""
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from bigr_app.app.gate import Gate, HandedFiles, LoginThrottle


async def login(request):
    form = await request.form()
    return PlainTextResponse("ok" if form.get("password") == "right" else "no", 200 if form.get("password") == "right"
                             else 400)


def test_an_address_with_too_many_failed_logins_is_refused_for_a_while(monkeypatch):
    client = TestClient(Gate(Starlette(routes=[Route("/login", login, methods=["POST"])]), locked=True))
    for _ in range(LoginThrottle.LIMIT):
        assert client.post("/login", data={"username": "a", "password": "wrong"}).status_code == 400
    refused = client.post("/login", data={"username": "a", "password": "right"})
    assert refused.status_code == 429 and "wait a minute" in refused.text
    assert refused.headers["x-content-type-options"] == "nosniff"
    monkeypatch.setattr(LoginThrottle, "WINDOW_S", 0.0)  # the window passed
    assert client.post("/login", data={"username": "a", "password": "right"}).status_code == 200


def test_files_named_in_a_response_are_handed_to_that_user_only():
    handed = HandedFiles()
    handed.note("alice", b'data: {"output": {"data": [{"path": "/tmp/gradio/ab12/x.png", "url": '
                         b'"http://h/gradio_api/file=/tmp/gradio/cd34/y%20z.png"}]}}')
    handed.note("alice", b'["/tmp/gradio/ef56/upload.png"]')
    for path in ("/tmp/gradio/ab12/x.png", "/tmp/gradio/cd34/y z.png", "/tmp/gradio/ef56/upload.png"):
        assert handed.handed("alice", path) and not handed.handed("bob", path)
    assert not handed.handed("alice", "/tmp/gradio/ab12/other.png")
