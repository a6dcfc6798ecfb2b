"""A server with accounts: every route of the app, listed from its FastAPI app, answers 401 without a login
(a route added later is covered by the gate, or fails here until it is); a login works from gradio_client and
over HTTP; the cookie is HttpOnly and SameSite; the security headers are on every response; each user's results
are theirs."""
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from bigr_app.app.gate import PUBLIC_PATHS, is_public
from bigr_app.app.history import EVERYONE, Filters

from .conftest import ADMINS, USERS, log_in


def routes(app):
    """(path, methods) of every route, through included routers and mounts."""
    def walk(items, prefix=""):
        for route in items:
            if type(route).__name__ == "_IncludedRouter":
                yield from walk(route.original_router.routes, prefix + (route.include_context.prefix or ""))
            elif getattr(route, "methods", None) is None and getattr(route, "routes", None) is not None:
                yield from walk(route.routes, prefix + route.path)
            else:
                yield prefix + route.path, sorted(getattr(route, "methods", None) or ["WEBSOCKET"])
    return list(walk(app.routes))


def status(url: str, method: str = "GET", data: bytes | None = None, cookie: str | None = None):
    request = urllib.request.Request(url, method=method, data=data, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status, r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.headers


def test_every_route_answers_401_without_a_login(locked_app):
    demo, url, _ = locked_app
    listed = routes(demo.app)
    assert len(listed) > 40 and any(p.startswith("/gradio_api/queue") for p, _ in listed)
    opened = []
    for path, methods in listed:
        if "WEBSOCKET" in methods or is_public(path):
            continue
        concrete = re.sub(r"\{[^}]+\}", "x", path)
        for method in methods:
            code, headers = status(url + concrete, method, b"{}" if method in ("POST", "PUT", "PATCH") else None)
            if code != 401:
                opened.append((method, path, code))
            assert headers.get("x-content-type-options") == "nosniff"
    assert opened == []
    public = {p for p, _ in listed if is_public(p)}
    assert public <= PUBLIC_PATHS | {p for p in public if p.startswith(("/assets/", "/static/", "/svelte/", "/pwa_icon"))}


def test_a_login_opens_the_app_with_a_cookie_that_stays_on_this_site(locked_app):
    _, url, _ = locked_app
    code, _ = status(url + "/login", "POST", urllib.parse.urlencode({"username": "alice", "password": "wrong"}).encode())
    assert code in (400, 401)
    code, headers = status(url + "/login", "POST",
                           urllib.parse.urlencode({"username": "alice", "password": USERS["alice"]}).encode())
    assert code == 200
    cookies = headers.get_all("set-cookie")
    assert cookies and all("HttpOnly" in c and "SameSite=lax" in c for c in cookies)
    assert "frame-ancestors 'self'" in headers.get("content-security-policy")
    jar = "; ".join(c.split(";")[0] for c in cookies)
    assert status(url + "/config", cookie=jar)[0] == 200
    assert status(url + "/config")[0] == 401


def test_each_user_generates_through_the_api_and_keeps_their_own_history(locked_app):
    from gradio_client import Client

    _, url, outputs = locked_app
    for name in ("alice", "bob"):
        Client(url + "/", auth=(name, USERS[name]), verbose=False).predict("c1", 1, 7, 3.0, 3, 0.0, 4,
                                                                            api_name="/generate")
    with pytest.raises(Exception, match="login"):
        Client(url + "/", auth=("alice", "wrong password"), verbose=False)
    for name in ("alice", "bob"):
        entries, total = outputs.history.page(Filters(owner=f"user:{name}"))
        assert total == 1 and entries[0].owner == f"user:{name}"
    assert outputs.history.page(Filters(owner=None))[1] == 0  # nothing landed in the local user's history


def login_cookie(url: str, name: str) -> str:
    code, headers = status(url + "/login", "POST", urllib.parse.urlencode({"username": name,
                                                                          "password": USERS[name]}).encode())
    assert code == 200
    return "; ".join(c.split(";")[0] for c in headers.get_all("set-cookie"))


def test_a_users_result_files_answer_404_to_another_user(locked_app):
    _, url, outputs = locked_app
    if outputs.history.page(Filters(owner="user:bob"))[1] == 0:
        test_each_user_generates_through_the_api_and_keeps_their_own_history(locked_app)
    bob_picture = outputs.history.page(Filters(owner="user:bob"))[0][0]
    file_url = f"{url}/gradio_api/file={bob_picture.path}"
    alice, bob = login_cookie(url, "alice"), login_cookie(url, "bob")
    assert status(file_url, cookie=bob)[0] == 200
    assert status(file_url, cookie=alice)[0] == 404  # even with the exact URL
    assert status(f"{url}/gradio_api/file={outputs.history.file}", cookie=bob)[0] == 404  # the index is no one's
    assert status(file_url, cookie=login_cookie(url, "carol"))[0] == 200  # an admin's


def test_the_picture_a_user_is_shown_answers_404_to_another_user_at_its_exact_url(locked_app):
    """gradio shows a result from a copy in its cache, at a URL naming that copy: only the user it was handed to
    gets it."""
    from gradio_client import Client

    _, url, _ = locked_app
    gallery, _ = Client(url + "/", auth=("alice", USERS["alice"]), verbose=False,
                        download_files=False).predict("c2", 1, 9, 3.0, 3, 0.0, 4, api_name="/generate")
    shown = gallery[0]["image"]["url"]
    assert "/gradio_api/file=" in shown
    assert status(shown, cookie=login_cookie(url, "alice"))[0] == 200
    assert status(shown, cookie=login_cookie(url, "bob"))[0] == 404
    assert status(shown)[0] == 401


def test_an_admins_history_shows_every_users_pictures(locked_app, tiny_engine):
    from types import SimpleNamespace

    from bigr_app.app.history import EVERYONE
    from bigr_app.app.ui.history import PER_PAGE, HistoryActions
    from bigr_app.app.ui.studio import Studio

    _, url, outputs = locked_app
    if outputs.history.page(Filters(owner="user:bob"))[1] == 0:
        test_each_user_generates_through_the_api_and_keeps_their_own_history(locked_app)
    studio = Studio(tiny_engine, outputs=outputs, per_user=True, admins=ADMINS)
    carol, bob = SimpleNamespace(username="carol", session_hash="c"), SimpleNamespace(username="bob", session_hash="b")
    assert studio.sessions.viewer(carol) is EVERYONE and studio.sessions.viewer(bob) == "user:bob"
    actions = HistoryActions(studio)
    everyone = actions.show(None, None, None, False, None, 0, carol)[0]
    own = actions.show(None, None, None, False, None, 0, bob)[0]
    total = outputs.history.page(Filters(owner=EVERYONE))[1]
    assert len(everyone) == min(total, PER_PAGE) and len(everyone) > len(own) >= 1
    owners = {e.owner for e in outputs.history.page(Filters(owner=EVERYONE))[0]}
    assert {"user:alice", "user:bob"} <= owners

def test_login_in_the_browser(locked_app, browser):
    """The page shows gradio's login form; a wrong password is refused there, the right one opens the app, whose
    calls then carry the cookie, and whose History holds the user's own pictures only; logging out closes it."""
    _, url, outputs = locked_app
    if outputs.history.page(Filters(owner="user:bob"))[1] == 0:
        test_each_user_generates_through_the_api_and_keeps_their_own_history(locked_app)
    bobs = outputs.history.page(Filters(owner="user:bob"))[1]
    everyone = outputs.history.page(Filters(owner=EVERYONE))[1]
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.set_default_timeout(60_000)
    try:
        page.goto(url + "/")
        log_in(page, "bob", "not his password")
        page.get_by_text("Incorrect Credentials").wait_for()
        assert page.locator("#header").count() == 0
        log_in(page, "bob", USERS["bob"])
        page.wait_for_selector("#header")
        assert page.request.get(url + "/config").status == 200
        page.get_by_role("tab", name="History").click()  # bob's pictures only, not alice's
        page.locator("#history-refresh").click()
        line = page.locator("#history-page").get_by_text("Page 1 of")
        line.wait_for(state="visible")
        assert line.inner_text().endswith(f"· {bobs} picture{'s' * (bobs != 1)}") and everyone > bobs
        page.goto(url + "/logout")
        assert page.request.get(url + "/config").status == 401
    finally:
        page.close()
