"""Official models from the Hub, through the real `huggingface_hub` code path, against a stand-in server.

`huggingface_hub` reads HF_ENDPOINT, HF_HOME and HF_HUB_OFFLINE when it is imported, so each load
runs in a fresh interpreter with those set, as a user's would."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from bigr_app import Engine
from bigr_app.app.cli import main as cli_main
from bigr_app.model.hub import OFFICIAL_MODELS, RELEASE_REPO

from ..conftest import FAST, TINY_BIGR
from ..local_hub import LocalHub
from .test_checkpoints import write_official

ROOT = Path(__file__).resolve().parents[2]
PRESET = OFFICIAL_MODELS["BiGR-L-d24"]

# Loads a model in a fresh interpreter and prints what it is and the bits of one generation.
LOAD_AND_SAMPLE = """
import json, sys
from bigr_app import Engine
spec = json.loads(sys.argv[1])
eng = Engine.from_hub(**spec) if "repo_id" in spec else Engine.from_pretrained(spec["name"], precision="fp32")
bits = eng.generate_tokens(__import__("torch").tensor([1]), seed=3, iterations=4, diffusion_steps=8)
print(json.dumps({"source": eng.source, "heads": eng.bigr.cfg.n_head, "bits": bits.flatten().int().tolist()}))
"""


@pytest.fixture(scope="module")
def official_files(tmp_path_factory, tiny_models):
    return write_official(tmp_path_factory.mktemp("release"), *tiny_models)


def hub_files(official_files, repo=RELEASE_REPO, model=PRESET):
    bigr_path, bae_path = official_files
    return {f"{repo}/{model.bigr}": bigr_path, f"{repo}/{model.bae}": bae_path}


def run_python(code_args, hf_home, endpoint, offline=False):
    env = dict(os.environ, HF_HOME=str(hf_home), HF_ENDPOINT=endpoint, HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_DISABLE_TELEMETRY="1",
               HF_HUB_OFFLINE="1" if offline else "0", PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, *code_args], env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)


def load_in_fresh_process(spec, hf_home, endpoint, offline=False):
    proc = run_python(["-c", LOAD_AND_SAMPLE, json.dumps(spec)], hf_home, endpoint, offline)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bits_of(engine):
    return engine.generate_tokens(torch.tensor([1]), seed=3, **FAST).flatten().int().tolist()


def test_official_model_downloads_once_then_loads_from_the_cache(tmp_path, official_files):
    with LocalHub(hub_files(official_files)) as hub:
        first = load_in_fresh_process({"name": "BiGR-L-d24"}, tmp_path / "hf", hub.url)
        fetched = sorted(p for method, p in hub.requests if method == "GET" and "/resolve/" in p)
    assert fetched == sorted(f"/{RELEASE_REPO}/resolve/main/{f}" for f in (PRESET.bigr, PRESET.bae))
    blobs = list((tmp_path / "hf" / "hub").rglob("blobs/*"))
    assert len(blobs) == 2 and all(b.stat().st_size > 0 for b in blobs)
    # the server is gone: the second load reads the standard cache
    again = load_in_fresh_process({"name": "BiGR-L-d24"}, tmp_path / "hf", hub.url)
    assert again == first
    assert first["source"] == f"BiGR-L-d24 from {RELEASE_REPO}" and first["heads"] == PRESET.heads
    local = Engine.from_pretrained(bigr=official_files[0], bae=official_files[1], heads=PRESET.heads,
                                   precision="fp32")
    assert first["bits"] == bits_of(local)


def test_any_repository_revision_and_head_count(tmp_path, official_files):
    files = {"someone/tiny-bigr/ckpt/g.pt": official_files[0], "someone/tiny-bigr/ckpt/ae.th": official_files[1]}
    with LocalHub(files, revision="v1") as hub:
        spec = {"repo_id": "someone/tiny-bigr", "bigr": "ckpt/g.pt", "bae": "ckpt/ae.th", "revision": "v1",
                "heads": TINY_BIGR.n_head, "precision": "fp32"}
        out = load_in_fresh_process(spec, tmp_path / "hf", hub.url)
    assert out["source"] == "ckpt/g.pt from someone/tiny-bigr@v1" and out["heads"] == TINY_BIGR.n_head
    local = Engine.from_pretrained(bigr=official_files[0], bae=official_files[1], heads=TINY_BIGR.n_head,
                                   precision="fp32")
    assert out["bits"] == bits_of(local)


@pytest.mark.parametrize("situation", ["offline", "no network", "missing file"])
def test_cannot_download_names_the_files_and_the_manual_way(tmp_path, official_files, situation):
    hub = LocalHub({} if situation == "missing file" else hub_files(official_files)).__enter__()
    if situation == "no network":
        hub.stop()  # nothing listens on that port any more
    try:
        proc = run_python(["-m", "bigr_app", "generate", "--model", "BiGR-L-d24", "--out", str(tmp_path / "o")],
                          tmp_path / "hf", hub.url, offline=situation == "offline")
    finally:
        if situation != "no network":
            hub.stop()
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    for name in (PRESET.bigr, PRESET.bae):
        assert f"/{RELEASE_REPO}/resolve/main/{name}" in proc.stderr
    assert "--bigr FILE.pt --bae FILE.th" in proc.stderr
    assert not (tmp_path / "o").exists()


def test_unknown_sources_are_refused_with_choices(tmp_path, official_files):
    with pytest.raises(SystemExit):
        cli_main(["generate", "--model", "BiGR-M", "--out", str(tmp_path)])
    assert cli_main(["generate", "--model", "BiGR-L-d24", "--weights", str(tmp_path), "--out", str(tmp_path)]) == 2


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
def test_converted_folder_samples_what_the_pickle_pair_does(tmp_path, official_files, dtype):
    out = tmp_path / "converted"
    assert cli_main(["convert", "--bigr", str(official_files[0]), "--bae", str(official_files[1]),
                     "--heads", str(TINY_BIGR.n_head), "--out", str(out), "--dtype", dtype]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["bigr"]["n_head"] == TINY_BIGR.n_head
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        stored = {f.get_tensor(k).dtype for k in keys}
    assert not any("_denoise_fn" in k for k in keys)  # one transcoder copy
    assert stored == {torch.float32 if dtype == "fp32" else torch.bfloat16}
    pickled = Engine.from_pretrained(bigr=official_files[0], bae=official_files[1], heads=TINY_BIGR.n_head)
    folder = Engine.from_pretrained(out)
    if dtype == "fp32":
        assert bits_of(folder) == bits_of(pickled)
        for a, b in zip(pickled.bigr.state_dict().values(), folder.bigr.state_dict().values()):
            assert torch.equal(a, b)
    else:  # weights rounded to bf16: the same model up to bf16 rounding
        for a, b in zip(pickled.bigr.state_dict().values(), folder.bigr.state_dict().values()):
            assert torch.equal(a.to(torch.bfloat16).float(), b)
        agree = np.mean(np.array(bits_of(folder)) == np.array(bits_of(pickled)))
        assert agree > 0.5


def test_an_unreachable_hub_is_asked_once(tmp_path):
    """A Hub that takes connections and drops them: one attempt, then the message (the client alone retries
    five times over about 24 s)."""
    import socket
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    attempts = []

    def drop():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            attempts.append(1)
            conn.close()

    threading.Thread(target=drop, daemon=True).start()
    try:
        proc = run_python(["-m", "bigr_app", "generate", "--model", "BiGR-L-d24", "--out", str(tmp_path / "o")],
                          tmp_path / "hf", f"http://127.0.0.1:{listener.getsockname()[1]}")
    finally:
        listener.close()
    assert proc.returncode == 2 and "cannot be reached" in proc.stderr, proc.stderr
    assert len(attempts) == 1
