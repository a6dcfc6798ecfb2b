import json
from pathlib import Path

import pytest
import torch

from bigr_app import BiGR, BinaryAutoencoder, Engine
from bigr_app.train import main as train_main

from .conftest import TINY_BIGR, TINY_TOKENIZER

FIXTURE = Path(__file__).parent / "fixtures" / "emoji_tiny"
TOKENIZER_ARGS = ["--resolution", "32", "--bits", "8", "--nf", "32", "--ch-mult", "1", "2", "--emb-dim", "32",
                  "--attn-resolutions", "--batch", "8", "--precision", "no", "--log-every", "1", "--warmup", "2"]
BIGR_ARGS = ["--dim", "64", "--layers", "2", "--heads", "1", "--transcoder-dim", "32", "--transcoder-blocks", "1",
             "--batch", "8", "--precision", "no", "--log-every", "1", "--warmup", "2",
             "--sample-iterations", "2", "--sample-steps", "2"]


def read_log(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def test_tiny_bigr_overfits_one_batch():
    torch.manual_seed(0)
    model = BiGR(TINY_BIGR).train()
    g = torch.Generator().manual_seed(0)
    patterns = torch.bernoulli(torch.full((4, 1, TINY_BIGR.bits), 0.5), generator=g)  # one code per image
    bits = patterns.expand(4, TINY_BIGR.seq_len, TINY_BIGR.bits).contiguous()
    labels = torch.tensor([0, 1, 2, 3])
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(60):
        loss = model(bits, labels)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) / 10 < 0.6 * sum(losses[:10]) / 10


def test_tiny_tokenizer_overfits_one_batch():
    torch.manual_seed(0)
    model = BinaryAutoencoder(TINY_TOKENIZER)
    x = torch.rand(4, 3, 32, 32)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(40):
        recon, _ = model(x, deterministic=True)
        loss = (recon - x).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


def test_training_entry_points_learn_save_and_resume(tmp_path):
    tok_run, bigr_run = tmp_path / "tok", tmp_path / "bigr"
    common = ["--data", str(FIXTURE), "--eval-every", "10", "--save-every", "10"]
    train_main(["tokenizer", *common, "--out", str(tok_run), "--steps", "20", *TOKENIZER_ARGS])
    steps = [r for r in read_log(tok_run) if "l1" in r]
    assert [r["step"] for r in steps] == list(range(1, 21))
    assert sum(r["l1"] for r in steps[-5:]) < sum(r["l1"] for r in steps[:5])
    assert any("test_psnr" in r for r in read_log(tok_run))
    assert (tok_run / "samples" / "recon_000020.png").is_file()

    train_main(["tokenizer", *common, "--out", str(tok_run), "--steps", "30", "--resume", *TOKENIZER_ARGS])
    resumed = [r["step"] for r in read_log(tok_run) if "l1" in r][20:]
    assert resumed == list(range(21, 31))  # continued, not restarted
    assert json.loads((tok_run / "model" / "config.json").read_text())["trained_steps"] == 30

    train_main(["bigr", *common, "--tokenizer", str(tok_run / "model"), "--out", str(bigr_run),
                "--steps", "20", *BIGR_ARGS])
    assert (bigr_run / "samples" / "samples_000020.png").is_file()
    losses = [r["loss"] for r in read_log(bigr_run) if "loss" in r]
    assert len(losses) == 20 and all(l == l for l in losses)
    eng = Engine.from_pretrained(bigr_run / "model")
    assert eng.class_names == sorted(p.name for p in (FIXTURE / "train").iterdir())
    assert len(eng.generate(eng.class_names[0], iterations=2, diffusion_steps=2)) == 1


def test_bigr_trains_on_mirrored_codes_too(tmp_path):
    tok_run, bigr_run = tmp_path / "tok", tmp_path / "bigr"
    common = ["--data", str(FIXTURE), "--eval-every", "100", "--save-every", "100"]
    train_main(["tokenizer", *common, "--out", str(tok_run), "--steps", "2", *TOKENIZER_ARGS])
    train_main(["bigr", *common, "--tokenizer", str(tok_run / "model"), "--out", str(bigr_run), "--steps", "2",
                "--hflip", *BIGR_ARGS])
    codes = torch.load(bigr_run / "codes.pt", weights_only=True)
    mirrored = torch.load(bigr_run / "codes_mirrored.pt", weights_only=True)
    assert codes.shape == mirrored.shape and not torch.equal(codes, mirrored)


def test_decoder_only_fine_tuning_keeps_codes_and_bigr(tmp_path):
    tok_run, bigr_run, dec_run = tmp_path / "tok", tmp_path / "bigr", tmp_path / "dec"
    common = ["--data", str(FIXTURE), "--eval-every", "100", "--save-every", "100"]
    train_main(["tokenizer", *common, "--out", str(tok_run), "--steps", "2", *TOKENIZER_ARGS])
    train_main(["bigr", *common, "--tokenizer", str(tok_run / "model"), "--out", str(bigr_run), "--steps", "2",
                *BIGR_ARGS])
    train_main(["tokenizer", *common, "--out", str(dec_run), "--steps", "6", "--init", str(bigr_run / "model"),
                "--decoder-only", "--lr", "1e-3", *TOKENIZER_ARGS])
    before, after = Engine.from_pretrained(bigr_run / "model"), Engine.from_pretrained(dec_run / "model")
    for part in ("encoder", "quantizer"):
        old, new = getattr(before.tokenizer, part).state_dict(), getattr(after.tokenizer, part).state_dict()
        assert all(torch.equal(old[k], new[k]) for k in old), part
    old, new = before.tokenizer.decoder.state_dict(), after.tokenizer.decoder.state_dict()
    assert any(not torch.equal(old[k], new[k]) for k in old)
    old, new = before.bigr.state_dict(), after.bigr.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old)
    config = json.loads((dec_run / "model" / "config.json").read_text())
    assert config["decoder_trained_steps"] == 6 and config["trained_steps"] == 2
    assert config["class_names"] == before.class_names


def test_decoder_only_needs_a_folder_to_start_from(tmp_path):
    with pytest.raises(SystemExit, match="--init"):
        train_main(["tokenizer", "--data", str(FIXTURE), "--out", str(tmp_path / "dec"), "--steps", "1",
                    "--decoder-only", *TOKENIZER_ARGS])
