"""Every kind of picture, mask and parameter: each works or fails with our own clear error."""
import io
import math
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image

from bigr_app import images as images_module
from bigr_app.errors import BiGRError, InputError
from bigr_app.images import open_image, to_rgb
from bigr_app.edits.masks import mask_array

FAST = dict(iterations=2, diffusion_steps=2)


def gradient(w: int, h: int) -> np.ndarray:
    x = np.linspace(0, 1, w)[None, :] * np.linspace(0.2, 1, h)[:, None]
    return x


def image_in_mode(mode: str, w: int = 40, h: int = 30) -> Image.Image:
    g = gradient(w, h)
    rgb = Image.fromarray((np.stack([g, 1 - g, g * g], -1) * 255).astype(np.uint8))
    if mode == "I;16":
        return Image.fromarray((g * 65535).astype(np.uint16))  # I;16
    if mode == "F":
        return Image.fromarray((g * 1000 - 300).astype(np.float32))  # F
    if mode == "P+transparency":
        p = rgb.convert("P")
        p.info["transparency"] = 0
        return p
    return rgb.convert(mode)


MODES = ["1", "L", "LA", "P", "P+transparency", "RGB", "RGBA", "CMYK", "I", "I;16", "F", "YCbCr", "HSV"]


@pytest.mark.parametrize("mode", MODES)
def test_every_image_mode_becomes_rgb(mode):
    out = to_rgb(image_in_mode(mode))
    assert out.mode == "RGB" and out.size == (40, 30)
    arr = np.asarray(out).astype(int)
    if mode not in ("1",):
        assert arr.max() - arr.min() > 40  # the picture's content survives (16-bit / float are rescaled)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "RGBA", "CMYK", "I;16", "F"])
def test_every_image_mode_inpaints(tiny_engine, mode):
    img = image_in_mode(mode)
    mask = np.zeros((30, 40), bool)
    mask[5:15, 10:30] = True
    out = tiny_engine.inpaint(img, mask, **FAST)
    assert out[0].size == (40, 30) and out[0].mode == "RGB"


def test_transparency_is_composited_on_white():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert np.asarray(to_rgb(rgba)).min() == 255


def test_exif_rotation_is_applied(tmp_path):
    img = Image.fromarray(np.zeros((20, 50, 3), np.uint8))  # 50 wide, 20 high
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    img.save(tmp_path / "rotated.jpg", exif=exif.tobytes())
    assert to_rgb(open_image(tmp_path / "rotated.jpg")).size == (20, 50)


def test_animated_gif_gives_its_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50)
    first = np.asarray(to_rgb(open_image(tmp_path / "anim.gif")))
    assert first[..., 0].mean() > 200 and first[..., 2].mean() < 50


def test_tiny_pictures_work(tiny_engine):
    for size in ((1, 1), (1, 7), (300, 2)):
        img = Image.new("RGB", size, (10, 200, 30))
        out = tiny_engine.inpaint(img, np.ones(size[::-1], bool), **FAST)
        assert out[0].size == size
        assert tiny_engine.vary(img, strength=0.3, **FAST)[0].size == size


@pytest.mark.parametrize("payload,match", [
    (b"", "not a readable image"),
    (b"GIF89a not really", "not a readable image"),
    (b"hello, I am text", "not a readable image"),
])
def test_non_images_are_refused(tmp_path, payload, match):
    (tmp_path / "x.png").write_bytes(payload)
    with pytest.raises(InputError, match=match):
        open_image(tmp_path / "x.png")


