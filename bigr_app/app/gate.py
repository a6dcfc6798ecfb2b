"""The door in front of the app (an ASGI middleware on gradio's FastAPI app): with accounts, every route but the
login, the page shell and its static files answers 401 without a valid login cookie, whatever its arguments
(gradio checks some routes' arguments before their login); a user downloads only the files they were handed; and
every response carries security headers.
(gradio itself serves an uploaded file that is not a picture, SVG or HTML say, only as a download: tested.)"""
from __future__ import annotations

import json
import re
import threading
import time
import urllib.parse
from http.cookies import SimpleCookie
from typing import Any, Callable

PUBLIC_PATHS = frozenset({
    "/", "/login", "/login/", "/logout",  # the page shell (it shows the login form) and logging in and out
    "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json",  # the shell's own files, the same for everyone
    "/gradio_api/startup-events",  # gradio calls it on itself while it starts (once; it does nothing later)
})
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")  # gradio's front-end bundle
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"SAMEORIGIN"),
    (b"content-security-policy", b"frame-ancestors 'self'; object-src 'none'; base-uri 'self'"),
    (b"referrer-policy", b"same-origin"),
]


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def logged_in_user(scope: dict[str, Any]) -> str | None:
    """The user whose gradio login cookie the request carries (gradio keeps its tokens on the app)."""
    app = scope.get("app")
    header = b"; ".join(v for k, v in scope.get("headers", []) if k == b"cookie").decode("latin-1")
    if app is None or not header:
        return None
    cookies = SimpleCookie()
    try:
        cookies.load(header)
    except Exception:  # noqa: BLE001 - a malformed cookie header is no login
        return None
    for name in (f"access-token-{app.cookie_id}", f"access-token-unsecure-{app.cookie_id}"):
        if name in cookies and cookies[name].value in app.tokens:
            return app.tokens[cookies[name].value]
    return None


FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")


def served_file(path: str) -> str | None:
    """The server path a file route asks for (None: not a file route)."""
    for route in FILE_ROUTES:
        if path.startswith(route):
            return urllib.parse.unquote(path[len(route):])
    return None


class HandedFiles:
    """The server's files each user was handed: named in a response to them (an upload's answer, a result, the
    page's configuration). gradio serves a file of its cache to whoever asks for its path; behind the gate a user
    gets only those, so another user's picture answers 404 even at its exact URL."""

    KEEP_S = 3 * 3600  # longer than gradio keeps a cached file (the page's delete_cache)
    NAMED = re.compile(rb'"(/[^"]+)"|/gradio_api/file=([^"\s]+)')  # a quoted absolute path, or a file URL's
    TEXT = (b"application/json", b"text/event-stream", b"text/html")

    def __init__(self):
        self.given: dict[tuple[str, str], float] = {}  # (user, path) -> when
        self.lock = threading.Lock()
        self.pruned = time.monotonic()

    def note(self, user: str, body: bytes) -> None:
        now = time.monotonic()
        found = {urllib.parse.unquote(m.decode("utf-8", "replace"))
                 for pair in self.NAMED.findall(body) for m in pair if m}
        with self.lock:
            self.given.update({(user, path): now for path in found})
            if now - self.pruned > 600:
                self.given = {k: t for k, t in self.given.items() if now - t < self.KEEP_S}
                self.pruned = now

    def handed(self, user: str, path: str) -> bool:
        with self.lock:
            return (user, path) in self.given

    def watch(self, user: str, send: Callable) -> Callable:
        """`send` for a response to `user`, noting the files its text names (a name split across two chunks of
        the body is found whole: each chunk is read with the end of the one before)."""
        state = {"text": False, "tail": b""}

        async def watched(message):
            if message["type"] == "http.response.start":
                kind = dict((k.lower(), v) for k, v in message.get("headers", [])).get(b"content-type", b"")
                state["text"] = kind.startswith(self.TEXT)
            elif message["type"] == "http.response.body" and state["text"]:
                chunk = state["tail"] + message.get("body", b"")
                self.note(user, chunk)
                state["tail"] = chunk[-1024:]
            await send(message)

        return watched


