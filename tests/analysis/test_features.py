"""Representations: Engine.features, the linear probe, the features/probe/explore-index commands."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from bigr_app.app.cli import main
from bigr_app.errors import InputError
from bigr_app.analysis.explore import ExploreIndex, build_index, class_colours, scatter_figure
from bigr_app.analysis.probe import best_layer, layer_sweep, linear_probe

FIXTURE = Path(__file__).parents[1] / "fixtures" / "emoji_tiny"


def pictures(n: int, seed: int = 0) -> list[Image.Image]:
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)) for _ in range(n)]


def test_feature_shape_and_determinism(tiny_engine):
    images = pictures(3)
    a = tiny_engine.features(images, layer=0)
    b = tiny_engine.features(images, layer=0)
    assert a.shape == (3, tiny_engine.bigr.cfg.dim) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a[0], a[1])  # different pictures, different features
    # batching does not change a picture's features
    np.testing.assert_allclose(tiny_engine.features(images[1], layer=0)[0], a[1], atol=1e-5)


def test_features_are_pooled_hidden_states_of_the_layer(tiny_engine):
    images = pictures(2, seed=1)
    every = tiny_engine.layer_features(images)
    assert every.shape == (2, tiny_engine.bigr.cfg.n_layer, tiny_engine.bigr.cfg.dim)
    bits = tiny_engine.encode(images).reshape(2, -1, tiny_engine.bits).float()
    with torch.no_grad():
        h = tiny_engine.bigr.backbone.hidden_states(bits, None, tiny_engine.bigr.backbone.null_condition(2), layer=1)
    np.testing.assert_allclose(every[:, 1], h[:, 1:].mean(1).numpy(), atol=1e-5)
    np.testing.assert_allclose(tiny_engine.features(images, layer=1), every[:, 1], atol=1e-5)
    assert not np.allclose(every[:, 0], every[:, 1])


def test_default_layer_is_the_recorded_one(tiny_engine):
    assert tiny_engine.feature_layer == tiny_engine.bigr.cfg.n_layer // 2  # nothing recorded: the middle
    np.testing.assert_array_equal(tiny_engine.features(pictures(1)), tiny_engine.features(pictures(1), layer=1))


@pytest.mark.parametrize("layer", [-1, 2, 1.5, True])
def test_bad_layer_is_refused(tiny_engine, layer):
    with pytest.raises(InputError, match="layer"):
        tiny_engine.features(pictures(1), layer=layer)


def test_baseline_features(tiny_engine):
    bits = tiny_engine.bit_features(pictures(2))
    assert bits.shape == (2, tiny_engine.grid**2 * tiny_engine.bits) and set(np.unique(bits)) <= {0.0, 1.0}
    pixels = tiny_engine.pixel_features(pictures(2))
    assert pixels.shape == (2, 3 * tiny_engine.resolution**2) and 0 <= pixels.min() and pixels.max() <= 1


def separable(n: int, classes: int, dims: int, seed: int):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dims)) * 4
    y = rng.integers(0, classes, n)
    return centres[y] + rng.normal(size=(n, dims)), y


def test_probe_separates_a_separable_set():
    x, y = separable(700, 8, 16, seed=0)
    r = linear_probe(x[:500], y[:500], x[500:], y[500:])
    assert r.top1 >= 0.95 and r.top5 >= r.top1 and (r.train_size, r.test_size) == (500, 200)


def test_probe_on_noise_is_near_chance():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(600, 16)), rng.integers(0, 8, 600)
    assert linear_probe(x[:400], y[:400], x[400:], y[400:]).top1 < 0.35


def test_layer_sweep_finds_the_informative_layer():
    x, y = separable(600, 6, 12, seed=2)
    noise = np.random.default_rng(3).normal(size=x.shape)
    stacked = np.stack([noise, x, noise], 1)  # layer 5 (index 1) carries the classes
    results = layer_sweep(stacked[:400], y[:400], stacked[400:], y[400:], layers=[4, 5, 6])
    assert best_layer(results) == 5 and results[5].top1 > 0.9


def test_probe_refuses_bad_input():
    x, y = separable(50, 3, 4, seed=0)
    with pytest.raises(InputError, match="dims"):
        linear_probe(x, y, x[:, :3], y)
    with pytest.raises(InputError, match="NaN"):
        linear_probe(np.full_like(x, np.nan), y, x, y)
    with pytest.raises(InputError, match="two classes"):
        linear_probe(x, np.zeros_like(y), x, y)


def test_cli_features_probe_record(tiny_engine, tmp_path, capsys):
    weights = tiny_engine.save_pretrained(tmp_path / "weights")
    common = ["--weights", str(weights), "--device", "cpu", "--batch", "8"]
    assert main(["features", *common, "--data", str(FIXTURE / "train"), "--out", str(tmp_path / "train.npz")]) == 0
    assert main(["features", *common, "--data", str(FIXTURE / "test"), "--out", str(tmp_path / "test.npz")]) == 0
    with np.load(tmp_path / "train.npz") as f:
        assert f["features"].shape == (32, 2, 128) and len(f["labels"]) == 32 and len(f["files"]) == 32
        assert json.loads(str(f["classes"])) == sorted(p.name for p in (FIXTURE / "train").iterdir() if p.is_dir())
    assert not (tmp_path / "train.npz.parts").exists()
    report = tmp_path / "probe.json"
    assert main(["probe", "--train", str(tmp_path / "train.npz"), "--test", str(tmp_path / "test.npz"),
                 "--json", str(report), "--record", str(weights)]) == 0
    out = capsys.readouterr().out
    assert "top-1" in out and "layer" in out
    result = json.loads(report.read_text())
    assert set(result["layers"]) == {"0", "1"}
    config = json.loads((weights / "config.json").read_text())
    assert config["bigr"]["feature_layer"] == result["best_layer"]
    from bigr_app.engine import Engine
    assert Engine.from_pretrained(weights, device="cpu").feature_layer == result["best_layer"]


@pytest.mark.parametrize("kind,dims", [("bits", 16 * 16 * 8), ("pixels", 3 * 32 * 32)])
def test_cli_baseline_features(tiny_engine, tmp_path, kind, dims):
    weights = tiny_engine.save_pretrained(tmp_path / "weights")
    out = tmp_path / f"{kind}.npz"
    assert main(["features", "--weights", str(weights), "--device", "cpu", "--kind", kind,
                 "--data", str(FIXTURE / "test"), "--out", str(out)]) == 0
    with np.load(out) as f:
        assert f["features"].shape == (4, 1, dims) and str(f["kind"]) == kind


def test_features_resume_from_finished_chunks(tiny_engine, tmp_path, monkeypatch):
    """A stopped extraction keeps its finished chunks; the rerun only computes the rest."""
    from bigr_app.analysis import extraction
    weights = tiny_engine.save_pretrained(tmp_path / "weights")
    out = tmp_path / "f.npz"
    args = ["features", "--weights", str(weights), "--device", "cpu", "--batch", "8",
            "--data", str(FIXTURE / "train"), "--out", str(out)]
    real = extraction.features_of_kind
    calls = []

    def stop_after_two(*a, **k):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(extraction, "features_of_kind", stop_after_two)
    with pytest.raises(KeyboardInterrupt):
        main(args)
    assert len(list((tmp_path / "f.npz.parts").glob("chunk_*.npz"))) == 2
    calls.clear()
    monkeypatch.setattr(extraction, "features_of_kind", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    assert main(args) == 0
    assert len(calls) == 2  # 4 chunks of 8, two already done
    main(["features", *args[1:-2], "--out", str(tmp_path / "fresh.npz")])
    with np.load(out) as a, np.load(tmp_path / "fresh.npz") as b:
        np.testing.assert_allclose(a["features"], b["features"], atol=1e-6)


def test_probe_cli_reports_unreadable_files(tmp_path, capsys):
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    assert main(["probe", "--train", str(tmp_path / "junk.npz"), "--test", str(tmp_path / "junk.npz")]) == 2
    assert "not a features file" in capsys.readouterr().err


def test_explore_index_round_trip_and_placement(tmp_path):
    x, y = separable(60, 3, 8, seed=4)
    images = np.random.default_rng(0).integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    index = build_index(x.astype(np.float32), y, ["a", "b", "c"], images, layer=3, thumb=16)
    assert index.coords.shape == (60, 2) and np.abs(index.coords).max() <= 1.0
    loaded = ExploreIndex.load(index.save(tmp_path / "explore.npz"))
    assert loaded.classes == ["a", "b", "c"] and loaded.layer == 3 and loaded.thumbnails.shape == (60, 16, 16, 3)
    order, sims = loaded.nearest(x[7].astype(np.float32), k=5)
    assert order[0] == 7 and sims[0] == pytest.approx(1.0, abs=1e-2)
    assert (y[order] == y[7]).mean() >= 0.8
    xy = loaded.place(x[7].astype(np.float32))
    same = loaded.coords[y == y[7]]
    assert np.linalg.norm(xy - same.mean(0)) < np.linalg.norm(xy - loaded.coords[y != y[7]].mean(0))
    assert scatter_figure(loaded.coords, loaded.labels, loaded.classes, "t").size[0] > 0
    with pytest.raises(InputError, match="dims"):
        loaded.nearest(np.zeros(3, np.float32))
    (tmp_path / "bad.npz").write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a map index"):
        ExploreIndex.load(tmp_path / "bad.npz")


@pytest.mark.parametrize("n, min_delta_e", [(1, 0), (12, 30), (19, 14), (31, 5)])
def test_class_colours_stay_apart_and_never_black(n, min_delta_e):
    colours = np.array(class_colours(n), dtype=np.float32)
    assert colours.shape == (n, 3)
    assert (colours.sum(1) > 60).all()  # black is the user's own picture in the Explore map
    if n > 1:  # CIE76 colour difference; evenly spaced hues gave 18 at 12 classes (the bundled model)
        lab = cv2.cvtColor(colours[None] / 255, cv2.COLOR_RGB2Lab)[0]
        gaps = np.linalg.norm(lab[:, None] - lab[None], axis=-1)[np.triu_indices(n, 1)]
        assert gaps.min() > min_delta_e
