"""Jobs on two CPU processes (torchrun, accelerate launch; gloo): they split the work, agree with one process,
write once, resume with another process count, and end when one of them dies."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from bigr_app.model.folder import save_folder

ROOT = Path(__file__).parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "emoji_tiny"  # 32 training pictures: batches of 8 and of 4 divide them
SAMPLING = ["--per-class", "2", "--batch", "2", "--iterations", "3", "--steps", "4", "--device", "cpu",
            "--precision", "fp32"]
BIGR_ARGS = ["--dim", "64", "--layers", "2", "--heads", "1", "--transcoder-dim", "32", "--transcoder-blocks", "1",
             "--precision", "no", "--log-every", "1", "--warmup", "2", "--sample-iterations", "2",
             "--sample-steps", "2", "--eval-every", "5", "--save-every", "5"]
TOKENIZER_ARGS = ["--resolution", "32", "--bits", "8", "--nf", "32", "--ch-mult", "1", "2", "--emb-dim", "32",
                  "--attn-resolutions", "--precision", "no", "--log-every", "1", "--warmup", "2", "--eval-every",
                  "100", "--save-every", "100", "--balance-weight", "0"]
# Two processes with batch b average two means of b; one process with batch 2b takes one mean of 2b. The sums
# differ in float rounding only (~1e-7 relative): the first step's loss, taken before any update, keeps that.
# Then Adam divides each gradient by its own size, so in weights whose gradients are near zero (the
# zero-initialised adaLN outputs) rounding moves a step by up to lr, and the losses drift apart. Measured: weights
# 2e-5 at most after 10 steps; losses 4e-5 (relative) at step 6 of the tokenizer on a Zen 4 CPU, 1e-5 on AVX2.
# A wrong split (other rows, other noise) moves the losses by percents.
FIRST_LOSS_RTOL, LOSS_RTOL, WEIGHT_ATOL = 1e-6, 2e-4, 1e-4

pytestmark = pytest.mark.skipif(not torch.distributed.is_available(), reason="torch without torch.distributed")


def env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}


def torchrun(processes: int, *args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={processes}", *args]


def run(command: list[str], cwd: Path, timeout: int = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def ranks_said(stderr: str) -> dict[int, list[int]]:
    """rank -> the chunk starts it sampled, from each rank's closing line."""
    found = re.findall(r"rank (\d+) of \d+: sampled \d+ of its \d+ chunks \(starts (\[[\d, ]*\])\)", stderr)
    return {int(rank): json.loads(starts) for rank, starts in found}


@pytest.fixture(scope="module")
def weights(tiny_engine, tmp_path_factory) -> Path:
    return tiny_engine.save_pretrained(tmp_path_factory.mktemp("w") / "tiny")


def test_sharded_sample_npz_equals_one_process_and_splits_the_work(weights, tmp_path):
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    alone = run([sys.executable, "-m", "bigr_app", "sample-npz", "--weights", str(weights), "--out", str(one),
                 *SAMPLING], tmp_path)
    shared = run(torchrun(2, "-m", "bigr_app", "sample-npz", "--weights", str(weights), "--out", str(two), *SAMPLING),
                 tmp_path)
    assert ranks_said(alone.stderr) == {0: [0, 2, 4, 6, 8]}
    assert ranks_said(shared.stderr) == {0: [0, 4, 8], 1: [2, 6]}  # each rank its share, none twice
    assert shared.stdout.split() == [str(two)]  # one rank writes
    with np.load(one) as a, np.load(two) as b:
        assert a["arr_0"].shape == (10, 32, 32, 3)
        assert np.array_equal(a["arr_0"], b["arr_0"]) and np.array_equal(a["labels"], b["labels"])

    for start in (2, 8):  # as if stopped: one process finishes what two began
        (two.with_name("two.npz.parts") / f"chunk_{start:08d}.npz").unlink()
    two.unlink()
    resumed = run([sys.executable, "-m", "bigr_app", "sample-npz", "--weights", str(weights), "--out", str(two),
                   *SAMPLING], tmp_path)
    assert ranks_said(resumed.stderr) == {0: [2, 8]}
    with np.load(one) as a, np.load(two) as b:
        assert np.array_equal(a["arr_0"], b["arr_0"])


def test_sharded_features_equal_one_process(weights, tmp_path):
    one, two = tmp_path / "one.npz", tmp_path / "two.npz"
    common = ["--weights", str(weights), "--data", str(FIXTURE / "test"), "--batch", "1", "--device", "cpu",
              "--precision", "fp32"]
    run([sys.executable, "-m", "bigr_app", "features", *common, "--out", str(one)], tmp_path)
    shared = run(torchrun(2, "-m", "bigr_app", "features", *common, "--out", str(two)), tmp_path)
    assert shared.stdout.split() == [str(two)]  # one rank writes
    with np.load(one) as a, np.load(two) as b:
        assert a["features"].shape[0] == 4
        for key in ("features", "labels", "files"):
            assert np.array_equal(a[key], b[key]), key


def test_accelerate_launch_starts_two_processes(weights, tmp_path):
    out = tmp_path / "s.npz"
    done = run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "bigr_app",
                "sample-npz", "--weights", str(weights), "--out", str(out), *SAMPLING], tmp_path)
    assert sorted(ranks_said(done.stderr)) == [0, 1]
    with np.load(out) as f:
        assert f["arr_0"].shape == (10, 32, 32, 3)