def test_truncated_png_is_refused(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buf, "PNG")
    (tmp_path / "cut.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(InputError, match="cut.png"):
        open_image(tmp_path / "cut.png")


def test_oversized_pictures_are_refused_before_decoding(tmp_path, monkeypatch):
    monkeypatch.setattr(images_module, "MAX_PIXELS", 10_000)
    Image.new("L", (200, 100)).save(tmp_path / "big.png")
    with pytest.raises(InputError, match="larger than the limit"):
        open_image(tmp_path / "big.png")
    with pytest.raises(InputError, match="larger than the limit"):
        to_rgb(Image.new("L", (200, 100)))


def test_decompression_bomb_guard_is_on():
    assert Image.MAX_IMAGE_PIXELS == images_module.MAX_PIXELS


# ---- masks -------------------------------------------------------------------------------
def test_single_pixel_mask_regenerates_exactly_its_cell(tiny_engine):
    img = image_in_mode("RGB", 64, 64)
    mask = np.zeros((64, 64), bool)
    mask[9, 9] = True  # 32 px model, 16 cells: cell (2, 2) of 4x4 original pixels
    preview_cells = tiny_engine.mask_cells(img, mask, region="whole")
    assert preview_cells.sum() == 1 and preview_cells[2, 2]


def test_soft_alpha_is_thresholded_at_half():
    alpha = np.array([[0, 100, 127, 128, 200, 255]], np.uint8)
    layer = Image.fromarray(np.dstack([np.full((1, 6, 3), 255, np.uint8), alpha[..., None]]), "RGBA")
    assert mask_array(layer, (6, 1)).tolist() == [[False, False, False, True, True, True]]


def test_mask_of_the_same_shape_is_scaled_and_other_shapes_refused():
    mask = np.zeros((20, 40), bool)
    mask[:, :20] = True
    scaled = mask_array(mask, (80, 40))
    assert scaled.shape == (40, 80) and scaled[:, :40].all() and not scaled[:, 40:].any()
    with pytest.raises(InputError, match="different shape"):
        mask_array(mask, (80, 80))


def test_full_mask_is_generation_and_empty_mask_is_refused(tiny_engine):
    img = image_in_mode("RGB")
    assert tiny_engine.inpaint(img, np.ones((30, 40), bool), **FAST)[0].size == (40, 30)
    with pytest.raises(InputError, match="nothing to regenerate"):
        tiny_engine.inpaint(img, np.zeros((30, 40), bool), **FAST)


# ---- properties over images, masks and parameters --------------------------------------
MODE_CHOICES = ["L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "F"]
# Deterministic and without shrinking (each example runs the sampler): bounded time in CI.
# BIGR_PROPERTY_EXAMPLES=200 explores more, with fresh random examples.
EXAMPLES = int(os.environ.get("BIGR_PROPERTY_EXAMPLES", "15"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, derandomize="BIGR_PROPERTY_EXAMPLES" not in os.environ,
                    phases=[Phase.explicit, Phase.generate], suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def pictures(draw):
    w, h = draw(st.integers(1, 80)), draw(st.integers(1, 80))
    return image_in_mode(draw(st.sampled_from(MODE_CHOICES)), w, h)


@st.composite
def masks_for(draw, img):
    kind = draw(st.sampled_from(["random", "box", "empty", "full", "pixel", "soft", "other-size", "layer"]))
    h, w = img.height, img.width
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "random":
        return rng.random((h, w)) > 0.7
    if kind == "box":
        m = np.zeros((h, w), bool)
        m[: max(1, h // 2), : max(1, w // 3)] = True
        return m
    if kind == "empty":
        return np.zeros((h, w), bool)
    if kind == "full":
        return np.ones((h, w), bool)
    if kind == "pixel":
        m = np.zeros((h, w), bool)
        m[rng.integers(h), rng.integers(w)] = True
        return m
    if kind == "soft":
        return rng.random((h, w)).astype(np.float32)
    if kind == "other-size":
        return np.ones((draw(st.integers(1, 50)), draw(st.integers(1, 50))), bool)
    alpha = (rng.random((h, w)) > 0.5).astype(np.uint8) * 255
    return Image.fromarray(np.dstack([np.zeros((h, w, 3), np.uint8), alpha]), "RGBA")


numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-5, 300))
sampling = st.fixed_dictionaries({}, optional={
    "cfg_scale": numbers, "iterations": st.one_of(st.integers(-2, 3), numbers),
    "diffusion_steps": st.one_of(st.integers(-2, 3), numbers), "gumbel": numbers, "temperature": numbers,
})


def bounded(sample: dict) -> dict:
    """Keep the runs short: the properties are about validation, not long sampling."""
    out = dict(FAST)
    for k, v in sample.items():
        if k in ("iterations", "diffusion_steps") and isinstance(v, (int, float)) and math.isfinite(v) and v > 3:
            continue
        out[k] = v
    return out


def expect_size_or_our_error(call, check, must_work: bool = False):
    """The call returns what it promised, or raises our error with a message (never when it must work)."""
    try:
        result = call()
    except BiGRError as e:
        assert str(e)  # a message the user can read
        assert not must_work, f"valid input refused: {e}"
        return
    check(result)


@PROPERTY
@given(data=st.data(), fit=st.sampled_from(["crop", "letterbox"]), blend=st.sampled_from(["none", "feather", "poisson"]),
       sample=sampling, num=st.integers(-1, 3))
def test_masked_edits_property(tiny_engine, data, fit, blend, sample, num):
    img = data.draw(pictures())
    mask = data.draw(masks_for(img))
    task = data.draw(st.sampled_from(["inpaint", "edit", "outpaint"]))
    kw = dict(fit=fit, blend_mode=blend, num_samples=num, **bounded(sample))

    def call():
        if task == "edit":
            return tiny_engine.edit(img, mask, data.draw(st.sampled_from([0, 4, 5, "c1", "nope", None])), **kw)
        if task == "outpaint":
            return tiny_engine.outpaint(img, mask=mask, **kw)
        return tiny_engine.inpaint(img, mask, **kw)

    painted = np.asarray(mask_array(mask, img.size)).any() if not isinstance(mask, np.ndarray) or mask.shape == (
        img.height, img.width) else False
    must_work = task == "inpaint" and not sample and 1 <= num and painted
    expect_size_or_our_error(call, lambda r: (len(r) == num and all(o.size == img.size for o in r)) or pytest.fail(
        f"{task}: {len(r)} results of sizes {[o.size for o in r]} for {num} x {img.size}"), must_work)


@PROPERTY
@given(img=pictures(), expand=st.tuples(*[st.integers(-8, 70)] * 4), sample=sampling)
def test_canvas_expansion_property(tiny_engine, img, expand, sample):
    def check(r):
        l, t, rt, b = expand
        assert r[0].size == (img.width + l + rt, img.height + t + b)

    expect_size_or_our_error(lambda: tiny_engine.outpaint(img, expand=expand, **bounded(sample)), check)


@PROPERTY
@given(img=pictures(), strength=numbers, rounds=st.integers(-1, 2), rate=st.integers(-1, 5), sample=sampling,
       seed=st.one_of(st.none(), st.integers(-3, 2**40)))
def test_vary_and_enrich_property(tiny_engine, img, strength, rounds, rate, sample, seed):
    valid_strength = isinstance(strength, (int, float)) and math.isfinite(strength) and 0 < strength <= 1
    expect_size_or_our_error(lambda: tiny_engine.vary(img, strength=strength, seed=seed, **bounded(sample)),
                             lambda r: r[0].size == img.size or pytest.fail("vary size"),
                             must_work=not sample and valid_strength and (seed is None or seed >= 0))
    expect_size_or_our_error(lambda: tiny_engine.enrich(img, rounds=rounds, downsample_rate=rate, seed=seed,
                                                        **bounded(sample)),
                             lambda r: r[0].size == img.size or pytest.fail("enrich size"))


@PROPERTY
@given(a=st.sampled_from([0, 2, "c3", -1, 9, "x", None]), b=st.sampled_from([1, "c0", 7]),
       ratios=st.lists(numbers, max_size=3), sample=sampling, n=st.integers(-1, 3))
def test_generate_and_interpolate_property(tiny_engine, a, b, ratios, sample, n):
    expect_size_or_our_error(lambda: tiny_engine.generate(a, num_samples=n, **bounded(sample)),
                             lambda r: (len(r) == n and r[0].size == (32, 32)) or pytest.fail("generate"),
                             must_work=not sample and n >= 1 and a in (0, 2, "c3", None))
    expect_size_or_our_error(lambda: tiny_engine.interpolate(a, b, ratios, **bounded(sample)),
                             lambda r: len(r) == len(ratios) or pytest.fail("interpolate"))


@PROPERTY
@given(imgs=st.lists(pictures(), min_size=1, max_size=3), layer=st.one_of(st.none(), st.integers(-1, 3)),
       pooling=st.sampled_from(["avg", "cls", "max"]))
def test_features_property(tiny_engine, imgs, layer, pooling):
    expect_size_or_our_error(lambda: tiny_engine.features(imgs, layer=layer, pooling=pooling),
                             lambda f: f.shape == (len(imgs), 128) or pytest.fail("features"))


@pytest.mark.parametrize("size", [(1, 6), (6, 1), (2, 2), (40, 3), (5, 40)])
def test_poisson_blend_on_tiny_pictures_and_thin_masks(size):
    """Found by the property test: seamlessClone fails on regions under 3 px; those are pasted."""
    from bigr_app.edits.blend import blend

    rng = np.random.default_rng(0)
    h, w = size
    original, generated = (Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)) for _ in range(2))
    mask = np.zeros((h, w), bool)
    mask[: max(1, h // 2), : max(1, w // 2)] = True
    out = np.asarray(blend(original, generated, mask, "poisson"))
    assert out.shape == (h, w, 3)


@pytest.mark.parametrize("size, shown", [((64, 64), (256, 256)), ((24, 15), (432, 270)), ((576, 64), (2304, 256)),
                                         ((800, 500), (800, 500)), ((4272, 2848), (1024, 683)), ((100, 3000), (34, 1024))])
def test_pictures_are_shown_at_a_size_for_the_page(size, shown):
    from bigr_app.images import for_display

    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    view = for_display(image)
    assert view.size == shown
    if shown[0] > size[0]:  # enlarged by a whole factor with nearest neighbours: every pixel a crisp block
        k = shown[0] // size[0]
        assert np.array_equal(np.asarray(view)[::k, ::k], np.asarray(image))
    if shown == size:
        assert view is image
