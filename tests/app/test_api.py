"""The HTTP API (/api/v1): its schema comes from the task requests, every task runs through it, each user sees and
stops only their own requests, bad input gets a clear answer, and the curl and Python examples of docs/api.md run
as written."""
import base64
import http.client
import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bigr_app.tasks import REQUESTS

from .conftest import EXAMPLE, USERS

DOCS = Path(__file__).parents[2] / "docs" / "api.md"
QUICK = {"iterations": 2, "diffusion_steps": 2}


@pytest.fixture(scope="module")
def api(locked_app):
    return locked_app[1]


def client(url: str, name: str | None = None) -> httpx.Client:
    c = httpx.Client(base_url=url, timeout=120)
    if name is not None:
        c.post("/login", data={"username": name, "password": USERS[name]}).raise_for_status()
    return c


def png(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def opened(picture: dict) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(picture["png"])))


def test_the_schema_lists_every_task_with_its_request_fields(api):
    schema = client(api, "alice").get("/api/v1/openapi.json").json()
    for task in REQUESTS:
        assert f"/api/v1/{task}" in schema["paths"], task
    bodies = schema["components"]["schemas"]
    assert {"picture", "mask", "blend_mode", "feather_radius", "region", "strength", "sampling", "job"} <= set(
        bodies["InpaintRequestBody"]["properties"])
    assert "class_id" in bodies["EditRequestBody"]["required"]
    assert {"cfg_scale", "iterations", "diffusion_steps"} <= set(bodies["Sampling"]["properties"])


def test_without_a_login_every_api_route_answers_401(api):
    anonymous = client(api)
    for method, path in [("GET", "/api/v1/openapi.json"), ("GET", "/api/v1/models"), ("GET", "/api/v1/history"),
                         ("POST", "/api/v1/generate"), ("POST", "/api/v1/cancel/x"), ("GET", "/api/v1/history/1.png")]:
        assert anonymous.request(method, path, json={}).status_code == 401, path


def test_every_task_runs_and_each_picture_carries_its_parameters(api):
    alice = client(api, "alice")
    photo = Image.open(EXAMPLE).convert("RGB").resize((120, 80))
    mask = Image.new("L", photo.size, 0)
    mask.paste(255, (30, 20, 90, 60))
    bodies = {"generate": dict(class_id="c1", num_samples=2),
              "inpaint": dict(picture=png(photo), mask=png(mask)),
              "edit": dict(picture=png(photo), mask=png(mask), class_id=2),
              "outpaint": dict(picture=png(photo), expand=[16, 0, 24, 8]),
              "interpolate": dict(class_a="c0", class_b="c1", ratios=[1.0, 0.0]),
              "enrich": dict(picture=png(photo)),
              "vary": dict(picture=png(photo), strength=0.3, num_samples=2)}
    assert set(bodies) == set(REQUESTS)
    for task, body in bodies.items():
        answer = alice.post(f"/api/v1/{task}", json={**body, "seed": 9, "sampling": QUICK})
        assert answer.status_code == 200, (task, answer.text)
        pictures = answer.json()["pictures"]
        assert len(pictures) == body.get("num_samples", len(body.get("ratios", [0])))
        first = pictures[0]
        assert first["params"]["task"] == task and first["params"]["seed"] == 9 and first["id"] is not None
        assert json.loads(opened(first).info["parameters"]) == first["params"]  # the PNG carries them too
        if "picture" in body:
            assert first["params"]["source_sha256"]  # History links it to the picture it started from
    assert opened(alice.post("/api/v1/inpaint", json={**bodies["inpaint"], "sampling": QUICK}).json()["pictures"][0]
                  ).size == photo.size
    assert opened(alice.post("/api/v1/outpaint", json={**bodies["outpaint"], "sampling": QUICK}).json()["pictures"][0]
                  ).size == (160, 88)
    assert not re.search(r"/tmp/|/root/|outputs", json.dumps(alice.get("/api/v1/history").json()))  # no server path


def test_bad_input_gets_a_clear_answer_and_the_server_serves_on(api):
    alice = client(api, "alice")
    assert alice.post("/api/v1/vary", json={"picture": "not base64!"}).json()["detail"] == "picture: not base64"
    wrong = alice.post("/api/v1/generate", json={"colour": "blue"})
    assert wrong.status_code == 422 and "colour" in wrong.text
    assert alice.post("/api/v1/edit", json={"picture": png(Image.new("RGB", (8, 8)))}).status_code == 422  # no class
    no_mask = alice.post("/api/v1/inpaint", json={"picture": png(Image.new("RGB", (40, 40)))})
    assert no_mask.status_code == 400 and "no mask" in no_mask.json()["detail"]
    junk = alice.post("/api/v1/vary", json={"picture": base64.b64encode(b"GIF89a junk").decode()})
    assert junk.status_code == 400 and "picture" in junk.json()["detail"]
    assert alice.post("/api/v1/generate", json={"sampling": {"iterations": 0}}).status_code == 400
    assert alice.post("/api/v1/generate", json={"sampling": QUICK}).status_code == 200


