"""Every task endpoint of the app, called through gradio_client."""
import json

import numpy as np
import pytest
from PIL import Image

from bigr_app.app.server_process import ROOT

EXAMPLE = ROOT / "assets" / "examples" / "smiley.png"
KNOBS = dict(seed=1, cfg=3.0, iterations=3, gumbel=0.0, steps=4)


@pytest.fixture(scope="module")
def client(app_servers):
    from gradio_client import Client

    return Client(app_servers().url, verbose=False)


@pytest.fixture(scope="module")
def editor_value(tmp_path_factory):
    from gradio_client import handle_file

    layer = np.zeros((128, 128, 4), np.uint8)
    layer[40:90, 30:100] = (255, 40, 40, 255)
    path = tmp_path_factory.mktemp("layer") / "layer.png"
    Image.fromarray(layer, "RGBA").save(path)
    return {"background": handle_file(str(EXAMPLE)), "layers": [handle_file(str(path))], "composite": None}


def gallery_images(result):
    """The full-size PNGs of a result (the gallery shows copies sized for the page)."""
    gallery, files = result
    assert len(gallery) == len(files) > 0
    return [Image.open(f) for f in files]


def gallery_views(result):
    return [Image.open(item["image"] if isinstance(item, dict) else item[0]) for item in result[0]]


def test_generate(client):
    result = client.predict("c1", 2, **KNOBS, api_name="/generate")
    images = gallery_images(result)
    assert len(images) == 2 and images[0].size == (32, 32)
    params = [json.loads(im.text["parameters"]) for im in images]
    assert [p["seed"] for p in params] == [1, 2] and params[1]["batch_seed"] == 1
    # a 32 px result is shown enlarged (crisp pixels), and downloads at its own size
    view = gallery_views(result)[0]
    assert view.size == (256, 256)
    assert np.array_equal(np.asarray(view.convert("RGB"))[::8, ::8], np.asarray(images[0].convert("RGB")))


def test_png_info_reads_what_the_app_wrote(client, tmp_path):
    from gradio_client import handle_file

    _, files = client.predict("c1", 2, **KNOBS, api_name="/generate")
    params, summary = client.predict(handle_file(files[1]), api_name="/png_info")[:2]
    assert params["seed"] == 2 and params["task"] == "generate" and "seed 2" in summary
    Image.open(EXAMPLE).convert("RGB").save(tmp_path / "plain.png")
    params, summary = client.predict(handle_file(str(tmp_path / "plain.png")), api_name="/png_info")[:2]
    assert params is None and "not made by BiGR Studio" in summary


def masked_args(class_name, mask_file=None, blend="feather", region="auto", strength=None, paste=None):
    """The masked endpoints' arguments; strength and paste come last and may be left out (their defaults)."""
    tail = [] if strength is None and paste is None else [strength or 1.0, paste or "mask"]
    return [mask_file, class_name, blend, 4, region, 0, "crop", 0, 1, *KNOBS.values(), *tail]


def test_inpaint_edit_outpaint(client, editor_value):
    out = gallery_images(client.predict(editor_value, *masked_args("(unconditional)"), api_name="/inpaint"))
    assert out[0].size == (128, 128)
    out = gallery_images(client.predict(editor_value, *masked_args("c3"), api_name="/edit"))
    assert out[0].size == (128, 128)
    out = gallery_images(client.predict(editor_value, "expand the canvas", 0, 0, 64, 0, *masked_args("c2"),
                                        api_name="/outpaint"))
    assert out[0].size == (192, 128)


