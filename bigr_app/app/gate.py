"""The door in front of the app (an ASGI middleware on gradio's FastAPI app): with accounts, every route but the
login, the page shell and its static files answers 401 without a valid login cookie, whatever its arguments
(gradio checks some routes' arguments before their login); and every response carries security headers."""
from __future__ import annotations

import json
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


class Gate:
    """`locked`: whether a login is required (a server with accounts)."""

    def __init__(self, app: Callable, locked: bool = False):
        self.app, self.locked = app, locked

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        if self.locked and not is_public(path) and logged_in_user(scope) is None:
            return await refuse(scope, send)

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


async def refuse(scope, send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4401})
        return
    body = json.dumps({"detail": {"error": "Not authenticated", "auth_message": "log in first"}}).encode()
    await send({"type": "http.response.start", "status": 401,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS]})
    await send({"type": "http.response.body", "body": body})
