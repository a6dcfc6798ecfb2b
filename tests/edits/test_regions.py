"""Masked edits on pictures of any size and shape: the regenerated region, whole frames, no collages."""
import numpy as np
import pytest
from PIL import Image

from bigr_app.errors import InputError
from bigr_app.app import edit_previews

from ..conftest import FAST

SHAPES = [(800, 500), (500, 1000), (2560, 1600), (24, 15)]


def photo(width, height, seed=0):
    """A smooth colour field with some texture (stands for a photograph)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    base = np.stack([np.sin(6 * x) * 80 + 128, np.cos(5 * y) * 80 + 128, (x + y) * 60 + 60], -1)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))


def box_mask(width, height, fx0, fy0, fx1, fy1):
    mask = np.zeros((height, width), bool)
    mask[int(fy0 * height): max(int(fy1 * height), int(fy0 * height) + 1),
         int(fx0 * width): max(int(fx1 * width), int(fx0 * width) + 1)] = True
    return mask


@pytest.mark.parametrize("size", SHAPES)
@pytest.mark.parametrize("region", ["auto", "masked"])
def test_masked_region_regenerates_around_the_mask_and_keeps_every_other_pixel(tiny_engine, size, region):
    w, h = size
    img, mask = photo(w, h), box_mask(w, h, 0.55, 0.3, 0.62, 0.42)
    out = tiny_engine.inpaint(img, mask, blend_mode="none", region=region, seed=1, **FAST)
    left, top, right, bottom = out.params["box"]
    assert out[0].size == (w, h) and out.params["region"] == region
    ys, xs = np.nonzero(mask)
    assert left <= xs.min() and xs.max() < right and top <= ys.min() and ys.max() < bottom  # holds the mask
    assert 0 <= left < right <= w and 0 <= top < bottom <= h
    if max(right - left, bottom - top) < min(w, h):
        assert right - left == bottom - top  # a square, when one fits
    changed = np.any(np.asarray(out[0]) != np.asarray(img), -1)
    assert changed.any() and not changed[~mask].any()  # blend none: only masked pixels change


def test_masked_region_works_at_the_models_resolution_not_the_photos(tiny_engine):
    img, mask = photo(2560, 1600), box_mask(2560, 1600, 0.5, 0.5, 0.52, 0.53)
    whole = tiny_engine.mask_cells(img, mask, region="whole")
    masked = tiny_engine.mask_cells(img, mask, region="masked")
    assert whole.sum() <= 2 and masked.sum() > 20 * whole.sum()  # 1/60 of the frame vs most of the box
    left, top, right, bottom = tiny_engine.region_box(img.size, mask, "masked", padding=4)
    extent = max(np.ptp(np.nonzero(mask.any(0))[0]), np.ptp(np.nonzero(mask.any(1))[0])) + 1
    assert right - left == bottom - top == int(np.ceil(extent / (1 - 2 * 4 / tiny_engine.resolution)))


@pytest.mark.parametrize("size", [(800, 500), (500, 1000)])
def test_in_frame_outpaint_covers_the_whole_frame(tiny_engine, size):
    """Keeping the centre regenerates everything else, the sides of a non-square frame too (no collage)."""
    w, h = size
    keep = box_mask(w, h, 0.4, 0.4, 0.6, 0.6)
    out = tiny_engine.outpaint(photo(w, h), mask=keep, blend_mode="none", seed=2, **FAST)
    assert out.params["box"] is None and out.params["framed"] == "letterbox"
    changed = np.any(np.asarray(out[0]) != np.asarray(photo(w, h)), -1)
    assert not changed[keep].any()
    for strip in (changed[:, : w // 10], changed[:, -w // 10:], changed[: h // 10], changed[-h // 10:]):
        assert strip.mean() > 0.5  # every side was regenerated


def test_whole_region_keeps_the_chosen_fit(tiny_engine):
    img, mask = photo(800, 500), box_mask(800, 500, 0.4, 0.4, 0.6, 0.6)
    out = tiny_engine.inpaint(img, mask, region="whole", fit="crop", **FAST)
    assert out.params["box"] is None and out.params["framed"] == "crop"


def test_preview_frames_the_box_and_dims_what_a_crop_leaves_out(tiny_engine):
    img = photo(800, 500)
    mask = box_mask(800, 500, 0.45, 0.4, 0.5, 0.5)
    framed = np.asarray(edit_previews.mask_preview(tiny_engine, img, mask, region="masked")).astype(int)
    left, top, right, bottom = tiny_engine.region_box(img.size, mask, "masked")
    assert framed.shape == (500, 800, 3)
    assert (framed[top, left:right] != np.asarray(img)[top, left:right]).any()  # the frame is drawn
    cropped = np.asarray(edit_previews.mask_preview(tiny_engine, img, mask, region="whole", fit="crop")).astype(int)
    original = np.asarray(img).astype(int)
    assert (np.abs(cropped[:, :100] - original[:, :100]).mean()) > 20  # the cut-off side is dimmed
    assert np.array_equal(cropped[:50, 300:500], original[:50, 300:500])  # the processed area is not


@pytest.mark.parametrize("bad", [-1, 10_000, 2.5, True, "8"])
def test_bad_padding_and_region_are_refused(tiny_engine, bad):
    img, mask = photo(100, 80), box_mask(100, 80, 0.4, 0.4, 0.6, 0.6)
    with pytest.raises(InputError, match="padding"):
        tiny_engine.inpaint(img, mask, region="masked", padding=bad, **FAST)
    with pytest.raises(InputError, match="region"):
        tiny_engine.inpaint(img, mask, region="box", **FAST)


def test_canvas_expansion_of_a_sliver_is_refused_not_run_for_ever(tiny_engine):
    with pytest.raises(InputError, match="model windows"):
        tiny_engine.outpaint(Image.new("RGB", (1, 80)), expand=(0, 0, 70, 0), **FAST)


@pytest.mark.parametrize("size", [(800, 500), (500, 1000)])
def test_enrich_and_vary_cover_the_whole_frame_or_return_the_crop(tiny_engine, size):
    w, h = size
    img = photo(w, h)
    original = np.asarray(img).astype(int)
    for result in (tiny_engine.vary(img, strength=0.6, seed=1, **FAST), tiny_engine.enrich(img, seed=1, **FAST)):
        out = np.asarray(result[0]).astype(int)
        assert result[0].size == (w, h) and result.params["framed"] == "letterbox"
        for strip in (out[:, : w // 8], out[:, -w // 8:], out[: h // 8], out[-h // 8:]):
            assert not np.array_equal(strip, original[: strip.shape[0], : strip.shape[1]])  # no original sides
        # no hard seam where a centre square would end: the picture is one piece
        side = min(w, h)
        edge = (w - side) // 2 if w > h else (h - side) // 2
        jump = np.abs(np.diff(out, axis=1 if w > h else 0)).mean(axis=(0, 2) if w > h else (1, 2))
        assert jump[edge - 1] < 4 * np.median(jump) + 10
    cropped = tiny_engine.vary(img, strength=0.6, fit="crop", seed=1, **FAST)
    assert cropped[0].size == (min(w, h), min(w, h))


def test_frame_preview_dims_only_what_a_crop_leaves_out(tiny_engine):
    img = photo(800, 500)
    auto = np.asarray(edit_previews.frame_preview(tiny_engine, img, "auto"))
    assert np.array_equal(auto, np.asarray(img))
    crop = np.asarray(edit_previews.frame_preview(tiny_engine, img, "crop")).astype(int)
    original = np.asarray(img).astype(int)
    assert np.array_equal(crop[:, 150:650], original[:, 150:650])
    assert np.abs(crop[:, :150] - original[:, :150]).mean() > 20


def feather_width(original: Image.Image, out: Image.Image, mask: np.ndarray) -> int:
    """How many pixels inside the mask's edge are blended (neither the original nor fully regenerated): the
    columns of the mask's left edge whose pixels differ from the original by less than the centre does."""
    a = np.asarray(original).astype(int)
    b = np.asarray(out).astype(int)
    ys, xs = np.nonzero(mask)
    row = (ys.min() + ys.max()) // 2
    diff = np.abs(a[row] - b[row]).sum(-1)
    inside = diff[xs.min(): xs.max() + 1]
    ramp = np.nonzero(np.cumsum(inside >= 0.9 * np.median(inside)) > 0)[0]
    return int(ramp[0]) if len(ramp) else len(inside)