def test_a_plain_mask_image_drives_every_masked_endpoint(client, tmp_path):
    """White-on-black mask files, not the editor's layers: only the white area changes."""
    from gradio_client import handle_file

    picture = Image.fromarray((np.random.default_rng(0).random((90, 160, 3)) * 255).astype(np.uint8))
    picture.save(tmp_path / "photo.png")
    mask = np.zeros((90, 160), np.uint8)
    mask[20:50, 100:140] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    editor = {"background": handle_file(str(tmp_path / "photo.png")), "layers": [], "composite": None}
    mask_file = handle_file(str(tmp_path / "mask.png"))
    for endpoint, cls, paste in (("/inpaint", "(unconditional)", None), ("/edit", "c1", "mask")):
        (out,) = gallery_images(client.predict(editor, *masked_args(cls, mask_file, "none", "masked", paste=paste),
                                               api_name=endpoint))
        changed = np.any(np.asarray(out.convert("RGB")) != np.asarray(picture), -1)
        assert changed.any() and not changed[mask == 0].any()
        params = json.loads(out.text["parameters"])
        assert params["region"] == "masked" and params["box"][0] <= 100 and params["box"][2] >= 140
    keep = handle_file(str(tmp_path / "mask.png"))
    (out,) = gallery_images(client.predict(editor, "in-frame (paint what to keep)", 0, 0, 0, 0,
                                           *masked_args("c2", keep, "none"), api_name="/outpaint"))
    changed = np.any(np.asarray(out.convert("RGB")) != np.asarray(picture), -1)
    assert not changed[mask > 0].any() and changed[mask == 0].mean() > 0.5


def test_strength_and_paste_through_the_api(client, tmp_path):
    """Edit's default paste shows the regenerated cells; strength and paste land in the PNG; fit as chosen."""
    from gradio_client import handle_file

    picture = Image.fromarray((np.random.default_rng(1).random((90, 160, 3)) * 255).astype(np.uint8))
    picture.save(tmp_path / "photo.png")
    mask = np.zeros((90, 160), np.uint8)
    mask[40:42, 60:100] = 255  # a thin stroke
    Image.fromarray(mask).save(tmp_path / "mask.png")
    editor = {"background": handle_file(str(tmp_path / "photo.png")), "layers": [], "composite": None}
    args = masked_args("c1", handle_file(str(tmp_path / "mask.png")), "none", "masked")
    (out,) = gallery_images(client.predict(editor, *args, api_name="/edit"))
    changed = np.any(np.asarray(out.convert("RGB")) != np.asarray(picture), -1)
    assert changed[mask == 0].sum() > changed[mask > 0].sum()  # whole cells, not only the stroke
    params = json.loads(out.text["parameters"])
    assert params["paste"] == "cells" and params["strength"] == 1.0 and params["fit"] == "crop"
    args = masked_args("c1", handle_file(str(tmp_path / "mask.png")), "none", "masked", strength=0.5)
    (out,) = gallery_images(client.predict(editor, *args, api_name="/inpaint"))
    assert json.loads(out.text["parameters"])["strength"] == 0.5


def test_interpolate_and_sweep(client):
    view, path = client.predict("c0", "c4", 0.5, *KNOBS.values(), api_name="/interpolate")
    image = Image.open(path)
    assert image.format == "PNG" and image.size == (32, 32) and Image.open(view).size == (256, 256)
    params = json.loads(image.text["parameters"])
    assert params["ratio"] == 0.5 and params["class_a"] == "c0" and params["seed"] == 1
    strip, gif, files = client.predict("c0", "c4", 3, *KNOBS.values(), api_name="/sweep")
    assert Image.open(strip).size == (768, 256) and Image.open(gif).size == (256, 256)  # shown enlarged
    assert sorted(Image.open(f).size for f in files) == [(32, 32), (96, 32)]  # downloads at native size


def test_enrich_and_vary(client):
    from gradio_client import handle_file

    out = gallery_images(client.predict(handle_file(str(EXAMPLE)), "auto", 1, *KNOBS.values(), api_name="/enrich"))
    assert out[0].size == (128, 128)
    out = gallery_images(client.predict(handle_file(str(EXAMPLE)), "auto", 0.3, 2, *KNOBS.values(),
                                        api_name="/vary"))
    assert len(out) == 2


def test_errors_come_back_as_messages(client):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    no_mask = {"background": handle_file(str(EXAMPLE)), "layers": [], "composite": None}
    with pytest.raises(AppError, match="no mask"):
        client.predict(no_mask, *masked_args("c1"), api_name="/inpaint")
    with pytest.raises(AppError, match="maximum|samples"):
        client.predict("c1", 99, *KNOBS.values(), api_name="/generate")
    # the server is still serving
    assert len(gallery_images(client.predict("c1", 1, *KNOBS.values(), api_name="/generate"))) == 1
