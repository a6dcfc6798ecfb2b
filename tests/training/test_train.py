import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
import torch

from bigr_app import BiGR, BinaryAutoencoder, Engine
from bigr_app.app.train_cli import main as train_main
from bigr_app.training.data import training_loader

from ..conftest import TINY_BIGR, TINY_TOKENIZER

FIXTURE = Path(__file__).parents[1] / "fixtures" / "emoji_tiny"
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


def test_balance_draws_classes_by_size_to_the_minus_power():
    labels = torch.tensor([0] * 900 + [1] * 100)
    data = torch.utils.data.TensorDataset(torch.arange(1000), labels)

    def class_shares(balance: float) -> list[float]:
        torch.manual_seed(0)
        drawn = Counter(int(y) for _, ys in training_loader(data, labels, 50, balance) for y in ys)
        return [drawn[0] / 1000, drawn[1] / 1000]

    natural = torch.cat([i for i, _ in training_loader(data, labels, 50, 0.0)])
    assert sorted(natural.tolist()) == list(range(1000))  # an epoch shows every picture once
    assert class_shares(1.0) == pytest.approx([0.5, 0.5], abs=0.05)
    assert class_shares(0.5) == pytest.approx([0.75, 0.25], abs=0.05)  # 900 ** 0.5 : 100 ** 0.5 = 3 : 1


def test_bigr_continues_from_a_trained_folder(tmp_path):
    tok_run, first, second = tmp_path / "tok", tmp_path / "bigr", tmp_path / "more"
    common = ["--data", str(FIXTURE), "--eval-every", "100", "--save-every", "100"]
    train_main(["tokenizer", *common, "--out", str(tok_run), "--steps", "2", *TOKENIZER_ARGS])
    train_main(["bigr", *common, "--tokenizer", str(tok_run / "model"), "--out", str(first), "--steps", "2",
                *BIGR_ARGS])
    train_main(["bigr", *common, "--init", str(first / "model"), "--out", str(second), "--steps", "3",
                "--balance", "1", "--lr", "1e-3", *BIGR_ARGS])
    before, after = Engine.from_pretrained(first / "model"), Engine.from_pretrained(second / "model")
    old, new = before.tokenizer.state_dict(), after.tokenizer.state_dict()
    assert all(torch.equal(old[k], new[k]) for k in old)
    assert after.bigr.cfg == before.bigr.cfg
    old, new = before.bigr.state_dict(), after.bigr.state_dict()
    assert any(not torch.equal(old[k], new[k]) for k in old)
    config = json.loads((second / "model" / "config.json").read_text())
    assert config["trained_steps"] == 5 and config["sampling"] == json.loads(
        (first / "model" / "config.json").read_text())["sampling"]

    fewer = tmp_path / "two_classes"  # other classes: the class table starts afresh, the rest is kept
    for name in ("flag", "smiley"):
        shutil.copytree(FIXTURE / "train" / name, fewer / name)
    train_main(["bigr", "--data", str(fewer), "--init", str(first / "model"), "--out", str(tmp_path / "other"),
                "--steps", "1", "--lr", "1e-12", "--eval-every", "100", "--save-every", "100", *BIGR_ARGS,
                "--batch", "4"])
    other = Engine.from_pretrained(tmp_path / "other" / "model")
    assert other.class_names == ["flag", "smiley"] and other.bigr.cfg.num_classes == 2
    kept = other.bigr.backbone.layers[0].state_dict()
    first_layer = before.bigr.backbone.layers[0].state_dict()
    assert all(torch.allclose(first_layer[k], kept[k], atol=1e-6) for k in first_layer)


