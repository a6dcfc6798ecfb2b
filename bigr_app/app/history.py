"""The index of what was made: one SQLite row per saved picture (WAL mode, the standard library's `sqlite3`).

The pictures are the truth: every row can be rebuilt from the folder (`History.rebuild`), since each PNG carries
its parameters and its JSON sidecar its owner and star. A missing or damaged database file is rebuilt, with a message.
Edits record the content hash of the picture they started from, so an edit chain can be followed from any of its
pictures.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..errors import InputError
from ..tasks import SOURCE_KEY  # in an edit's parameters
from .saving import atomic_write, read_params

log = logging.getLogger(__name__)

DATABASE = "history.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS pictures (
    id INTEGER PRIMARY KEY,
    path TEXT UNIQUE NOT NULL,          -- relative to the outputs folder
    task TEXT NOT NULL,
    model TEXT,
    class TEXT,
    seed INTEGER,
    params TEXT NOT NULL,               -- JSON, as embedded in the PNG
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    created REAL NOT NULL,              -- seconds since the epoch
    hash TEXT NOT NULL,                 -- of the PNG file's bytes
    source_hash TEXT,                   -- of the picture an edit started from
    owner TEXT,                         -- the browser that made it (none: the local user)
    starred INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS by_created ON pictures (owner, created DESC, id DESC);
CREATE INDEX IF NOT EXISTS by_hash ON pictures (hash);
CREATE INDEX IF NOT EXISTS by_source ON pictures (source_hash);
"""
COLUMNS = ("id", "path", "task", "model", "class", "seed", "params", "width", "height", "created", "hash",
           "source_hash", "owner", "starred")


def file_hash(path: Path) -> str:
    """The content hash that links an edit to its source: sha256 of the file's bytes, 16 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    """A row of the history."""
    id: int
    path: Path  # absolute
    task: str
    model: str | None
    class_name: str | None
    seed: int | None
    params: dict
    width: int
    height: int
    created: float
    hash: str
    source_hash: str | None
    owner: str | None
    starred: bool


class Everyone:
    """In place of an owner: every owner's rows (an admin's view)."""

    def __repr__(self) -> str:
        return "EVERYONE"


EVERYONE = Everyone()
Owner = str | None | Everyone  # a browser's key, a user ("user:NAME"), None: the local user; or EVERYONE


def owned_by(owner: Owner) -> tuple[str, list]:
    """The SQL condition (and its values) for `owner`'s rows."""
    return ("1", []) if owner is EVERYONE else ("owner IS ?", [owner])


@dataclass(frozen=True)
class Filters:
    """What a history page shows; None: any. `since`/`until`: seconds since the epoch, `until` excluded."""
    owner: Owner = None
    task: str | None = None
    class_name: str | None = None
    model: str | None = None
    starred: bool | None = None
    since: float | None = None
    until: float | None = None

    def where(self) -> tuple[str, list]:
        clause, values = owned_by(self.owner)
        clauses = [clause]
        for column, value in (("task", self.task), ("class", self.class_name), ("model", self.model)):
            if value is not None:
                clauses.append(f"{column} = ?")
                values.append(value)
        if self.starred is not None:
            clauses.append("starred = ?")
            values.append(int(self.starred))
        if self.since is not None:
            clauses.append("created >= ?")
            values.append(self.since)
        if self.until is not None:
            clauses.append("created < ?")
            values.append(self.until)
        return " AND ".join(clauses), values


def row_values(root: Path, path: Path, params: dict, owner: str | None, created: float) -> dict:
    """A row for the picture at `path` (written), from its parameters."""
    with Image.open(path) as im:
        width, height = im.size
    class_name = params.get("class_id", params.get("class_a"))
    seed = params.get("seed")
    return dict(path=path.relative_to(root).as_posix(), task=str(params.get("task", "")), model=params.get("model"),
                **{"class": None if class_name is None else str(class_name)},
                seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
                params=json.dumps(params, default=str), width=width, height=height, created=created,
                hash=file_hash(path), source_hash=params.get(SOURCE_KEY), owner=owner, starred=0)