class LoginThrottle:
    """At most LIMIT failed logins per client address in WINDOW_S seconds; beyond, its logins are refused (429)
    until the window has passed. (Each name is also locked after a few wrong passwords: `accounts.Accounts`; this
    stops one address trying many names.) Behind a reverse proxy on this machine the address is the client's:
    uvicorn reads X-Forwarded-For from 127.0.0.1."""

    LIMIT, WINDOW_S = 10, 60.0

    def __init__(self):
        self.failures: dict[str, list[float]] = {}
        self.lock = threading.Lock()

    def recent(self, address: str) -> list[float]:
        now = time.monotonic()
        kept = [t for t in self.failures.get(address, []) if now - t < self.WINDOW_S]
        if kept:
            self.failures[address] = kept
        else:
            self.failures.pop(address, None)
        return kept

    def blocked(self, address: str) -> bool:
        with self.lock:
            return len(self.recent(address)) >= self.LIMIT

    def failed(self, address: str) -> None:
        with self.lock:
            self.failures[address] = [*self.recent(address), time.monotonic()]


LOGIN_PATHS = ("/login", "/login/")


class Gate:
    """`locked`: whether a login is required (a server with accounts); a logged-in user downloads a file of the
    server if it was handed to them (see `HandedFiles`), or if `may_read(user, path)` (a result of theirs in the
    outputs folder, say); else 404, as for a file that is not there."""

    def __init__(self, app: Callable, locked: bool = False, may_read: Callable[[str, str], bool] | None = None,
                 limits: dict[str, int] | None = None):
        self.app, self.locked, self.may_read = app, locked, may_read
        self.limits = limits or {}  # path prefix -> the largest request body taken there, read before any of it
        self.handed = HandedFiles()
        self.logins = LoginThrottle()

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        user = logged_in_user(scope) if self.locked else None
        if self.locked and path in LOGIN_PATHS and scope.get("method") == "POST":
            return await self.login(scope, receive, send)
        if self.locked and not is_public(path):
            if user is None:
                return await refuse(scope, send)
            wanted = served_file(path)
            if wanted is not None and not self.may_download(user, wanted):
                return await refuse(scope, send, 404, "no such file")

        too_large = self.too_large(scope, path)
        if too_large:
            return await refuse(scope, send, *too_large)
        headed = with_headers(send)
        return await self.app(scope, receive, self.handed.watch(user, headed) if user else headed)

    def too_large(self, scope, path: str) -> tuple[int, str] | None:
        """(status, why) for a body this route does not take, judged by its declared length before it is read (a
        body sent in chunks, with no length, is refused: every HTTP client gives the length of a JSON body)."""
        limit = next((n for prefix, n in self.limits.items() if path.startswith(prefix)), None)
        if limit is None or scope["type"] != "http":
            return None
        headers = dict(scope.get("headers", []))
        declared = headers.get(b"content-length")
        if declared is None:
            return (411, "send the body with its Content-Length") if b"transfer-encoding" in headers else None
        if not declared.isdigit():
            return 400, "a Content-Length that is not a number"
        if int(declared) > limit:
            return 413, f"the request is over {limit / 2**20:.0f} MB, the most this server takes"
        return None

    async def login(self, scope, receive, send):
        """gradio's login, refused for an address with too many failures (each failure counted)."""
        address = (scope.get("client") or ("?",))[0]
        if self.logins.blocked(address):
            return await refuse(scope, send, 429, "too many failed logins from your address: wait a minute")

        headed = with_headers(send)

        async def counted(message):
            if message["type"] == "http.response.start" and message["status"] >= 400:
                self.logins.failed(address)
            await headed(message)

        return await self.app(scope, receive, counted)

    def may_download(self, user: str, path: str) -> bool:
        return self.handed.handed(user, path) or (self.may_read is not None and self.may_read(user, path))


def with_headers(send: Callable) -> Callable:
    """`send` adding the security headers to a response, its login cookie SameSite=Lax."""

    async def headed(message):
        if message["type"] == "http.response.start":
            headers = [(k, same_site_lax(v) if k.lower() == b"set-cookie" else v)
                       for k, v in message.get("headers", [])]
            present = {k.lower() for k, _ in headers}
            message["headers"] = headers + [h for h in SECURITY_HEADERS if h[0] not in present]
        await send(message)

    return headed


def same_site_lax(cookie: bytes) -> bytes:
    """gradio marks its login cookie SameSite=none (for pages embedded in other sites); this app is never
    embedded (frame-ancestors 'self'), so the cookie goes to no other site's requests."""
    return cookie.replace(b"SameSite=none", b"SameSite=lax").replace(b"samesite=none", b"samesite=lax")


async def refuse(scope, send, status: int = 401, error: str = "Not authenticated") -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4000 + status})
        return
    body = json.dumps({"detail": {"error": error, "auth_message": "log in first" if status == 401 else None}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
