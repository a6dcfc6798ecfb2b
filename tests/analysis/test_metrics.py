"""The model card's measurements: the judge classifier (trained once, cached, reloaded identically) and
scripts/evaluate.py end to end on the fixture."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import torch

from bigr_app.data.folder import ImageFolder
from bigr_app.analysis.metrics import load_or_train_classifier, load_or_train_judge, predict

FIXTURE = Path(__file__).parents[1] / "fixtures" / "emoji_tiny"


def test_judge_is_cached_and_reloaded(tmp_path):
    train = ImageFolder(FIXTURE / "train", 32)
    path = tmp_path / "judge.pt"
    messages = []
    judge = load_or_train_classifier(path, train, epochs=1, log=messages.append)
    assert path.is_file()
    again = load_or_train_classifier(path, train, epochs=1, log=messages.append)
    assert np.array_equal(predict(judge, train.pixels), predict(again, train.pixels))
    assert not any("other classes" in m for m in messages)
    load_or_train_classifier(path, train, epochs=2, log=messages.append)  # other settings: trained anew
    assert any("other classes or settings" in m for m in messages)


def test_several_judges_vote_and_are_cached_one_by_one(tmp_path):
    train = ImageFolder(FIXTURE / "train", 32)
    messages = []
    ensemble = load_or_train_judge(tmp_path, train, epochs=[1, 2], log=messages.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["judge-e1-s0.pt", "judge-e2-s0.pt"]
    single = load_or_train_judge(tmp_path, train, epochs=[2], log=messages.append)  # reloaded, not retrained
    assert not any("other classes" in m for m in messages)
    x = train.pixels[:8].float() / 255
    with torch.no_grad():
        mean_probs = (ensemble.members[0](x).softmax(1) + single(x).softmax(1)) / 2
        assert torch.allclose(ensemble(x).exp(), mean_probs, atol=1e-5)
    assert predict(ensemble, train.pixels).shape == (len(train),)


def tiny_model_for_fixture(folder: Path) -> Path:
    """Random tiny weights with the fixture's 12 class names and fast sampling defaults."""
    from dataclasses import replace

    from bigr_app import BiGR, BinaryAutoencoder, Engine
    from bigr_app.sampling.params import SamplingParams

    from ..conftest import TINY_BIGR, TINY_TOKENIZER, randomize

    names = sorted(p.name for p in (FIXTURE / "train").iterdir())
    bigr = randomize(BiGR(replace(TINY_BIGR, num_classes=len(names))), 1)
    eng = Engine(randomize(BinaryAutoencoder(TINY_TOKENIZER), 2), bigr, names, "cpu",
                 SamplingParams(iterations=2, diffusion_steps=2), precision="fp32")
    return eng.save_pretrained(folder)


def test_evaluate_script_writes_the_model_card_numbers(tmp_path):
    weights, out = tiny_model_for_fixture(tmp_path / "model"), tmp_path / "eval"
    data = Path(shutil.copytree(FIXTURE, tmp_path / "data"))
    held_out = sorted(p.relative_to(data).as_posix() for p in (data / "test").rglob("*.png"))
    (data / "dataset.json").write_text(json.dumps({"held_out_seen_by_v1": held_out[:1]}))
    script = Path(__file__).parents[2] / "scripts" / "evaluate.py"
    run = subprocess.run(
        [sys.executable, str(script), "--weights", str(weights), "--data", str(data), "--out", str(out),
         "--per-class", "2", "--grid-per-class", "1", "--classifier-epochs", "1",
         "--sweep", "cfg_scale=2", "cfg_scale=3,temperature=0.5,cfg_schedule=linear", "--sweep-per-class", "1",
         "--baseline", str(weights), "--judge-extra", str(data / "train")],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["faithfulness_by_setting"]) == {
        "defaults", "cfg_scale=2", "cfg_scale=3,temperature=0.5,cfg_schedule=linear"}
    assert all(r["realism"]["count"] == 12 for r in metrics["faithfulness_by_setting"].values())
    faith = metrics["class_faithfulness"]
    assert len(faith["per_class"]) == 12 and 0.0 <= faith["mean"] <= 1.0
    assert metrics["nearest_train_rms"]["generated"]["median"] > 0
    assert 0 < metrics["tokenizer_test_psnr"]["mean"] < 60
    assert metrics["judge_train_images"] == 2 * metrics["train_images"]
    judge = metrics["judge"]
    assert 0 <= judge["balanced"] <= 1 and set(judge["per_class"]) == {"animal", "flag", "food & drink", "object"}
    realism = metrics["realism"]
    assert set(realism) == {"samples", "reconstructions", "baseline"} and realism["samples"]["count"] == 24
    assert all(np.isfinite(r["frechet_distance"]) and r["edge_energy_ratio"] > 0 for r in realism.values())
    unseen = metrics["unseen_by_v1"]
    assert unseen["count"] == len(held_out) - 1 == metrics["test_images"] - 1
    assert np.isfinite(unseen["samples"]["frechet_distance"]) and unseen["tokenizer_test_psnr"]["mean"] > 0
    assert (out / "samples.png").is_file() and (out / "reconstructions.png").is_file()
    assert "| class faithfulness" in run.stdout


def test_evaluate_script_refuses_unknown_sampling_settings(tmp_path):
    script = Path(__file__).parents[2] / "scripts" / "evaluate.py"
    run = subprocess.run(
        [sys.executable, str(script), "--weights", str(tiny_model_for_fixture(tmp_path / "model")),
         "--data", str(FIXTURE), "--out", str(tmp_path / "eval"), "--sweep", "guidance=3"],
        capture_output=True, text=True, timeout=600,
    )
    assert run.returncode != 0 and "--sweep: 'guidance=3' is not NAME=VALUE" in run.stderr


def test_frechet_distance_and_edge_energy():
    from bigr_app.analysis.metrics import edge_energy, frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 4))
    assert abs(frechet_distance(a, a)) < 1e-8
    assert abs(frechet_distance(a, a + [3, 0, 0, 0]) - 9) < 1e-6  # a shift of the mean by 3 costs 3 ** 2
    assert frechet_distance(a, a * 2) > 1  # a wider spread costs too
    checks = (np.indices((32, 32)).sum(0) // 4 % 2 * 255).astype(np.uint8)  # 4-px checkerboard
    sharp = torch.from_numpy(checks).expand(1, 3, 32, 32).contiguous()
    blurred = torch.from_numpy(cv2.GaussianBlur(checks, (0, 0), 2)).expand(1, 3, 32, 32).contiguous()
    assert edge_energy(sharp)[0] > 2 * edge_energy(blurred)[0] > 0
    assert edge_energy(torch.full((1, 3, 8, 8), 90, dtype=torch.uint8))[0] == 0
