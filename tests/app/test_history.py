"""Results on disk and their history: atomic saves, an index rebuilt from the files, damaged databases, filters and
paging, edit chains, per-owner rows, and the folder the server picks."""
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bigr_app.app.cli import main as cli_main
from bigr_app.app.history import DATABASE, SOURCE_KEY, Filters, History, file_hash
from bigr_app.app.outputs import Outputs
from bigr_app.app.saving import read_params
from bigr_app.app.serve import outputs_folder, parse_args
from bigr_app.tasks import InpaintRequest, Sampling

from .conftest import served

ROOT = Path(__file__).resolve().parents[2]


QUICK = Sampling(iterations=2, diffusion_steps=2)


def picture(seed: int, size=(24, 16)) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))


def params(task="generate", seed=0, **more) -> dict:
    return {"task": task, "seed": seed, "model": "emoji", "class_id": "hearts", **more}


def rows(history: History, owner=None) -> list[tuple]:
    entries, _ = history.page(Filters(owner=owner), per_page=1000)
    return sorted((e.path.name, e.task, e.model, e.class_name, e.seed, json.dumps(e.params, sort_keys=True), e.width,
                   e.height, e.hash, e.source_hash, e.owner, e.starred) for e in entries)


def test_results_are_named_by_date_task_counter_and_seed_with_their_parameters(tmp_path):
    outputs = Outputs(tmp_path)
    entries = outputs.save([picture(0), picture(1)], [params(seed=7), params("inpaint", seed=8)])
    day = time.strftime("%Y-%m-%d")
    assert [e.path.relative_to(tmp_path).as_posix() for e in entries] == [f"{day}/generate-00001-7.png",
                                                                          f"{day}/inpaint-00002-8.png"]
    assert read_params(entries[1].path) == params("inpaint", seed=8)
    assert Outputs(tmp_path).next_path("vary", 3).name == "vary-00003-3.png"  # a new server counts on


WRITER = """
import sys, numpy as np
from pathlib import Path
from PIL import Image
from bigr_app.app.saving import save_png
big = Image.fromarray(np.random.default_rng(0).integers(0, 255, (2000, 2000, 3), dtype=np.uint8))
print("ready", flush=True)
for i in range(1000):
    save_png(big, Path(sys.argv[1]) / f"generate-{i:05d}-0.png", {"task": "generate", "seed": 0})
"""


def test_a_writer_killed_mid_save_leaves_no_partial_picture(tmp_path):
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    assert writer.stdout.readline().strip() == "ready"
    deadline = time.time() + 60
    while not list(tmp_path.glob(".*.part")) and time.time() < deadline:  # caught in the middle of a picture
        time.sleep(0.01)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    assert list(tmp_path.glob(".*.part")), "the writer was not stopped mid-save"
    for path in tmp_path.glob("*.png"):  # what a listing shows is whole
        with Image.open(path) as im:
            im.load()
        assert read_params(path)["task"] == "generate"
    for path in tmp_path.glob("*.json"):
        json.loads(path.read_text())
    history = History(tmp_path)
    assert history.page()[1] == len(list(tmp_path.glob("*.png")))  # the half-written file is not indexed


def test_the_index_matches_the_folder_after_a_rebuild(tmp_path):
    outputs = Outputs(tmp_path)
    made = outputs.save([picture(i) for i in range(3)], [params(seed=i) for i in range(3)])
    edit = outputs.save([picture(9)], [params("inpaint", seed=4, **{SOURCE_KEY: made[0].hash})], owner="browser-a")
    outputs.history.star(made[1].id, True)
    (tmp_path / "notes.png").write_bytes(b"not a picture")  # skipped, not fatal
    before_local, before_a = rows(outputs.history), rows(outputs.history, "browser-a")
    outputs.history.close()
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / (DATABASE + suffix)).unlink(missing_ok=True)
    rebuilt = History(tmp_path)  # a missing database is built from the pictures
    assert rows(rebuilt) == before_local and rows(rebuilt, "browser-a") == before_a
    assert len(before_local) == 3 and before_a[0][9] == made[0].hash and edit[0].owner == "browser-a"
    assert [e.starred for e in rebuilt.page(per_page=10)[0]] == [False, True, False]  # the star is in the files

    assert cli_main(["index-outputs", str(tmp_path)]) == 0  # `bigr index-outputs DIR`
    assert rows(History(tmp_path)) == before_local


