import json
import os
from pathlib import Path

import pytest
import torch

from bigr_app import BiGR, BinaryAutoencoder, CheckpointError, Engine, bigr_preset, tokenizer_preset
from bigr_app.model.official import (
    infer_bae_config, infer_bigr_config, load_official_bae, load_official_bigr, to_official_bae, to_official_bigr,
)
from bigr_app.model.config import TOKENIZER_PRESETS

from ..conftest import FAST, TINY_BIGR, TINY_TOKENIZER

MANIFESTS = Path(__file__).resolve().parents[1] / "fixtures" / "manifests"
BIGR_MANIFESTS = {
    "BiGR-L": ("BiGR-L", 24), "BiGR-XL": ("BiGR-XL", 24), "BiGR-XXL": ("BiGR-XXL", 24),
    "BiGR-XXL-d32": ("BiGR-XXL", 32), "BiGR-L-512": ("BiGR-L-512", 32),
}


def manifest(name):
    path = MANIFESTS / f"manifest_{name}.json"
    return {k: tuple(v[0]) for k, v in json.loads(path.read_text()).items()}


def shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


@pytest.mark.parametrize("name", sorted(BIGR_MANIFESTS))
def test_bigr_names_and_shapes_match_official_manifest(name):
    preset, bits = BIGR_MANIFESTS[name]
    with torch.device("meta"):
        model = BiGR(bigr_preset(preset, bits=bits))
    assert shapes(to_official_bigr(model)) == manifest(name)


@pytest.mark.parametrize("name", sorted(BIGR_MANIFESTS))
def test_bigr_config_is_read_off_the_shapes(name):
    preset, bits = BIGR_MANIFESTS[name]
    fake = {k: torch.empty(s, device="meta") for k, s in manifest(name).items()}
    assert infer_bigr_config(fake, Path(name)) == bigr_preset(preset, bits=bits)


@pytest.mark.parametrize("name", sorted(TOKENIZER_PRESETS))
def test_bae_names_and_shapes_match_official_manifest(name):
    with torch.device("meta"):
        model = BinaryAutoencoder(tokenizer_preset(name))
    assert shapes(to_official_bae(model)) == manifest(name)
    fake = {k: torch.empty(s, device="meta") for k, s in manifest(name).items()}
    grid = tokenizer_preset(name).grid
    assert infer_bae_config(fake, Path(name), grid=grid) == tokenizer_preset(name)


def write_official(tmp_path, tok, bigr, extra_gan_keys=True):
    bigr_path, bae_path = tmp_path / "bigr.pt", tmp_path / "bae.th"
    torch.save({"ema": to_official_bigr(bigr)}, bigr_path)
    bae_sd = to_official_bae(tok)
    if extra_gan_keys:  # the release stores the discriminator and LPIPS beside the autoencoder
        bae_sd["disc.main.0.weight"] = torch.randn(4, 3, 4, 4)
        bae_sd["perceptual.lin0.model.1.weight"] = torch.randn(1, 4, 1, 1)
    torch.save(bae_sd, bae_path)
    return bigr_path, bae_path


def test_official_layout_round_trip_gives_identical_outputs(tmp_path, tiny_models, tiny_engine):
    tok, bigr = tiny_models
    bigr_path, bae_path = write_official(tmp_path, tok, bigr)
    eng = Engine.from_pretrained(bigr=bigr_path, bae=bae_path, heads=TINY_BIGR.n_head,
                                 class_names=tiny_engine.class_names)
    assert eng.bigr.cfg == bigr.cfg and eng.tokenizer.cfg == tok.cfg
    for a, b in zip(tiny_engine.generate([0, 1], seed=5, **FAST), eng.generate([0, 1], seed=5, **FAST)):
        assert a.tobytes() == b.tobytes()


def test_our_folder_round_trip(tmp_path, tiny_engine):
    tiny_engine.save_pretrained(tmp_path / "w")
    eng = Engine.from_pretrained(tmp_path / "w")
    assert eng.class_names == tiny_engine.class_names
    a = tiny_engine.generate(2, seed=1, **FAST)[0]
    b = eng.generate(2, seed=1, **FAST)[0]
    assert a.tobytes() == b.tobytes()


