"""Results kept on disk: `DIR/<date>/<task>-<counter>-<seed>.png`, each written whole or not at all, with its
parameters embedded, and a row in the history index (`history`)."""
from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from PIL import Image

from .history import Entry, History
from .saving import save_png

NAME = re.compile(r"^[a-z-]+-(\d+)-")


class Outputs:
    """The outputs folder `root` and its history. Safe to share between threads: each picture gets its own
    counter, the next after the highest in its date's folder."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.history = History(self.root)
        self.lock = threading.Lock()
        self.counters: dict[str, int] = {}
        self.sweep_parts()

    def sweep_parts(self, older_than: float = 600.0) -> list[Path]:
        """Remove the hidden `.part` files that a save killed midway left (`saving.atomic_write`): those not touched
        for `older_than` seconds, so that a save under way in another process is left alone."""
        stale = [p for p in self.root.glob("*/.*.part") if time.time() - p.stat().st_mtime > older_than]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def save(self, images: list[Image.Image], params: list[dict], owner: str | None = None) -> list[Entry]:
        """Each picture with its own parameters (`saving.picture_params`), indexed; `owner`: the browser."""
        entries = []
        for image, p in zip(images, params, strict=True):
            path = self.next_path(str(p.get("task", "result")), p.get("seed"))
            save_png(image, path, p, sidecar={"owner": owner} if owner else None)
            entries.append(self.history.add(path, p, owner))
        return entries

    def next_path(self, task: str, seed) -> Path:
        day = time.strftime("%Y-%m-%d")
        folder = self.root / day
        with self.lock:
            if day not in self.counters:
                folder.mkdir(parents=True, exist_ok=True)
                found = [int(m.group(1)) for f in folder.glob("*.png") if (m := NAME.match(f.name))]
                self.counters[day] = max(found, default=0)
            self.counters[day] += 1
            counter = self.counters[day]
        seed_part = seed if isinstance(seed, int) and not isinstance(seed, bool) else "x"
        return folder / f"{task}-{counter:05d}-{seed_part}.png"
