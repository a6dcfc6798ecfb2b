import json

import numpy as np
import pytest
from PIL import Image

from bigr_app.app.cli import main

FAST = ["--iterations", "3", "--steps", "4"]


@pytest.fixture(scope="module")
def weights(tiny_engine, tmp_path_factory):
    return str(tiny_engine.save_pretrained(tmp_path_factory.mktemp("w") / "tiny"))


@pytest.fixture()
def image_and_mask(tmp_path):
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 48, 3), dtype=np.uint8))
    mask = Image.new("L", img.size, 0)
    mask.paste(255, (5, 5, 25, 25))
    img.save(tmp_path / "in.png")
    mask.save(tmp_path / "mask.png")
    return str(tmp_path / "in.png"), str(tmp_path / "mask.png")


def run(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, [line for line in out.splitlines() if line.strip()], err


def test_generate_writes_pngs_with_metadata(weights, tmp_path, capsys):
    code, files, _ = run(["generate", "--weights", weights, "--class", "c1", "--class", "3", "--num-samples", "2",
                          "--out", str(tmp_path), *FAST], capsys)
    assert code == 0 and len(files) == 4
    with Image.open(files[0]) as im:
        params = json.loads(im.text["parameters"])
        assert im.size == (32, 32)
    assert params["task"] == "generate" and params["iterations"] == 3 and params["diffusion_steps"] == 4
    classes = [json.loads(open(f.replace(".png", ".json")).read())["class_id"] for f in files]
    assert classes == ["c1", "c1", "3", "3"]  # each picture its own class, and its own seed among them
    assert [json.loads(Image.open(f).text["parameters"])["seed"] for f in files] == [0, 1, 2, 3]
    # the model by the name the app's picker and History give it; how it ran, without the server's paths
    assert params["model"] == "tiny (local weights)" and weights not in json.dumps(params)
    assert params["engine"].startswith("BiGR ") and "on cpu" in params["engine"]


@pytest.mark.parametrize("task,extra", [
    ("inpaint", []), ("edit", ["--class", "c2"]), ("outpaint", []), ("vary", ["--strength", "0.3"]),
    ("enrich", []),
])
def test_image_tasks(weights, image_and_mask, tmp_path, capsys, task, extra):
    img, mask = image_and_mask
    mask_args = ["--mask", mask] if task in ("inpaint", "edit", "outpaint") else []
    code, files, err = run([task, img, *mask_args, "--weights", weights, "--out", str(tmp_path), *extra, *FAST], capsys)
    assert code == 0, err
    with Image.open(files[0]) as im:
        assert im.size == (48, 40)
        assert json.loads(im.text["parameters"])["task"] == task


def test_outpaint_expand(weights, image_and_mask, tmp_path, capsys):
    img, _ = image_and_mask
    code, files, err = run(["outpaint", img, "--expand", "0", "0", "24", "0", "--weights", weights,
                            "--out", str(tmp_path), *FAST], capsys)
    assert code == 0, err
    assert Image.open(files[0]).size == (72, 40)


def test_interpolate_writes_strip_and_gif(weights, tmp_path, capsys):
    code, files, _ = run(["interpolate", "--class-a", "0", "--class-b", "c4", "--frames", "3", "--weights", weights,
                          "--out", str(tmp_path), *FAST], capsys)
    assert code == 0
    assert any(f.endswith("_strip.png") for f in files) and any(f.endswith(".gif") for f in files)
    assert Image.open([f for f in files if f.endswith("_strip.png")][0]).size == (96, 32)
    assert Image.open([f for f in files if f.endswith(".gif")][0]).n_frames == 4


@pytest.mark.parametrize("args,message", [
    (["inpaint", "IMG", "--mask", "EMPTY"], "nothing to regenerate"),
    (["generate", "--class", "nope"], "unknown class"),
    (["inpaint", "missing.png", "--mask", "EMPTY"], "no such file"),
    (["interpolate", "--class-a", "0", "--class-b", "1", "--ratios", "2"], "ratios"),
])
def test_bad_input_gives_clear_error(weights, image_and_mask, tmp_path, capsys, args, message):
    img, _ = image_and_mask
    Image.new("L", (48, 40), 0).save(tmp_path / "empty.png")
    args = [a.replace("IMG", img).replace("EMPTY", str(tmp_path / "empty.png")) for a in args]
    code, _, err = run([*args, "--weights", weights, "--out", str(tmp_path), *FAST], capsys)
    assert code == 2 and message in err and "Traceback" not in err


def test_sample_npz_is_resumable(weights, tmp_path, capsys):
    out = tmp_path / "s.npz"
    code, _, err = run(["sample-npz", "--weights", weights, "--out", str(out), "--per-class", "2", "--batch", "4", *FAST], capsys)
    assert code == 0, err
    with np.load(out) as f:
        assert f["arr_0"].shape == (10, 32, 32, 3) and f["arr_0"].dtype == np.uint8
        first = f["arr_0"].copy()
        assert list(f["labels"]) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    chunk = out.with_name("s.npz.parts") / "chunk_00000004.npz"
    chunk.unlink()
    assert main(["sample-npz", "--weights", weights, "--out", str(out), "--per-class", "2", "--batch", "4", *FAST]) == 0
    with np.load(out) as f:
        assert np.array_equal(f["arr_0"], first)


def test_sample_npz_chunks_belong_to_their_run(weights, tmp_path, capsys):
    """A run with another seed refuses the chunks of the first, naming the difference; --overwrite starts afresh
    and writes exactly what a fresh run with that seed writes."""
    npz = ["sample-npz", "--weights", weights, "--per-class", "1", "--batch", "2", *FAST]
    out, fresh = tmp_path / "s.npz", tmp_path / "fresh.npz"
    assert run([*npz, "--out", str(out), "--seed", "7"], capsys)[0] == 0
    code, _, err = run([*npz, "--out", str(out), "--seed", "8"], capsys)
    assert code == 2 and "seed: 7 there, 8 now" in err and "--overwrite" in err and "Traceback" not in err
    code, _, err = run([*npz, "--out", str(out), "--seed", "7", "--iterations", "2"], capsys)
    assert code == 2 and "iterations: 3 there, 2 now" in err
    assert run([*npz, "--out", str(out), "--seed", "8", "--overwrite"], capsys)[0] == 0
    assert run([*npz, "--out", str(fresh), "--seed", "8"], capsys)[0] == 0
    with np.load(out) as a, np.load(fresh) as b:
        assert np.array_equal(a["arr_0"], b["arr_0"])
    (out.with_name("s.npz.parts") / "job.json").unlink()  # chunks from before runs were recorded
    code, _, err = run([*npz, "--out", str(out), "--seed", "8"], capsys)
    assert code == 2 and "record no arguments" in err


def test_features_chunks_belong_to_their_run(weights, tmp_path, capsys):
    root = tmp_path / "data"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(2):
            Image.fromarray(np.full((20, 20, 3), 60 * i, np.uint8)).save(root / label / f"{i}.png")
    out = tmp_path / "f.npz"
    features = ["features", "--weights", weights, "--data", str(root), "--out", str(out), "--batch", "2"]
    (out.with_name("f.npz.parts")).mkdir()
    from bigr_app.resumable import claim_parts

    claim_parts(out, {"kind": "pixels"})  # a stopped run of another kind
    code, _, err = run(features, capsys)
    assert code == 2 and "kind: 'pixels' there, 'bigr' now" in err
    code, _, err = run([*features, "--overwrite"], capsys)
    assert code == 0, err
    assert "rank 0 of 1: extracted 2 of its 2 chunks" in err


@pytest.mark.parametrize("task,extra", [("inpaint", []), ("edit", ["--class", "c2"]), ("outpaint", [])])
def test_strength_and_paste_reach_the_picture(weights, image_and_mask, tmp_path, capsys, task, extra):
    img, mask = image_and_mask
    code, files, err = run([task, img, "--mask", mask, "--weights", weights, "--out", str(tmp_path), *extra,
                            "--strength", "0.4", "--paste", "cells", *FAST], capsys)
    assert code == 0, err
    with Image.open(files[0]) as im:
        params = json.loads(im.text["parameters"])
    assert params["strength"] == 0.4 and params["paste"] == "cells"
    code, _, err = run([task, img, "--mask", mask, "--weights", weights, "--out", str(tmp_path), *extra,
                        "--strength", "1.5", *FAST], capsys)
    assert code != 0 and "strength must be a number in (0, 1]" in err
