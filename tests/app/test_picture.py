"""The editing tabs' picture: a working copy for the editor, the original kept for the edit."""
import numpy as np
from PIL import Image

from bigr_app.app.ui.mask_canvas import Painting
from bigr_app.app.ui.picture import Picture, in_editor, load_picture, mask_file_at


def test_a_large_photo_gets_a_working_copy_and_keeps_its_original(tmp_path):
    src = tmp_path / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1500, 4000, 3), dtype=np.uint8)).save(src)
    picture = load_picture(src, tmp_path / "session", limit=1000)
    assert picture.size == (4000, 1500) and picture.working.size == (1000, 375)
    assert picture.path and picture.path.startswith(str(tmp_path / "session"))  # kept in the session's folder
    assert picture.original().size == (4000, 1500)
    painted = np.zeros((375, 1000), bool)
    painted[100:200, 300:500] = True
    full = picture.full_mask(painted)
    assert full.shape == (1500, 4000) and abs(full.mean() - painted.mean()) < 1e-3


def test_a_small_picture_is_its_own_working_copy(tmp_path):
    Image.new("RGBA", (300, 200), (10, 20, 30, 0)).save(tmp_path / "small.png")
    picture = load_picture(tmp_path / "small.png", tmp_path / "session", limit=1000)
    assert picture.path is None and picture.working.size == (300, 200) and picture.working.mode == "RGB"
    assert picture.working.getpixel((0, 0)) == (255, 255, 255)  # transparency on white, as the engine does


def test_exif_rotation_is_applied_to_the_copy_and_the_size(tmp_path):
    img = Image.new("RGB", (3000, 1000), (200, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # rotated 90 degrees
    img.save(tmp_path / "rotated.jpg", exif=exif)
    picture = load_picture(tmp_path / "rotated.jpg", tmp_path / "s", limit=600)
    assert picture.size == (1000, 3000) and picture.working.size == (200, 600)
    from bigr_app.images import to_rgb

    assert to_rgb(picture.original()).size == picture.size  # the engine applies the rotation itself


def test_the_canvas_decides_which_picture_is_edited(tmp_path):
    stored = Picture(Image.new("RGB", (100, 50)), (400, 200), "/somewhere.jpg")
    Image.new("RGB", (100, 50)).save(tmp_path / "working.png")
    Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(tmp_path / "other.png")
    assert in_editor(stored, Painting(str(tmp_path / "working.png"), (100, 50), None)) is stored  # its working copy
    other = in_editor(stored, Painting(str(tmp_path / "other.png"), (64, 64), None))  # a picture from the API
    assert other.path is None and other.size == (64, 64) and other.working.getpixel((0, 0)) == (255, 255, 255)


def test_a_mask_file_is_read_at_any_size_of_the_pictures_shape(tmp_path):
    mask = np.zeros((200, 400), np.uint8)
    mask[50:100, 100:200] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    small = mask_file_at(str(tmp_path / "mask.png"), (100, 50))
    assert small.shape == (50, 100) and small[20, 40] and not small[0, 0]


def test_enrich_and_vary_put_transparency_on_white_like_the_other_tabs(tiny_engine, tmp_path):
    """The hidden pixels under a PNG's transparent corner must not come back."""
    from gradio.data_classes import FileData

    from bigr_app.app.ui.enrich import opened
    from bigr_app.app.ui.page import build_ui
    from bigr_app.images import to_rgb

    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    rgba[:16, :16] = (0, 0, 255, 0)  # a transparent corner hiding blue
    Image.fromarray(rgba, "RGBA").save(tmp_path / "corner.png")
    demo = build_ui(tiny_engine)
    (picture,) = [b for b in demo.blocks.values() if b.elem_id == "enrich-image"]
    received = picture.preprocess(FileData(path=str(tmp_path / "corner.png"), orig_name="corner.png"))
    seen = to_rgb(opened(received))
    assert seen.getpixel((0, 0)) == (255, 255, 255) and seen.getpixel((40, 40)) == (200, 0, 0)
    inpaint = load_picture(tmp_path / "corner.png", tmp_path / "s").working  # what the editing tabs see
    assert inpaint.getpixel((0, 0)) == seen.getpixel((0, 0))


def test_a_small_edit_of_a_large_picture_shows_its_region_in_the_gallery(tmp_path):
    """Four 12 MP inpaints that differ in a small box look alike whole at gallery size: the gallery shows the box."""
    from bigr_app.app.ui.common import REGION_CAPTION, gallery_entry

    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (3000, 4000, 3), dtype=np.uint8))
    view, caption = gallery_entry(image, tmp_path / "inpaint-1.png", tmp_path, box=[1000, 1200, 1400, 1500])
    assert caption == REGION_CAPTION
    with Image.open(view) as shown:
        assert shown.size == (600, 450)  # the 400x300 box with a quarter of its size around it
    whole = gallery_entry(image, tmp_path / "inpaint-2.png", tmp_path, box=[0, 0, 3000, 2500])  # most of it
    assert isinstance(whole, str) and Image.open(whole).size == (1024, 768)
    small = Image.new("RGB", (128, 128))
    assert isinstance(gallery_entry(small, tmp_path / "inpaint-3.png", tmp_path, box=[0, 0, 16, 16]), str)
