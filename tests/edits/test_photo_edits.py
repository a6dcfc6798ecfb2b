"""Masked edits on real-world pictures: strength, what is pasted, the frame's edge, canvas expansion seams."""
import copy
import warnings

import cv2
import numpy as np
import pytest
from PIL import Image

from bigr_app import InputError
from bigr_app.app import edit_previews

from ..conftest import FAST
from .test_edits import box_mask, picture


def test_strength_one_is_exactly_the_full_edit(tiny_engine):
    img = picture()
    mask = box_mask(img.size, (6, 6, 40, 34))
    full = tiny_engine.inpaint(img, mask, num_samples=2, seed=3, **FAST)
    same = tiny_engine.inpaint(img, mask, num_samples=2, seed=3, strength=1.0, **FAST)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(full, same))
    assert same.params["strength"] == 1.0


def test_strength_resamples_a_spread_share_of_the_masked_cells(tiny_engine):
    img = picture()
    cells = tiny_engine.mask_cells(img, box_mask(img.size, (0, 0, 48, 40)), region="whole")
    for strength in (0.25, 0.5):
        todo = tiny_engine.strength_cells(cells, strength, seed=0, n=3)
        assert todo.shape == (3, *cells.shape)
        for t in todo:
            assert not (t & ~cells).any()  # only masked cells
            assert t.sum() == round(strength * cells.sum())
            rows, cols = np.nonzero(t)  # spread: both halves of the grid get some
            half = cells.shape[0] // 2
            assert (rows < half).any() and (rows >= half).any() and (cols < half).any() and (cols >= half).any()
    todo = tiny_engine.strength_cells(cells, 0.3, seed=0, n=6)
    assert any(not np.array_equal(todo[0], t) for t in todo[1:])  # each sample its own pattern
    with pytest.raises(InputError, match="strength"):
        tiny_engine.inpaint(img, box_mask(img.size, (6, 6, 20, 20)), strength=0.0, **FAST)


def test_low_strength_changes_less_than_full_strength(tiny_engine):
    img = picture(64, 64)
    mask = box_mask(img.size, (0, 0, 64, 64))
    kw = dict(num_samples=1, seed=1, region="whole", blend_mode="none", **FAST)
    base = np.asarray(img).astype(float)  # kept cells keep the original's pixels (tests/edits/test_strength.py)
    low = np.asarray(tiny_engine.inpaint(img, mask, strength=0.1, **kw)[0]).astype(float)
    high = np.asarray(tiny_engine.inpaint(img, mask, strength=1.0, **kw)[0]).astype(float)
    assert np.abs(low - base).mean() < np.abs(high - base).mean()


def test_edit_pastes_whole_cells_inpaint_only_the_mask(tiny_engine):
    img = picture(64, 64)
    stroke = box_mask(img.size, (20, 30, 44, 31))  # a thin stroke: 1 px
    m = np.asarray(stroke) > 127
    kw = dict(num_samples=1, seed=0, blend_mode="none", region="whole", **FAST)
    inpainted = np.asarray(tiny_engine.inpaint(img, stroke, **kw)[0])
    edited = tiny_engine.edit(img, stroke, 2, **kw)
    assert edited.params["paste"] == "cells"
    changed = np.any(np.asarray(edited[0]) != np.asarray(img), -1)
    assert changed[~m].sum() > 2 * m.sum()  # the regenerated cells show, not only the stroke
    assert not np.any(inpainted != np.asarray(img), -1)[~m].any()
    mask_only = np.asarray(tiny_engine.edit(img, stroke, 2, paste="mask", **kw)[0])
    assert not np.any(mask_only != np.asarray(img), -1)[~m].any()
    with pytest.raises(InputError, match="paste"):
        tiny_engine.inpaint(img, stroke, paste="box", **FAST)


def test_fit_is_recorded_as_chosen(tiny_engine):
    img = picture(60, 40)
    for region in ("auto", "masked", "whole"):
        out = tiny_engine.inpaint(img, box_mask(img.size, (5, 5, 20, 20)), fit="crop", region=region, **FAST)
        assert out.params["fit"] == "crop"
    assert out.params["framed"] == "crop"
    auto = tiny_engine.inpaint(img, box_mask(img.size, (0, 0, 60, 40)), fit="crop", region="auto", **FAST)
    assert auto.params["fit"] == "crop" and auto.params["framed"] == "letterbox"


def test_feathering_a_tiny_picture_raises_no_warning(tiny_engine):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for size in ((1, 1), (1, 7), (300, 2)):
            tiny_engine.inpaint(Image.new("RGB", size, (10, 200, 30)), np.ones(size[::-1], bool), **FAST)


@pytest.fixture(scope="module")
def bundled():
    from bigr_app.engine import Engine

    return Engine.from_pretrained(None, device="cpu", precision="fp32")


