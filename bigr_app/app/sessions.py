"""Whose a request is, and the files of each page session. No gradio here: a caller is anything with a `username`
and a `session_hash` (gradio's request, or a `Caller` the HTTP API makes)."""
from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .history import EVERYONE, Owner
from .outputs import Outputs


@dataclass(frozen=True)
class Caller:
    username: str | None = None
    session_hash: str | None = None


class Sessions:
    """Each page session's private folder (its pictures, and the results not kept in `outputs`), and whose results
    a request's are. `per_browser`: each browser has a history of its own (a server others reach); `per_user`: each
    logged-in user has their own (a server with accounts); else every result is the local user's; `admins` (with
    `per_user`) see every user's."""

    def __init__(self, outputs: Outputs | None = None, per_browser: bool = False, per_user: bool = False,
                 admins: frozenset[str] = frozenset()):
        self.outputs, self.per_browser, self.per_user, self.admins = outputs, per_browser, per_user, admins
        self.root = Path(tempfile.mkdtemp(prefix="bigr-studio-"))
        self.browsers: dict[str, str] = {}  # page session -> its browser's key (see `register_browser`)

    def folder(self, caller: Any, name: str) -> Path:
        """A folder of the page session's own (removed with the session)."""
        return self.root / (getattr(caller, "session_hash", None) or "local") / name

    def request_folder(self, caller: Any) -> Path:
        """A request's results folder, inside its session's (made now)."""
        folder = self.folder(caller, time.strftime("%Y%m%d-%H%M%S"))
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def forget(self, caller: Any) -> None:
        shutil.rmtree(self.folder(caller, ""), ignore_errors=True)
        self.browsers.pop(getattr(caller, "session_hash", None), None)

    @property
    def browser_secret(self) -> str:
        """Signs the browser keys kept in each browser's storage; kept with the outputs, so keys outlive a restart."""
        if self.outputs is None:
            return secrets.token_hex(16)
        path = self.outputs.root / ".browser-secret"
        if not path.is_file():
            path.write_text(secrets.token_hex(16))
        return path.read_text().strip()

    def register_browser(self, key: str | None, caller: Any) -> str:
        """At page load: the browser's key (made on its first visit), tied to this page session."""
        key = key if isinstance(key, str) and key else secrets.token_urlsafe(16)
        if getattr(caller, "session_hash", None):
            self.browsers[caller.session_hash] = key
        return key

    def owner(self, caller: Any) -> str | None:
        """Whose history a request's results join: the logged-in user's on a server with accounts, its browser's on
        a shared server without, else the local user's (None)."""
        if self.per_user:
            return f"user:{getattr(caller, 'username', None) or ''}"
        if not self.per_browser:
            return None
        return self.browsers.get(getattr(caller, "session_hash", None) or "")

    def viewer(self, caller: Any) -> Owner:
        """Whose results a request's History shows (and may star or delete): its owner's; an admin's, everyone's."""
        if self.per_user and getattr(caller, "username", None) in self.admins:
            return EVERYONE
        return self.owner(caller)
