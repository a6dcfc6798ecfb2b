import json

import numpy as np
import pytest
import torch
from PIL import Image

from bigr_app.data import emoji
from bigr_app.data.folder import ImageFolder, combined
from bigr_app.errors import InputError
from bigr_app.analysis.metrics import nearest_distances

needs_font = pytest.mark.skipif(
    not (emoji.FONT.is_file() and emoji.EMOJI_TEST.is_file()),
    reason="apt-get install fonts-noto-color-emoji unicode-data",
)


@needs_font
def test_classes_are_balanced_drawings_with_variants_folded():
    classes = emoji.drawings_by_class(emoji.read_emoji_test())
    assert sorted(classes) == emoji.CLASSES and 12 <= len(classes) <= 30
    sizes = {cls: len(members) for cls, members in classes.items()}
    assert max(sizes.values()) <= emoji.MAX_DRAWINGS and max(sizes.values()) <= 5 * min(sizes.values())
    chosen = [e for members in classes.values() for e in members]
    skin_tones = {chr(c) for c in range(0x1F3FB, 0x1F400)}
    assert not any(set(e.text) & skin_tones for e in chosen)  # the default variant stands for its drawing
    cooks = [e for e in emoji.read_emoji_test() if e.name.split(":")[0] in ("cook", "man cook", "woman cook")]
    assert len(cooks) == 18 and len({emoji.drawing_of(e) for e in cooks}) == 1  # gender variants folded too
    assert len({emoji.drawing_of(e) for e in chosen}) == len(chosen)
    assert "clothing" not in {e.subgroup for e in chosen}  # subgroups that share no look are left out


@needs_font
def test_build_holds_out_drawings_and_keeps_their_variants_from_the_extra_pictures(tmp_path):
    counts = emoji.build(tmp_path, 16, limit_per_class=3)
    assert set(counts) == set(emoji.CLASSES) and all(held_out >= 1 for _, held_out in counts.values())
    notes = json.loads((tmp_path / "dataset.json").read_text())
    assert notes["classes"] == emoji.CLASSES and "flags" in notes["not_mirrored"]
    assert not (tmp_path / "extra").exists()  # a subset has no extra pictures
    held_out = {p.stem for p in (tmp_path / "test").glob("*/*.png")}
    trained = {p.stem for p in (tmp_path / "train").glob("*/*.png")}
    assert held_out and trained and not held_out & trained
    assert emoji.held_out_count(100) == 12 and emoji.held_out_count(20) == emoji.MIN_HELD_OUT
    seen = notes["held_out_seen_by_v1"]  # held-out pictures the first bundled model trained on (some variant of)
    assert set(seen) <= {str(p.relative_to(tmp_path)) for p in (tmp_path / "test").glob("*/*.png")}


@needs_font
def test_sequences_render_as_one_picture():
    from PIL import ImageFont

    font = ImageFont.truetype(str(emoji.FONT), emoji.BITMAP_SIZE, layout_engine=ImageFont.Layout.RAQM)
    single = font.getbbox("\U0001F600")
    for seq in ["\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F1EB\U0001F1F7", "\U0001F44B\U0001F3FD"]:
        assert font.getbbox(seq) == single  # a family, a flag, a skin tone: one glyph each
    img = np.asarray(emoji.render("\U0001F98A", 64, font))
    assert img.shape == (64, 64, 3) and (img[0, 0] == 255).all() and (img < 200).any()


def test_judge_style_draws_only_training_drawings_on_white(tmp_path):
    for split, name in [("train", "0023_fe0f_20e3"), ("train", "1f600"), ("test", "1f98a")]:
        (tmp_path / split / "cls").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (16, 16), "white").save(tmp_path / split / "cls" / f"{name}.png")
    style = tmp_path / "emojione"
    style.mkdir()
    assert emoji.emojione_file("0023_fe0f_20e3") == "0023-20E3.png"
    for name in ("0023-20E3", "1F98A"):  # 1F600 missing from the style: skipped; 1F98A is held out: never drawn
        drawing = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
        drawing.paste((200, 30, 30, 255), (16, 24, 48, 40))  # a 32x16 red bar on transparency
        drawing.save(style / f"{name}.png")
    assert emoji.build_judge_style(tmp_path, style, 32) == 1
    assert [p.relative_to(tmp_path).as_posix() for p in (tmp_path / "judge").rglob("*.png")] == [
        "judge/cls/0023_fe0f_20e3.png"]
    img = np.asarray(Image.open(tmp_path / "judge" / "cls" / "0023_fe0f_20e3.png"))
    assert img.shape == (32, 32, 3) and (img[0, 0] == 255).all()  # transparency became white
    red = (img[..., 0] > 150) & (img[..., 1] < 100)
    assert red[16].sum() >= 26 and red[:, 16].sum() <= 16  # scaled to the width less the margins, centred


def test_held_out_split_is_stable():
    e = emoji.Emoji("\U0001F600", "grinning face", "Smileys & Emotion", "face-smiling")
    assert emoji.rank(e) == emoji.rank(emoji.Emoji("\U0001F600", "", "", ""))  # from the emoji alone


def test_image_folder_reads_classes_and_skips_broken_files(tmp_path):
    for cls in ("b", "a"):
        (tmp_path / cls).mkdir()
        Image.new("RGBA", (20, 10), (255, 0, 0, 128)).save(tmp_path / cls / "x.png")
    (tmp_path / "a" / "broken.png").write_bytes(b"not an image")
    data = ImageFolder(tmp_path, 16)
    assert data.classes == ["a", "b"] and len(data) == 2 and len(data.skipped) == 1
    x, y = data[0]
    assert x.shape == (3, 16, 16) and 0 <= float(x.min()) and float(x.max()) <= 1
    with pytest.raises(InputError):
        ImageFolder(tmp_path / "a", 16)


def test_combined_folders_keep_the_class_indices(tmp_path):
    for root, classes in (("a", ["cat", "dog"]), ("b", ["dog"])):
        for cls in classes:
            (tmp_path / root / cls).mkdir(parents=True)
            Image.new("RGB", (8, 8), "white").save(tmp_path / root / cls / "x.png")
    first = ImageFolder(tmp_path / "a", 8)
    both = combined(first, ImageFolder(tmp_path / "b", 8, class_names=first.classes))
    assert len(both) == 3 and both.labels.tolist() == [0, 1, 1] and len(first) == 2
    with pytest.raises(InputError, match="same classes"):
        combined(first, ImageFolder(tmp_path / "b", 8))


def test_nearest_distances():
    ref = torch.zeros(3, 3, 4, 4, dtype=torch.uint8)
    ref[1] += 10
    ref[2] += 100
    q = torch.full((2, 3, 4, 4), 12, dtype=torch.uint8)
    q[1] = 100
    assert np.allclose(nearest_distances(q, ref), [2.0, 0.0], atol=1e-3)