def test_missing_and_unexpected_keys_are_named(tmp_path, tiny_models):
    tok, bigr = tiny_models
    sd = to_official_bigr(bigr)
    del sd["layers.1.attention.wo.weight"]
    sd["layers.0.extra"] = torch.zeros(1)
    torch.save({"ema": sd}, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError) as e:
        load_official_bigr(tmp_path / "bad.pt", heads=2)
    assert "layers.1.attention.wo.weight" in str(e.value) and "layers.0.extra" in str(e.value)
    assert "bad.pt" in str(e.value)


def test_bit_width_mismatch_is_refused(tmp_path, tiny_models):
    tok, bigr = tiny_models
    from dataclasses import replace
    other = BinaryAutoencoder(replace(TINY_TOKENIZER, bits=12))
    bigr_path, _ = write_official(tmp_path, tok, bigr)
    torch.save(to_official_bae(other), tmp_path / "other.th")
    with pytest.raises(CheckpointError, match="bits"):
        Engine.from_pretrained(bigr=bigr_path, bae=tmp_path / "other.th", heads=2)


def test_truncated_files_give_clear_errors(tmp_path, tiny_models, tiny_engine):
    tok, bigr = tiny_models
    bigr_path, _ = write_official(tmp_path, tok, bigr)
    data = bigr_path.read_bytes()
    bigr_path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="bigr.pt"):
        load_official_bigr(bigr_path)
    folder = tiny_engine.save_pretrained(tmp_path / "w")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        Engine.from_pretrained(folder)


