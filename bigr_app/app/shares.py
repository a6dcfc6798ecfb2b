"""Fair shares of a server: each user may have a few requests in progress at once (waiting to share a batch, or
sampling); the next is refused with a message instead of queueing behind everyone else's."""
from __future__ import annotations

import contextlib
import threading
from collections import Counter
from typing import Iterator

from ..errors import InputError


class UserShares:
    """At most `limit` requests in progress per user (None: no limit)."""

    def __init__(self, limit: int | None = None):
        self.limit = limit
        self.in_progress: Counter[str] = Counter()
        self.lock = threading.Lock()

    @contextlib.contextmanager
    def hold(self, user: str | None) -> Iterator[None]:
        """One request of `user` in progress while inside (None: the local user, not counted)."""
        if user is None or self.limit is None:
            yield
            return
        with self.lock:
            if self.in_progress[user] >= self.limit:
                raise InputError(f"you already have {self.in_progress[user]} requests in progress, the most one user "
                                 "may have on this server: wait for one of them to finish")
            self.in_progress[user] += 1
        try:
            yield
        finally:
            with self.lock:
                self.in_progress[user] -= 1
                if not self.in_progress[user]:
                    del self.in_progress[user]