def test_a_damaged_database_is_rebuilt_with_a_message(tmp_path, caplog):
    outputs = Outputs(tmp_path)
    outputs.save([picture(0), picture(1)], [params(seed=0), params(seed=1)])
    outputs.history.close()
    for suffix in ("-wal", "-shm"):
        (tmp_path / (DATABASE + suffix)).unlink(missing_ok=True)
    (tmp_path / DATABASE).write_bytes(b"\x00garbage" * 512)
    with caplog.at_level(logging.WARNING, logger="bigr_app.app.history"):
        history = History(tmp_path)
    assert history.page()[1] == 2
    assert "damaged" in caplog.text and "rebuilt" in caplog.text
    assert list(tmp_path.glob(DATABASE + ".damaged-*"))  # kept aside, not deleted


def test_filters_and_pages_newest_first(tmp_path):
    history = Outputs(tmp_path).history
    day = 86400.0
    for i in range(30):
        path = tmp_path / f"p{i:02d}.png"
        p = params("generate" if i % 3 else "inpaint", seed=i, class_id=["hearts", "flags"][i % 2],
                   model="emoji" if i < 20 else "BiGR-L-d24")
        picture(i).save(path)
        history.add(path, p, created=1_000_000.0 + i * day / 4, owner="b" if i == 29 else None)
    history.star(history.page(Filters(), per_page=1)[0][0].id, True)

    first, total = history.page(Filters(), page=0, per_page=7)
    assert total == 29 and [e.seed for e in first] == list(range(28, 21, -1))  # newest first; not b's picture
    last, _ = history.page(Filters(), page=4, per_page=7)
    assert [e.seed for e in last] == [0]
    assert history.page(Filters(), page=5, per_page=7)[0] == []

    def seeds(**f):
        return [e.seed for e in history.page(Filters(**f), per_page=100)[0]]

    assert seeds(task="inpaint") == [27, 24, 21, 18, 15, 12, 9, 6, 3, 0]
    assert seeds(class_name="flags", model="BiGR-L-d24") == [27, 25, 23, 21]
    assert seeds(starred=True) == [28]
    assert seeds(since=1_000_000.0 + day, until=1_000_000.0 + 2 * day) == [7, 6, 5, 4]
    assert seeds(owner="b") == [29]
    assert history.choices("model") == ["BiGR-L-d24", "emoji"]


def test_edit_chains_delete_and_owners(tmp_path):
    outputs = Outputs(tmp_path)
    (start,) = outputs.save([picture(0)], [params(seed=1)])
    (first,) = outputs.save([picture(1)], [params("inpaint", seed=2, **{SOURCE_KEY: file_hash(start.path)})])
    (second,) = outputs.save([picture(2)], [params("edit", seed=3, **{SOURCE_KEY: first.hash})])
    (other,) = outputs.save([picture(3)], [params("inpaint", seed=4, **{SOURCE_KEY: start.hash})])
    history = outputs.history
    assert [e.id for e in history.chain(first.id)] == [start.id, first.id, second.id]
    assert [e.id for e in history.chain(second.id)] == [start.id, first.id, second.id]
    assert [e.id for e in history.chain(start.id)] == [start.id, first.id, other.id]

    with pytest.raises(Exception, match="no longer in the history"):
        history.delete(first.id, owner="someone else")  # a browser deletes only its own pictures
    history.delete(first.id)
    assert not first.path.exists() and not first.path.with_suffix(".json").exists()
    assert history.page()[1] == 3 and [e.id for e in history.chain(second.id)] == [second.id]


def test_results_are_kept_for_a_local_user_and_not_on_a_shared_server(tmp_path):
    assert outputs_folder(parse_args([])) == Path("outputs")
    assert outputs_folder(parse_args(["--host", "0.0.0.0"])) is None
    assert outputs_folder(parse_args(["--share"])) is None
    assert outputs_folder(parse_args(["--host", "0.0.0.0", "--outputs", str(tmp_path)])) == tmp_path
    assert outputs_folder(parse_args(["--no-outputs"])) is None


def test_the_app_keeps_results_in_the_outputs_folder_and_edits_name_their_source(tiny_engine, tmp_path):
    from gradio_client import Client

    from bigr_app.app.ui import build_ui
    from bigr_app.app.ui.studio import Studio

    outputs = Outputs(tmp_path / "outputs")
    with served(build_ui(tiny_engine, outputs=outputs), allowed_paths=[str(outputs.root)]) as url:
        _, files = Client(url + "/", verbose=False).predict("(unconditional)", 2, 5, 3.0, 3, 0.0, 4,
                                                            api_name="/generate")
    entries, total = outputs.history.page()
    assert total == 2 and sorted(e.path.name for e in entries) == ["generate-00001-5.png", "generate-00002-6.png"]
    assert sorted(Path(f).read_bytes() for f in files) == sorted(e.path.read_bytes() for e in entries)

    studio = Studio(tiny_engine, outputs=outputs)  # an edit of the first picture, as the Inpaint tab runs it
    source = entries[-1]
    studio.run(InpaintRequest(picture=Image.open(source.path), mask=np.ones((32, 32), bool), seed=1, sampling=QUICK,
                              source_sha256=file_hash(source.path)), None)
    edit = outputs.history.page(Filters(task="inpaint"))[0][0]
    assert edit.source_hash == source.hash and read_params(edit.path)[SOURCE_KEY] == source.hash
    assert [e.id for e in outputs.history.chain(edit.id)] == [source.id, edit.id]