def test_a_body_over_the_limit_is_refused_before_it_is_read(api):
    alice = client(api, "alice")
    host, port = api.removeprefix("http://").split(":")
    cookie = "; ".join(f"{k}={v}" for k, v in alice.cookies.items())
    raw = http.client.HTTPConnection(host, int(port), timeout=10)  # says 100 GB, sends none of it
    raw.putrequest("POST", "/api/v1/generate")
    for name, value in {"Cookie": cookie, "Content-Type": "application/json",
                        "Content-Length": "100000000000"}.items():
        raw.putheader(name, value)
    raw.endheaders()
    answer = raw.getresponse()
    refused = answer.status, answer.read().decode()
    raw.close()
    assert refused[0] == 413 and "the most this server takes" in refused[1]
    chunked = alice.post("/api/v1/generate", content=iter([b"{}"]), headers={"content-type": "application/json"})
    assert chunked.status_code == 411
    assert alice.post("/api/v1/generate", json={"sampling": QUICK}).status_code == 200


def test_each_user_sees_only_their_own_history_and_an_admin_sees_all(api):
    alice, bob, carol = client(api, "alice"), client(api, "bob"), client(api, "carol")
    made = alice.post("/api/v1/generate", json={"seed": 77, "sampling": QUICK}).json()["pictures"][0]
    ids = {p["id"] for p in alice.get("/api/v1/history", params={"per_page": 200}).json()["pictures"]}
    assert made["id"] in ids
    assert made["id"] not in {p["id"] for p in bob.get("/api/v1/history", params={"per_page": 200}).json()["pictures"]}
    kept = alice.get(made["url"])
    assert kept.status_code == 200 and kept.content == base64.b64decode(made["png"])
    assert bob.get(made["url"]).status_code == 404
    assert carol.get(made["url"]).status_code == 200
    linked = alice.post("/api/v1/generate", params={"inline": "false"},
                        json={"seed": 77, "num_samples": 2, "sampling": QUICK}).json()["pictures"]
    assert [p["png"] for p in linked] == [None, None] and [p["params"]["seed"] for p in linked] == [77, 78]
    listed = {p["id"]: p["url"] for p in alice.get("/api/v1/history", params={"per_page": 200}).json()["pictures"]}
    assert all(listed[p["id"]] == p["url"] for p in linked)
    assert opened({"png": base64.b64encode(alice.get(linked[0]["url"]).content)}).size == opened(made).size


def test_a_cancelled_request_ends_within_a_second_and_the_next_is_served(api):
    alice, bob = client(api, "alice"), client(api, "bob")
    answers = []
    long = threading.Thread(target=lambda: answers.append(alice.post("/api/v1/generate", json={
        "job": "long", "num_samples": 2, "sampling": {"iterations": 1000, "diffusion_steps": 2}})))
    long.start()
    deadline = time.monotonic() + 60
    while not bob.post("/api/v1/cancel/long").json()["stopped"]:  # another user's: never stopped
        if alice.post("/api/v1/cancel/long").json()["stopped"]:
            break
        assert time.monotonic() < deadline, "the request never started"
    stopped_at = time.monotonic()
    long.join(60)
    assert time.monotonic() - stopped_at < 1.0
    assert answers[0].status_code == 409 and "stopped by its user" in answers[0].json()["detail"]
    assert alice.post("/api/v1/generate", json={"sampling": QUICK}).status_code == 200


def shell_blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_the_examples_of_the_api_docs_run_as_written(api, tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "photo.png")
    shutil.copy(EXAMPLE.with_name("fox_mask.png"), tmp_path / "mask.png")
    env = {**os.environ, "BIGR": api, "BIGR_USER": "alice", "BIGR_PASSWORD": USERS["alice"]}
    text = DOCS.read_text()
    script = "set -euo pipefail\n" + "\n".join(shell_blocks(text, "bash"))
    done = subprocess.run(["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "generated-1.png: seed 6" in done.stdout
    assert Image.open(tmp_path / "inpainted.png").size == Image.open(EXAMPLE).size
    assert "stopped by its user" in (tmp_path / "stopped.json").read_text()
    assert len(list(tmp_path.glob("picture-*.png"))) == 1
    assert json.loads(Image.open(tmp_path / "linked.png").text["parameters"])["seed"] == 9
    (python,) = shell_blocks(text, "python")
    done = subprocess.run([sys.executable, "-c", python], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert "3 pictures from" in done.stdout and (tmp_path / "variation-1.png").is_file()