def rank_pid(launcher: int, rank: int) -> int | None:
    """The pid of the launcher's worker with RANK=rank (Linux /proc)."""
    for child in Path(f"/proc/{launcher}/task/{launcher}/children").read_text().split():
        try:
            environ = Path(f"/proc/{child}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"RANK={rank}".encode() in environ:
            return int(child)
    return None


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_a_rank_that_dies_ends_the_run_with_a_message(weights, tmp_path):
    out = tmp_path / "s.npz"
    long_job = ["--per-class", "8", "--batch", "1", "--iterations", "10", "--steps", "8", "--device", "cpu"]
    job = subprocess.Popen(torchrun(2, "-m", "bigr_app", "sample-npz", "--weights", str(weights), "--out", str(out),
                                    *long_job), cwd=tmp_path, env=env(), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    try:
        parts = out.with_name("s.npz.parts")
        deadline = time.time() + 120
        while not (parts.is_dir() and list(parts.glob("chunk_*.npz"))) and time.time() < deadline:
            time.sleep(0.1)
        victim = rank_pid(job.pid, 1)
        assert victim is not None, "no rank 1 found"
        os.kill(victim, signal.SIGKILL)
        _, stderr = job.communicate(timeout=90)  # not a hang: the launcher ends the run
    finally:
        job.kill()
    assert job.returncode != 0 and not out.exists()
    assert "rank      : 1" in stderr and "SIGKILL" in stderr, stderr[-2000:]
    assert len(list(parts.glob("chunk_*.npz"))) < 40  # what was done is kept for the rerun (see above)


@pytest.fixture(scope="module")
def tokenizer_folder(tiny_engine, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tok") / "model"
    save_folder(folder, tiny_engine.tokenizer, None, None, {"trained_steps": 0})
    return folder


def train(processes: int, stage: str, out: Path, *args: str) -> None:
    command = ["-m", "bigr_app.train", stage, "--data", str(FIXTURE), "--out", str(out), *args]
    run(torchrun(processes, *command) if processes > 1 else [sys.executable, *command], out.parent)


def log(run_folder: Path, key: str) -> list[tuple[int, float]]:
    lines = [json.loads(line) for line in (run_folder / "log.jsonl").read_text().splitlines()]
    return [(r["step"], r[key]) for r in lines if key in r]


def assert_same_training(a: Path, b: Path, key: str) -> None:
    la, lb = log(a, key), log(b, key)
    assert [s for s, _ in la] == [s for s, _ in lb]  # one line per step: one rank logs
    np.testing.assert_allclose(la[0][1], lb[0][1], rtol=FIRST_LOSS_RTOL)
    np.testing.assert_allclose([v for _, v in la], [v for _, v in lb], rtol=LOSS_RTOL)
    wa, wb = load_file(a / "model" / "model.safetensors"), load_file(b / "model" / "model.safetensors")
    assert wa.keys() == wb.keys()
    for name in wa:
        torch.testing.assert_close(wa[name].float(), wb[name].float(), rtol=0, atol=WEIGHT_ATOL, msg=name)


def test_bigr_training_splits_the_batch_and_resumes_with_another_process_count(tokenizer_folder, tmp_path):
    """a: 2 processes x 4 for 5 steps, then 1 x 8 to step 8; b: 1 x 8, then 2 x 4. Steps 1-5 compare two
    processes with one, steps 6-8 and the weights compare the two resumptions."""
    base = ["--tokenizer", str(tokenizer_folder), *BIGR_ARGS]
    a, b = tmp_path / "a", tmp_path / "b"
    train(2, "bigr", a, *base, "--steps", "5", "--batch", "4")
    train(1, "bigr", b, *base, "--steps", "5", "--batch", "8")
    assert sorted(p.name for p in (a / "samples").iterdir()) == ["samples_000005.png"]  # one rank samples
    assert_same_training(a, b, "loss")
    train(1, "bigr", a, *base, "--steps", "8", "--batch", "8", "--resume")
    train(2, "bigr", b, *base, "--steps", "8", "--batch", "4", "--resume")
    assert [s for s, _ in log(a, "loss")] == list(range(1, 9))  # continued, not restarted; one line per step
    assert_same_training(a, b, "loss")
    assert json.loads((a / "model" / "config.json").read_text())["trained_steps"] == 8


def test_bigr_training_with_default_dropout_two_processes_of_b_take_the_steps_of_one_of_2b(tokenizer_folder, tmp_path):
    """40 steps with the default flags, dropout (0.1) included: its masks come from the step's global draws."""
    base = ["--tokenizer", str(tokenizer_folder), *BIGR_ARGS, "--steps", "40", "--eval-every", "40",
            "--save-every", "40"]
    train(2, "bigr", tmp_path / "two", *base, "--batch", "4")
    train(1, "bigr", tmp_path / "one", *base, "--batch", "8")
    assert_same_training(tmp_path / "one", tmp_path / "two", "loss")
    train(1, "bigr", tmp_path / "off", *base[:-6], "--steps", "1", "--batch", "8", "--dropout", "0")
    assert log(tmp_path / "off", "loss")[0][1] != log(tmp_path / "one", "loss")[0][1]  # dropout was on


def test_tokenizer_training_two_processes_of_b_take_the_steps_of_one_of_2b(tmp_path):
    base = ["--steps", "6", *TOKENIZER_ARGS]
    train(1, "tokenizer", tmp_path / "one", *base, "--batch", "8")
    train(2, "tokenizer", tmp_path / "two", *base, "--batch", "4")
    assert_same_training(tmp_path / "one", tmp_path / "two", "l1")