def test_config_with_missing_fields_is_named(tmp_path, tiny_engine):
    folder = tiny_engine.save_pretrained(tmp_path / "w")
    cfg = json.loads((folder / "config.json").read_text())
    del cfg["bigr"]["n_head"]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match=r"config.json.*n_head"):
        Engine.from_pretrained(folder)
    (folder / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        Engine.from_pretrained(folder)
    with pytest.raises(CheckpointError, match="no such file"):
        Engine.from_pretrained(tmp_path / "nowhere")


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/bigr_pickle_ran",))


def test_hostile_pickle_is_refused_and_does_not_run(tmp_path):
    marker = Path("/tmp/bigr_pickle_ran")
    marker.unlink(missing_ok=True)
    torch.save({"ema": {"x": _Boom()}}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="refused"):
        load_official_bigr(tmp_path / "evil.pt")
    assert not marker.exists()


@pytest.mark.slow
def test_full_size_official_bigr_l_d24_loads_and_generates(tmp_path):
    """A random-initialised BiGR-L + B-AE d24 in the release's layout: strict load, one image on CPU."""
    torch.manual_seed(0)
    bigr = BiGR(bigr_preset("BiGR-L", bits=24))
    tok = BinaryAutoencoder(tokenizer_preset("BAE-d24"))
    bigr_path, bae_path = write_official(tmp_path, tok, bigr)
    del bigr, tok
    eng = Engine.from_pretrained(bigr=bigr_path, bae=bae_path)
    assert eng.resolution == 256 and eng.grid == 16 and eng.num_classes == 1000
    assert eng.class_names[207] == "Golden Retriever"  # ImageNet names from assets/
    img = eng.generate(207, seed=0, iterations=2, diffusion_steps=2)[0]
    assert img.size == (256, 256)


# ---- strictness: every malformed layout is refused with the real key named -------------------
def manifest_tensors(name):
    return {k: torch.empty(s, device="meta") for k, s in manifest(name).items()}


@pytest.mark.parametrize("name", sorted(TOKENIZER_PRESETS))
def test_bae_resolution_is_inferred_without_the_bigr_grid(name):
    assert infer_bae_config(manifest_tensors(name), Path(name)) == tokenizer_preset(name)


def test_head_count_comes_from_the_preset_or_the_caller(tmp_path, tiny_models):
    assert infer_bigr_config(manifest_tensors("BiGR-XL"), Path("xl")).n_head == 20
    assert infer_bigr_config(manifest_tensors("BiGR-XL"), Path("xl"), heads=10).n_head == 10
    tok, bigr = tiny_models
    bigr_path, _ = write_official(tmp_path, tok, bigr)
    with pytest.raises(CheckpointError, match=r"matches no release preset.*heads"):
        load_official_bigr(bigr_path)
    assert load_official_bigr(bigr_path, heads=TINY_BIGR.n_head).cfg == bigr.cfg
    with pytest.raises(CheckpointError, match="not divisible"):
        load_official_bigr(bigr_path, heads=3)


def save_bigr(tmp_path, sd):
    torch.save({"ema": sd}, tmp_path / "bigr.pt")
    return tmp_path / "bigr.pt"


def test_missing_transcoder_copy_is_refused(tmp_path, tiny_models):
    sd = to_official_bigr(tiny_models[1])
    del sd["diffusion_processor._denoise_fn.x_embedder.bias"]
    with pytest.raises(CheckpointError, match=r"missing key 'diffusion_processor._denoise_fn.x_embedder.bias'"):
        load_official_bigr(save_bigr(tmp_path, sd), heads=2)


def test_missing_transcoder_key_is_named_not_called_a_difference(tmp_path, tiny_models):
    sd = to_official_bigr(tiny_models[1])
    del sd["denoise_mlp.blocks.1.mlp.0.weight"]
    with pytest.raises(CheckpointError) as e:
        load_official_bigr(save_bigr(tmp_path, sd), heads=2)
    assert "missing key 'denoise_mlp.blocks.1.mlp.0.weight'" in str(e.value) and "differ" not in str(e.value)


def test_differing_transcoder_copies_are_refused(tmp_path, tiny_models):
    sd = to_official_bigr(tiny_models[1])
    sd["diffusion_processor._denoise_fn.c_embedder.weight"] += 1
    with pytest.raises(CheckpointError, match="c_embedder.weight differs"):
        load_official_bigr(save_bigr(tmp_path, sd), heads=2)


@pytest.mark.parametrize("table", ["k_final", "b_final", "beta", "cumbeta"])
def test_missing_or_wrong_noise_schedule_is_refused(tmp_path, tiny_models, table):
    sd = to_official_bigr(tiny_models[1])
    key = f"diffusion_processor.scheduler.{table}"
    sd[key] = sd[key] * 2 + 0.5
    with pytest.raises(CheckpointError, match=f"schedule '{table}'"):
        load_official_bigr(save_bigr(tmp_path, sd), heads=2)
    del sd[key]
    with pytest.raises(CheckpointError, match=f"missing key '{key}'"):
        load_official_bigr(save_bigr(tmp_path, sd), heads=2)


@pytest.mark.parametrize("key, shape", [("tok_embeddings.weight", (128, 9)), ("tok_embeddings.weight", (96, 8)),
                                        ("denoise_mlp.final_layer.linear.weight", (9, 64)),
                                        ("norm.weight", (130,))])
def test_one_misshaped_tensor_is_the_one_blamed(tmp_path, tiny_models, key, shape):
    sd = to_official_bigr(tiny_models[1])
    sd[key] = torch.zeros(shape)
    if key.startswith("denoise_mlp."):
        sd["diffusion_processor._denoise_fn." + key[len("denoise_mlp."):]] = sd[key].clone()
    with pytest.raises(CheckpointError, match="shape mismatch") as e:
        load_official_bigr(save_bigr(tmp_path, sd), heads=2)
    blamed = [line.split(":")[0].strip() for line in str(e.value).splitlines()[1:]]
    assert blamed == [key]


def test_misshaped_codebook_is_named(tmp_path, tiny_models):
    sd = to_official_bae(tiny_models[0])
    sd["ae.quantize.embed.weight"] = torch.zeros(8, 30)  # 30 channels: GroupNorm(32) could not be built on it
    torch.save(sd, tmp_path / "bae.th")
    with pytest.raises(CheckpointError, match=r"shape mismatch:\n  ae.quantize.embed.weight: file \(8, 30\)"):
        load_official_bae(tmp_path / "bae.th")
