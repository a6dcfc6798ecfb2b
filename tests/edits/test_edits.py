import numpy as np
import pytest
import torch
from PIL import Image

from bigr_app import InputError
from bigr_app.edits.masks import token_mask
from bigr_app.app import edit_previews

from ..conftest import FAST


def picture(w=48, h=40, seed=0):
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, w, dtype=np.float32)[None, :, None].repeat(h, 0).repeat(3, 2)
    return Image.fromarray((base * 0.5 + rng.integers(0, 120, (h, w, 3))).astype(np.uint8))


def box_mask(size, box):
    m = Image.new("L", size, 0)
    m.paste(255, box)
    return m


@pytest.mark.parametrize("blend_mode", ["none", "feather"])
@pytest.mark.parametrize("fit", ["crop", "letterbox"])
def test_inpaint_keeps_pixels_outside_the_mask(tiny_engine, blend_mode, fit):
    img = picture()
    mask = box_mask(img.size, (10, 8, 30, 28))
    out = tiny_engine.inpaint(img, mask, class_id=1, num_samples=2, seed=0, fit=fit, blend_mode=blend_mode, **FAST)
    assert len(out) == 2 and out.params["task"] == "inpaint" and out.params["blend_mode"] == blend_mode
    m = np.asarray(mask) > 127
    for o in out:
        assert o.size == img.size
        a, b = np.asarray(o), np.asarray(img)
        assert np.array_equal(a[~m], b[~m])
        assert not np.array_equal(a[m], b[m])


def test_poisson_blend_runs_and_keeps_size(tiny_engine):
    img = picture()
    out = tiny_engine.inpaint(img, box_mask(img.size, (0, 0, 20, 40)), blend_mode="poisson", **FAST)
    assert out[0].size == img.size


def test_tokens_outside_the_mask_are_identical_after_edit(tiny_engine):
    img = picture(32, 32)
    cells = np.zeros((16, 16), bool)
    cells[4:9, 3:12] = True
    before = tiny_engine.encode(img)
    bits = tiny_engine.sample_tokens(before, torch.from_numpy(cells)[None], torch.tensor([2]), seed=0, **FAST)
    assert torch.equal(bits[0][~torch.from_numpy(cells)], before[0][~torch.from_numpy(cells)])
    out = tiny_engine.edit(img, box_mask(img.size, (6, 8, 24, 18)), class_id="c2", blend_mode="none", **FAST)
    assert out.params["task"] == "edit" and out.params["class_id"] == "c2"


def test_whole_image_mask_is_generation_and_empty_mask_is_refused(tiny_engine):
    img = picture(32, 32)
    full = Image.new("L", img.size, 255)
    gen = tiny_engine.generate(3, seed=4, **FAST)[0]
    inp = tiny_engine.inpaint(img, full, class_id=3, seed=4, blend_mode="none", **FAST)[0]
    assert np.array_equal(np.asarray(gen), np.asarray(inp))
    with pytest.raises(InputError, match="nothing to regenerate"):
        tiny_engine.inpaint(img, Image.new("L", img.size, 0), **FAST)


def test_mask_size_mismatch_and_missing_mask_are_refused(tiny_engine):
    img = picture()
    with pytest.raises(InputError, match="does not match"):
        tiny_engine.inpaint(img, Image.new("L", (10, 10), 255), **FAST)
    with pytest.raises(InputError, match="no mask"):
        tiny_engine.inpaint(img, None, **FAST)


