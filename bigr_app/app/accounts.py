"""Who may use a server: users with salted scrypt password hashes (never the passwords), from `--auth NAME:PASSWORD`
flags and an `--auth-file` that `bigr-studio add-user NAME` writes; the check the login page calls, with failed
attempts slowed down per name."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError

SCRYPT = dict(n=2**14, r=8, p=1)  # about 50 ms and 16 MiB per check: cheap for a login, costly for a guesser
MAX_FAILURES, LOCKOUT_S = 5, 60.0  # failures in a row before a name is refused for a while


def hash_password(password: str, salt: bytes | None = None, n: int = SCRYPT["n"], r: int = SCRYPT["r"],
                  p: int = SCRYPT["p"]) -> str:
    """The stored form: scrypt$n$r$p$salt$hash (base64)."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024, dklen=32)
    return "$".join(["scrypt", str(n), str(r), str(p), base64.b64encode(salt).decode(), base64.b64encode(digest).decode()])


def password_matches(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, _ = stored.split("$")
        if kind != "scrypt":
            return False
        again = hash_password(password, base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:
        return False
    return hmac.compare_digest(again, stored)


def check_name(name: str) -> str:
    if not name or any(c in name for c in ":\n\r\t ") or len(name) > 64:
        raise InputError(f"a user name is 1 to 64 characters without spaces or ':', got {name!r}")
    return name


def read_auth_file(path: Path) -> dict[str, str]:
    """NAME:HASH lines (blank lines and # comments skipped)."""
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise InputError(f"cannot read the users file {path}: {e.strerror}") from None
    users = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, stored = line.partition(":")
        if not stored.startswith("scrypt$"):
            raise InputError(f"{path}, line {number}: not NAME:scrypt$... (add users with `bigr-studio add-user`)")
        users[check_name(name)] = stored
    return users


def add_user(path: Path, name: str, password: str) -> None:
    """Add or replace `name` in the users file, written whole (by rename), readable by its owner only."""
    if len(password) < 8:
        raise InputError("a password needs at least 8 characters")
    users = read_auth_file(path) if Path(path).exists() else {}
    users[check_name(name)] = hash_password(password)
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("# bigr-studio users: NAME:scrypt hash. Add or change one with `bigr-studio add-user NAME`.\n")
        f.writelines(f"{n}:{h}\n" for n, h in sorted(users.items()))
    tmp.replace(path)


@dataclass
class Accounts:
    """The users a server lets in. `check(name, password)` is what the login calls."""
    users: dict[str, str] = field(default_factory=dict)  # name -> stored hash
    failures: dict[str, tuple[int, float]] = field(default_factory=dict)  # name -> (failures in a row, last one)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_flags(cls, pairs: list[str] | None, auth_file: Path | None) -> "Accounts":
        users = read_auth_file(auth_file) if auth_file is not None else {}
        for pair in pairs or []:
            name, sep, password = pair.partition(":")
            if not sep or not password:
                raise InputError(f"--auth takes NAME:PASSWORD, got {pair!r}")
            users[check_name(name)] = hash_password(password)
        return cls(users)

    def __bool__(self) -> bool:
        return bool(self.users)

    def check(self, name: str, password: str) -> bool:
        """True for a known name with its password. After MAX_FAILURES wrong tries in a row a name is refused,
        right password or not, until LOCKOUT_S seconds have passed since the last try."""
        now = time.monotonic()
        with self.lock:
            count, last = self.failures.get(name, (0, 0.0))
            if count >= MAX_FAILURES:
                if now - last < LOCKOUT_S:
                    self.failures[name] = (count, now)
                    return False
                count = 0  # the lockout is over
        stored = self.users.get(name)
        ok = stored is not None and password_matches(password, stored)
        if stored is None:
            password_matches(password, hash_password("", b"\0" * 16))  # the same time for an unknown name
        with self.lock:
            if ok:
                self.failures.pop(name, None)
            else:
                self.failures[name] = (count + 1, now)
        return ok