def test_enrich_and_vary_record_the_picture_they_started_from(tiny_engine, tmp_path):
    """The Enrich & vary tab hands the uploaded file itself to its actions: the results name its hash, and History
    chains them to it."""
    from bigr_app.app.ui.enrich import EnrichActions
    from bigr_app.app.ui.requests import Sampling
    from bigr_app.app.ui.studio import Studio

    outputs = Outputs(tmp_path / "outputs")
    studio = Studio(tiny_engine, outputs=outputs)
    (made,) = outputs.save([picture(3)], [{"task": "generate", "seed": 3}])
    actions, sampling = EnrichActions(studio), Sampling.read(0, 3.0, 3, 0.0, 4)
    with studio.pool.request():
        actions.vary(str(made.path), "auto", 0.3, sampling)
        actions.enrich(str(made.path), "auto", 1, sampling)
    for task in ("vary", "enrich"):
        (entry,), _ = outputs.history.page(Filters(task=task))
        assert entry.source_hash == made.hash
    assert len(outputs.history.chain(made.id)) == 3


def test_a_picture_removed_by_hand_leaves_the_history_page(tiny_engine, tmp_path):
    from bigr_app.app.ui.history import HistoryActions
    from bigr_app.app.ui.studio import Studio

    outputs = Outputs(tmp_path)
    kept, removed = outputs.save([picture(0), picture(1)], [params(seed=0), params(seed=1)])
    removed.path.unlink()
    gallery, ids, line, *_ = HistoryActions(Studio(tiny_engine, outputs=outputs)).show(None, None, None, False,
                                                                                       None, 0)
    assert ids == [kept.id] and line.startswith("Page 1 of 1 · 1 picture") and len(gallery) == 1
    assert outputs.history.page()[1] == 1


def test_a_stale_part_left_by_a_killed_save_is_swept_at_start_and_a_fresh_one_is_left(tmp_path):
    day = tmp_path / "2026-01-01"
    day.mkdir(parents=True)
    stale, fresh = day / ".generate-00001-0.png.1a2b3c4d.part", day / ".generate-00002-0.png.5e6f7a8b.part"
    stale.write_bytes(b"")
    fresh.write_bytes(b"")
    an_hour_ago = time.time() - 3600
    os.utime(stale, (an_hour_ago, an_hour_ago))
    Outputs(tmp_path)
    assert not stale.exists() and fresh.exists()  # a save under way in another process is left alone


def test_history_without_an_outputs_folder_offers_no_actions(tiny_engine, tmp_path):
    from bigr_app.app.ui.page import build_ui

    def buttons(demo) -> dict:
        return {b.elem_id: b.interactive for b in demo.blocks.values()
                if b.elem_id in ("history-restore", "history-star", "history-delete")}

    assert buttons(build_ui(tiny_engine, outputs=None)) == dict.fromkeys(
        ("history-restore", "history-star", "history-delete"), False)
    kept = buttons(build_ui(tiny_engine, outputs=Outputs(tmp_path)))
    assert len(kept) == 3 and all(v is not False for v in kept.values())


def test_a_thumbnail_is_never_seen_half_written(tmp_path):
    """Two pages loading History at once made the same thumbnail together, and one served the other's half-written
    file ("Too little data for declared Content-Length")."""
    import threading

    from bigr_app.app.ui.history import thumbnail

    outputs = Outputs(tmp_path)
    noise = np.random.default_rng(0).integers(0, 255, (512, 512, 3), dtype=np.uint8)
    (entry,) = outputs.save([Image.fromarray(noise)], [params()])
    thumbs = tmp_path / ".thumbs"
    torn = []
    for _ in range(60):
        for f in thumbs.glob("*.png"):
            f.unlink()
        writer = threading.Thread(target=thumbnail, args=(entry, thumbs))
        writer.start()
        while writer.is_alive() or not list(thumbs.glob("*.png")):
            for f in thumbs.glob("*.png"):
                try:
                    with Image.open(f) as im:
                        im.load()
                except (OSError, SyntaxError):
                    torn.append(f.stat().st_size if f.exists() else 0)
        writer.join()
    assert not torn, f"{len(torn)} half-written thumbnails seen"