def test_feather_radius_is_in_model_pixels_so_it_scales_with_the_picture(tiny_engine):
    """The same edit on a picture 8x larger gets a feather 8x wider (the engine scales the radius from model
    pixels to picture pixels), instead of one that vanishes on a large photograph."""
    widths = {}
    for scale in (1, 8):
        side = tiny_engine.resolution * scale
        img = photo(side, side, seed=3)
        mask = box_mask(side, side, 0.25, 0.25, 0.75, 0.75)
        flat = Image.new("RGB", img.size, (255, 255, 255))  # regenerating over white makes the ramp easy to see
        out = tiny_engine.inpaint(flat, mask, blend_mode="feather", feather_radius=2.0, region="whole", seed=2, **FAST)
        widths[scale] = feather_width(flat, out[0], mask)
    assert widths[1] >= 1 and 4 * widths[1] <= widths[8] <= 12 * widths[1], widths


def test_note_on_a_picture_far_larger_or_far_from_the_training_data(tiny_engine):
    res = tiny_engine.resolution
    assert edit_previews.picture_note(tiny_engine, photo(res, res)) == ""  # at the model's resolution: nothing to say
    big = photo(40 * res, 25 * res)
    note = edit_previews.picture_note(tiny_engine, big)
    assert f"Regenerated at {res}x{res}" in note and "40.0 picture pixels to one" in note  # whole frame: long side
    small_mask = box_mask(40 * res, 25 * res, 0.5, 0.5, 0.55, 0.55)  # its surroundings are ~3 px to a model px
    assert edit_previews.picture_note(tiny_engine, big, small_mask, region="masked") == ""
    mask = box_mask(40 * res, 25 * res, 0.3, 0.3, 0.6, 0.6)
    region_note = edit_previews.picture_note(tiny_engine, big, mask, region="masked")
    assert f"region of this picture ({40 * res}x{25 * res})" in region_note
    # told what the model was trained on and how well its tokenizer reproduces pictures like its own
    tiny_engine.domain = {"trained_on": "tiny test pictures", "tokenizer_psnr": 60.0}
    try:
        odd = edit_previews.picture_note(tiny_engine, photo(res, res))
        assert "trained on tiny test pictures" in odd and "(60.0 dB on pictures like its own)" in odd
        assert "expect regenerated areas to look like its training pictures" in odd
    finally:
        tiny_engine.domain = {}


def test_the_note_gives_the_pictures_own_size_for_a_working_copy(tiny_engine):
    """A 1066x1600 photo's working copy is 682x1024: the note speaks of 1066x1600, not of the copy scaled back."""
    from bigr_app.app.ui.picture import working_size

    size = (1066, 1600)
    working = photo(*working_size(size, 1024))
    assert working.size == (682, 1024)
    note = edit_previews.picture_note(tiny_engine, working, size=size)
    assert "(1066x1600)" in note, note
