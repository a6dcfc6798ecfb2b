"""The door in front of the app (an ASGI middleware on gradio's FastAPI app): with accounts, every route but the
login, the page shell and its static files answers 401 without a valid login cookie, whatever its arguments
(gradio checks some routes' arguments before their login); and every response carries security headers.
(gradio itself serves an uploaded file that is not a picture, SVG or HTML say, only as a download: tested.)"""
from __future__ import annotations

import json
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


class Gate:
    """`locked`: whether a login is required (a server with accounts). `may_read(user, path)`: whether a logged-in
    user may download a file of the server (a result of theirs); others get 404, as for a file that is not there."""

    def __init__(self, app: Callable, locked: bool = False, may_read: Callable[[str, str], bool] | None = None):
        self.app, self.locked, self.may_read = app, locked, may_read

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if self.locked and not is_public(path):
            user = logged_in_user(scope)
            if user is None:
                return await refuse(scope, send)
            wanted = served_file(path)
            if self.may_read is not None and wanted is not None and not self.may_read(user, wanted):
                return await refuse(scope, send, 404, "no such file")

        async def with_headers(message):
            if message["type"] == "http.response.start":
                headers = [(k, same_site_lax(v) if k.lower() == b"set-cookie" else v)
                           for k, v in message.get("headers", [])]
                present = {k.lower() for k, _ in headers}
                message["headers"] = headers + [h for h in SECURITY_HEADERS if h[0] not in present]
            await send(message)

        return await self.app(scope, receive, with_headers)


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