class History:
    """The index of the pictures under `root`, in `root/history.sqlite`. Safe to share between threads."""

    def __init__(self, root: Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.file = self.root / DATABASE
        self.lock = threading.Lock()
        self.db = self.open()

    # ---- the database file ------------------------------------------------------------------
    def open(self) -> sqlite3.Connection:
        """The database; a missing one is built from the pictures, a damaged one set aside and rebuilt."""
        fresh = not self.file.exists()
        try:
            db = self.connect()
            db.execute("SELECT count(*) FROM pictures").fetchone()
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise sqlite3.DatabaseError("quick_check failed")
        except sqlite3.DatabaseError as e:
            damaged = self.file.with_name(f"{self.file.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            log.warning("the history index %s is damaged (%s): set aside as %s and rebuilt from the pictures",
                        self.file, e, damaged.name)
            for suffix in ("", "-wal", "-shm"):
                part = self.file.with_name(self.file.name + suffix)
                if part.exists():
                    part.replace(damaged.with_name(damaged.name + suffix))
            db, fresh = self.connect(), True
        if fresh:
            self.db = db
            count = self.rebuild()
            if count:
                log.info("history index built from %d pictures in %s", count, self.root)
        return db

    def connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.file, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(SCHEMA)
        return db

    def rebuild(self) -> int:
        """Every row anew from the PNGs under the folder (their parameters, sidecars and file times); pictures
        without BiGR Studio parameters are skipped. Returns the rows written."""
        rows = []
        for path in sorted(self.root.rglob("*.png")):
            if any(part.startswith(".") for part in path.relative_to(self.root).parts):
                continue  # a write in progress (saving.atomic_write), or the thumbnails
            try:
                params = read_params(path)
                sidecar = read_sidecar(path)
                owner = sidecar.get("owner") if isinstance(sidecar.get("owner"), str) else None
                row = row_values(self.root, path, params, owner, path.stat().st_mtime)
                rows.append({**row, "starred": int(sidecar.get("starred") is True)})
            except (InputError, OSError) as e:
                log.info("history: skipped %s (%s)", path.name, e)
        with self.lock:
            self.db.execute("BEGIN")
            self.db.execute("DELETE FROM pictures")
            for row in rows:
                self.insert(row)
            self.db.execute("COMMIT")
        return len(rows)

    def insert(self, row: dict) -> int:
        names = ", ".join(f'"{k}"' for k in row)
        cursor = self.db.execute(f"INSERT OR REPLACE INTO pictures ({names}) VALUES ({', '.join('?' * len(row))})",
                                 list(row.values()))
        return cursor.lastrowid

    # ---- rows -------------------------------------------------------------------------------
    def add(self, path: Path, params: dict, owner: str | None = None, created: float | None = None) -> Entry:
        """The row of a picture just written under the folder."""
        row = row_values(self.root, Path(path).resolve(), params, owner, time.time() if created is None else created)
        with self.lock:
            entry_id = self.insert(row)
        return self.entry(entry_id)

    def page(self, filters: Filters = Filters(), page: int = 0, per_page: int = 24) -> tuple[list[Entry], int]:
        """Page `page` (from 0) of the rows `filters` picks, newest first, and how many it picks in all."""
        where, values = filters.where()
        with self.lock:
            total = self.db.execute(f"SELECT count(*) FROM pictures WHERE {where}", values).fetchone()[0]
            rows = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM pictures WHERE {where} "
                                   "ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                                   [*values, per_page, page * per_page]).fetchall()
        return [self.as_entry(r) for r in rows], total

    def choices(self, column: str, owner: Owner = None) -> list[str]:
        """The values a filter can take (task, class, model), among `owner`'s rows."""
        if column not in ("task", "class", "model"):
            raise InputError(f"no filter on {column!r}")
        mine, values = owned_by(owner)
        with self.lock:
            rows = self.db.execute(f'SELECT DISTINCT "{column}" FROM pictures WHERE {mine} AND "{column}" '
                                   f'IS NOT NULL ORDER BY 1', values).fetchall()
        return [r[0] for r in rows]

    def days(self, owner: Owner = None) -> list[str]:
        """The days (YYYY-MM-DD, local time) with pictures of `owner`'s, newest first."""
        mine, values = owned_by(owner)
        with self.lock:
            rows = self.db.execute("SELECT DISTINCT date(created, 'unixepoch', 'localtime') FROM pictures "
                                   f"WHERE {mine} ORDER BY 1 DESC", values).fetchall()
        return [r[0] for r in rows]

    def owners_of(self, path: Path) -> set[str | None]:
        """Whose picture a file under the root is: a picture's own, or a thumbnail's (named by the picture's hash,
        so possibly several owners'); empty for any other file (the database, sidecars, parts)."""
        relative = Path(path).relative_to(self.root)
        if relative.parts[:1] == (".thumbs",):
            query, value = "SELECT owner FROM pictures WHERE hash = ?", relative.stem
        else:
            query, value = "SELECT owner FROM pictures WHERE path = ?", relative.as_posix()
        with self.lock:
            return {row[0] for row in self.db.execute(query, [value]).fetchall()}

    def entry(self, entry_id: int, owner: Owner = EVERYONE) -> Entry:
        """A picture of `owner`'s (to anyone else, as if it were not there)."""
        with self.lock:
            row = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM pictures WHERE id = ?", [entry_id]).fetchone()
        if row is None or (owner is not EVERYONE and row[COLUMNS.index("owner")] != owner):
            raise InputError("that picture is no longer in the history")
        return self.as_entry(row)

    def star(self, entry_id: int, starred: bool, owner: Owner = None) -> Entry:
        """Star or unstar a picture: in its sidecar (so a rebuild keeps it) and its row."""
        entry = self.entry(entry_id, owner)
        sidecar = entry.path.with_suffix(".json")
        with atomic_write(sidecar) as part:
            part.write_text(json.dumps({**(read_sidecar(entry.path) or entry.params), "starred": starred}, indent=2,
                                       default=str))
        with self.lock:
            self.db.execute("UPDATE pictures SET starred = ? WHERE id = ?", [int(starred), entry_id])
        return self.entry(entry_id)

    def delete(self, entry_id: int, owner: Owner = None) -> None:
        """The picture's file, its sidecar and its row, together."""
        entry = self.entry(entry_id, owner)
        entry.path.unlink(missing_ok=True)
        entry.path.with_suffix(".json").unlink(missing_ok=True)
        with self.lock:
            self.db.execute("DELETE FROM pictures WHERE id = ?", [entry_id])

    def chain(self, entry_id: int, owner: Owner = None) -> list[Entry]:
        """The edit chain through a picture: the pictures it was made from (oldest first), itself, and the
        pictures made from it."""
        entry = self.entry(entry_id, owner)
        before, seen = [], {entry.hash}
        source = entry.source_hash
        while source is not None and source not in seen:
            parents = self.by_hash(source, owner)
            if not parents:
                break
            seen.add(source)
            before.insert(0, parents[0])
            source = parents[0].source_hash
        mine, values = owned_by(owner)
        with self.lock:
            rows = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM pictures WHERE source_hash = ? AND {mine} "
                                   "ORDER BY created, id", [entry.hash, *values]).fetchall()
        return before + [entry] + [self.as_entry(r) for r in rows]

    def by_hash(self, content_hash: str, owner: Owner) -> list[Entry]:
        mine, values = owned_by(owner)
        with self.lock:
            rows = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM pictures WHERE hash = ? AND {mine} "
                                   "ORDER BY created, id", [content_hash, *values]).fetchall()
        return [self.as_entry(r) for r in rows]

    def as_entry(self, row: tuple) -> Entry:
        r = dict(zip(COLUMNS, row))
        return Entry(id=r["id"], path=self.root / r["path"], task=r["task"], model=r["model"], class_name=r["class"],
                     seed=r["seed"], params=json.loads(r["params"]), width=r["width"], height=r["height"],
                     created=r["created"], hash=r["hash"], source_hash=r["source_hash"], owner=r["owner"],
                     starred=bool(r["starred"]))

    def close(self) -> None:
        with self.lock:
            self.db.close()


def read_sidecar(path: Path) -> dict:
    """The JSON beside a picture: its parameters, and the owner and star, which stay out of the picture."""
    try:
        sidecar = json.loads(path.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return sidecar if isinstance(sidecar, dict) else {}
