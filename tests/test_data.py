import numpy as np
import pytest
import torch
from PIL import Image

from bigr_app.data import emoji
from bigr_app.data.folder import ImageFolder
from bigr_app.errors import InputError
from bigr_app.metrics import nearest_distances

needs_font = pytest.mark.skipif(
    not (emoji.FONT.is_file() and emoji.EMOJI_TEST.is_file()),
    reason="apt-get install fonts-noto-color-emoji unicode-data",
)


@needs_font
def test_every_subgroup_but_components_has_a_class():
    items = emoji.read_emoji_test()
    assert len(items) > 3500
    unmapped = {e.subgroup for e in items if emoji.class_of(e.subgroup) is None}
    assert unmapped == {e.subgroup for e in items if e.group == "Component"}
    assert len(emoji.CLASSES) >= 10


@needs_font
def test_sequences_render_as_one_picture():
    from PIL import ImageFont

    font = ImageFont.truetype(str(emoji.FONT), emoji.BITMAP_SIZE, layout_engine=ImageFont.Layout.RAQM)
    single = font.getbbox("\U0001F600")
    for seq in ["\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F1EB\U0001F1F7", "\U0001F44B\U0001F3FD"]:
        assert font.getbbox(seq) == single  # a family, a flag, a skin tone: one glyph each
    img = np.asarray(emoji.render("\U0001F98A", 64, font))
    assert img.shape == (64, 64, 3) and (img[0, 0] == 255).all() and (img < 200).any()


def test_held_out_split_is_stable():
    e = emoji.Emoji("\U0001F600", "grinning face", "Smileys & Emotion", "face-smiling")
    assert emoji.is_held_out(e) == emoji.is_held_out(e)


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


def test_nearest_distances():
    ref = torch.zeros(3, 3, 4, 4, dtype=torch.uint8)
    ref[1] += 10
    ref[2] += 100
    q = torch.full((2, 3, 4, 4), 12, dtype=torch.uint8)
    q[1] = 100
    assert np.allclose(nearest_distances(q, ref), [2.0, 0.0], atol=1e-3)