def test_wider_code_and_a_bigr_warm_started_on_it(tmp_path):
    tok_run, first, wide = tmp_path / "tok", tmp_path / "bigr", tmp_path / "wide"
    common = ["--data", str(FIXTURE), "--eval-every", "100", "--save-every", "100"]
    train_main(["tokenizer", *common, "--out", str(tok_run), "--steps", "2", *TOKENIZER_ARGS])
    train_main(["bigr", *common, "--tokenizer", str(tok_run / "model"), "--out", str(first), "--steps", "2",
                *BIGR_ARGS])
    train_main(["tokenizer", *common, "--init", str(first / "model"), "--grow-bits", "12", "--out", str(wide),
                "--steps", "1", "--lr", "1e-12", *TOKENIZER_ARGS])
    before, after = Engine.from_pretrained(first / "model").tokenizer, Engine.from_pretrained(wide / "model").tokenizer
    assert after.cfg.bits == 12
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(before.encode(x), after.encode(x)[:, :8])  # the trained bits keep their meaning
        assert (before.decode(before.encode(x)) - after.decode(after.encode(x))).abs().max() < 0.05  # new: nearly silent

    few = tmp_path / "two_classes"
    for name in ("flag", "smiley"):
        shutil.copytree(FIXTURE / "train" / name, few / name)
    train_main(["bigr", "--data", str(few), "--tokenizer", str(wide / "model"), "--warm-start", str(first / "model"),
                "--out", str(tmp_path / "warm"), "--steps", "1", "--lr", "1e-12", "--eval-every", "100",
                "--save-every", "100", *BIGR_ARGS, "--batch", "4"])
    old, new = Engine.from_pretrained(first / "model").bigr, Engine.from_pretrained(tmp_path / "warm" / "model").bigr
    record = json.loads((tmp_path / "warm" / "model" / "config.json").read_text())
    assert (record["trained_steps"], record["tokenizer_trained_steps"]) == (1, 1)  # the widened tokenizer's own count
    assert new.cfg.bits == 12 and new.cfg.num_classes == 2 and new.cfg.dim == old.cfg.dim
    assert torch.allclose(new.backbone.token_embed.weight[:, :8], old.backbone.token_embed.weight, atol=1e-6)
    assert torch.allclose(new.backbone.null_condition(1), old.backbone.null_condition(1), atol=1e-6)
    with pytest.raises(SystemExit, match="already has 12 bits"):
        train_main(["tokenizer", *common, "--init", str(wide / "model"), "--grow-bits", "12",
                    "--out", str(tmp_path / "again"), "--steps", "1", *TOKENIZER_ARGS])


def test_tokenizer_steps_are_read_from_a_tokenizer_or_a_whole_model_folder():
    from bigr_app.training.data import tokenizer_record

    assert tokenizer_record({"trained_steps": 5, "domain": {}}) == {"tokenizer_trained_steps": 5}
    whole = {"trained_steps": 13000, "tokenizer_trained_steps": 6000, "decoder_trained_steps": 6000}
    assert tokenizer_record(whole) == {"tokenizer_trained_steps": 6000, "decoder_trained_steps": 6000}


def test_classes_named_in_dataset_json_are_not_mirrored(tmp_path):
    from bigr_app.training.data import mirror_allowed

    (tmp_path / "dataset.json").write_text(json.dumps({"not_mirrored": ["flag"]}))
    assert mirror_allowed(tmp_path, ["animal", "flag"]).tolist() == [True, False]
    assert mirror_allowed(tmp_path / "elsewhere", ["animal", "flag"]).tolist() == [True, True]


def test_bigr_needs_one_place_to_start_from(tmp_path):
    for start in ([], ["--tokenizer", str(tmp_path / "a"), "--init", str(tmp_path / "b")]):
        with pytest.raises(SystemExit, match="exactly one of --tokenizer"):
            train_main(["bigr", "--data", str(FIXTURE), "--out", str(tmp_path / "run"), "--steps", "1", *start,
                        *BIGR_ARGS])


def test_fewer_pictures_than_a_batch_is_refused(tmp_path):
    few = tmp_path / "few"
    shutil.copytree(FIXTURE / "train" / "smiley", few / "smiley")  # 3 pictures, batch 8
    with pytest.raises(SystemExit, match="fewer than one batch: pass --batch 3"):
        train_main(["tokenizer", "--data", str(few), "--out", str(tmp_path / "tok"), "--steps", "1",
                    *TOKENIZER_ARGS])


def test_a_time_limit_stops_early_and_saves(tmp_path):
    run = tmp_path / "tok"
    train_main(["tokenizer", "--data", str(FIXTURE), "--out", str(run), "--steps", "1000", "--max-minutes", "1e-9",
                "--eval-every", "500", "--save-every", "500", *TOKENIZER_ARGS])
    saved = json.loads((run / "model" / "config.json").read_text())["trained_steps"]
    assert saved < 1000 and (run / "state").is_dir()