def test_a_wide_photo_keeps_its_edges_in_vary_and_enrich(bundled):
    """A 2400x700 dark band: the bundled tokenizer decodes a frame's outermost pixels white, so whole-picture
    edits keep the picture off them."""
    rng = np.random.default_rng(0)
    base = np.linspace(30, 70, 2400)[None, :, None] + rng.normal(0, 6, (700, 2400, 3))
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8))
    src = np.asarray(img).astype(float)
    results = [bundled.vary(img, strength=0.3, seed=0, **FAST)[0], bundled.enrich(img, seed=0, **FAST)[0]]
    for out in results:
        a = np.asarray(out).astype(float)
        assert a.shape == src.shape
        for cols in (slice(0, 100), slice(-100, None)):
            assert abs(a[:, cols].mean() - src[:, cols].mean()) < 40, (a[:, cols].mean(), src[:, cols].mean())
        assert a[:50].mean() - src[:50].mean() < 40  # the top rows


def white_edged_decoder(engine, monkeypatch):
    """The engine with a stand-in model: each window's cells to regenerate are filled smoothly from the rest of
    the window (cv2.inpaint), and its outer 3 pixels decode white, as the bundled tokenizer's do."""
    cell = engine.resolution // engine.grid
    monkeypatch.setattr(engine, "encode", lambda crops: [np.asarray(c).copy() for c in crops])
    monkeypatch.setattr(engine, "sample_tokens", lambda bits, todo, *a, **k: (bits, todo.cpu().numpy()))

    def decode(state):
        crops, todo = state
        outs = []
        for crop, cells in zip(crops, todo):
            unknown = np.kron(cells, np.ones((cell, cell), np.uint8)).astype(np.uint8)
            out = cv2.inpaint(crop, unknown, 5, cv2.INPAINT_TELEA)
            out[:3], out[-3:], out[:, :3], out[:, -3:] = 255, 255, 255, 255
            outs.append(Image.fromarray(out))
        return outs

    monkeypatch.setattr(engine, "decode", decode)


def seams(strip: np.ndarray) -> tuple[float, float]:
    """(brightest line's mean, largest jump between neighbouring lines / the median jump + 1), over rows and
    columns of a generated strip."""
    lines = [strip.mean((1, 2)), strip.mean((0, 2))]
    jumps = np.concatenate([np.abs(np.diff(strip, axis=0)).mean((1, 2)), np.abs(np.diff(strip, axis=1)).mean((0, 2))])
    return max(line.max() for line in lines), jumps.max() / (np.median(jumps) + 1)


def test_canvas_expansion_leaves_no_seams(tiny_engine, monkeypatch):
    """A smooth 120x180 portrait expanded 40 px to the left, window by window: no window's decoded edge stays
    in the picture as a light line, and nothing jumps between windows."""
    engine = copy.copy(tiny_engine)  # patched below; the session's engine stays as it is
    engine.domain = {**tiny_engine.domain, "frame_margin": 3}  # what such a tokenizer's model declares
    white_edged_decoder(engine, monkeypatch)
    h, w = 180, 120
    yy, xx = np.mgrid[0:h, 0:w]
    img = Image.fromarray(np.stack([60 + 60 * yy / h, 80 + 40 * xx / w, 140 - 50 * yy / h], -1).astype(np.uint8))
    out = engine.outpaint(img, expand=(40, 0, 0, 0), seed=0)
    assert out.params["windows"] > 2
    brightest, jump = seams(np.asarray(out[0]).astype(float)[:, :40])
    assert brightest < 160 and jump < 8, (brightest, jump)
    assert np.array_equal(np.asarray(out[0])[:, 40:], np.asarray(img))


def test_canvas_preview_shows_the_new_area_and_the_windows(tiny_engine):
    img = picture(60, 90)
    prev = edit_previews.canvas_preview(tiny_engine, img, (30, 0, 0, 0))
    assert prev.size == (90, 90)
    a = np.asarray(prev)
    same = np.all(a[:, 30:] == np.asarray(img), -1)
    assert same.mean() > 0.8  # the picture, in place (window outlines cross it)
    new = a[:, :30]
    assert len(np.unique(new.reshape(-1, 3), axis=0)) >= 2  # hatched or outlined, not blank
    reduced = edit_previews.canvas_preview(tiny_engine, img.resize((30, 45)), (30, 0, 0, 0), size=(60, 90))
    assert reduced.size == (90, 90)  # from a working copy: the picture's own geometry
    big = edit_previews.canvas_preview(tiny_engine, Image.new("RGB", (3000, 2000)), (1000, 0, 0, 0))
    assert max(big.size) == 768
    with pytest.raises(InputError, match="zero"):
        edit_previews.canvas_preview(tiny_engine, img, (0, 0, 0, 0))