def test_mask_forms_agree(tiny_engine):
    img = picture()
    pil = box_mask(img.size, (5, 5, 20, 20))
    arr = np.asarray(pil) > 0
    layer = Image.new("RGBA", img.size, (0, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (5, 5, 20, 20))
    previews = [edit_previews.mask_preview(tiny_engine, img, m) for m in (pil, arr, arr.astype(np.float32), layer, torch.from_numpy(arr))]
    assert all(np.array_equal(np.asarray(p), np.asarray(previews[0])) for p in previews)
    assert not np.array_equal(np.asarray(previews[0]), np.asarray(img))


def test_token_mask_threshold_and_grow():
    m = np.zeros((32, 32), np.float32)
    m[0, 0] = 1.0  # one pixel
    assert token_mask(m, 16).sum() == 1
    assert token_mask(m, 16, threshold=0.5).sum() == 0
    assert token_mask(m, 16, grow=1).sum() == 4
    m[:8, :8] = 1.0
    assert token_mask(m, 16, grow=-1).sum() == 9


def test_outpaint_in_frame_keeps_the_kept_region(tiny_engine):
    img = picture()
    keep = box_mask(img.size, (8, 8, 40, 32))
    out = tiny_engine.outpaint(img, mask=keep, blend_mode="none", **FAST)
    k = np.asarray(keep) > 127
    assert np.array_equal(np.asarray(out[0])[k], np.asarray(img)[k])


def test_canvas_expansion_has_exact_size_and_keeps_original(tiny_engine):
    img = picture(40, 32)
    out = tiny_engine.outpaint(img, expand=(0, 0, 20, 0), num_samples=2, **FAST)
    assert len(out) == 2
    for o in out:
        assert o.size == (60, 32)
        assert np.array_equal(np.asarray(o)[:, :40], np.asarray(img))
    wide = tiny_engine.outpaint(img, expand=(30, 10, 30, 5), **FAST)[0]
    assert wide.size == (100, 47)
    assert np.array_equal(np.asarray(wide)[10:42, 30:70], np.asarray(img))


@pytest.mark.parametrize("expand", [(-1, 0, 0, 0), (0, 0, 0), (0, 0, 0, 0), (1.5, 0, 0, 0)])
def test_bad_expand_is_refused(tiny_engine, expand):
    with pytest.raises(InputError):
        tiny_engine.outpaint(picture(), expand=expand, **FAST)


def test_interpolation_endpoint_equals_generate_and_sweep_varies(tiny_engine):
    res = tiny_engine.interpolate(0, 4, ratios=[1.0, 0.5, 0.0], seed=9, **FAST)
    assert len(res) == 3 and res.params["ratios"] == [1.0, 0.5, 0.0]
    assert np.array_equal(np.asarray(res[0]), np.asarray(tiny_engine.generate(0, seed=9, **FAST)[0]))
    assert np.array_equal(np.asarray(res[2]), np.asarray(tiny_engine.generate(4, seed=9, **FAST)[0]))
    assert not np.array_equal(np.asarray(res[0]), np.asarray(res[1]))


@pytest.mark.parametrize("ratios", [[1.5], [-0.1], [float("nan")], []])
def test_bad_ratios_are_refused(tiny_engine, ratios):
    with pytest.raises(InputError):
        tiny_engine.interpolate(0, 1, ratios=ratios, **FAST)


def test_enrich_keeps_the_layout(tiny_engine):
    img = tiny_engine.generate(1, seed=0, **FAST)[0]
    out = tiny_engine.enrich(img, rounds=1, seed=0, **FAST)
    assert len(out) == 1 and out[0].size == img.size
    before = tiny_engine.encode(img)
    after = tiny_engine.encode(out[0])
    assert not torch.equal(before, after)
    blur = lambda im: np.asarray(im.resize((4, 4), Image.Resampling.BOX), dtype=np.float32)
    assert np.abs(blur(out[0]) - blur(img)).mean() < 40


def test_vary_strength_controls_how_much_changes(tiny_engine):
    img = picture(32, 32)
    small = tiny_engine.vary(img, strength=0.1, seed=0, **FAST)
    assert small.params["cells"] == round(0.1 * 256)
    full = tiny_engine.vary(img, strength=1.0, class_id=2, seed=5, **FAST)[0]
    assert np.array_equal(np.asarray(full), np.asarray(tiny_engine.generate(2, seed=5, **FAST)[0]))
    with pytest.raises(InputError):
        tiny_engine.vary(img, strength=0.0)


def test_same_seed_same_edit(tiny_engine):
    img = picture()
    mask = box_mask(img.size, (10, 8, 30, 28))
    a = tiny_engine.inpaint(img, mask, seed=3, **FAST)[0]
    b = tiny_engine.inpaint(img, mask, seed=3, **FAST)[0]
    assert np.array_equal(np.asarray(a), np.asarray(b))
