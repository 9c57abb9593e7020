"""The dashboard's access rules over real HTTP: sign-in everywhere, admins only where it
says so, CSRF on every state-changing request, the sign-in throttle, the security headers."""

from __future__ import annotations

import re

import httpx
from fastapi.routing import APIRoute

from bot.threaded_server import ThreadedServer
from tests.fixtures.dashboard import SignIn, csrf_of
from tests.fixtures.factories.moderation import PASSWORD

PUBLIC = {("GET", "/login"), ("POST", "/login"), ("POST", "/logout"), ("GET", "/healthz")}


def _routes(server: ThreadedServer) -> list[tuple[str, str]]:
    found = []
    for route in server.app.routes:
        if isinstance(route, APIRoute):
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            found += [(method, path) for method in sorted(route.methods)]
    return found


def test_every_route_refuses_an_anonymous_request(dashboard: ThreadedServer) -> None:
    routes = _routes(dashboard)
    assert len(routes) > 30
    with httpx.Client(base_url=dashboard.url, timeout=10, follow_redirects=False) as anonymous:
        for method, path in routes:
            if (method, path) in PUBLIC:
                continue
            r = anonymous.request(
                method, path, data={"csrf_token": "x"} if method == "POST" else None
            )
            if method == "GET":
                assert r.status_code == 303, (method, path, r.status_code)
                assert r.headers["location"].startswith("/login"), path
            else:
                assert r.status_code in (401, 403), (method, path, r.status_code)
            assert (
                "mentionbot_session=" not in r.headers.get("set-cookie", "") or r.status_code != 200
            )
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        assert anonymous.get("/static/app.css").status_code == 200


def test_state_changing_requests_need_the_csrf_token(sign_in: SignIn) -> None:
    alice = sign_in("alice")
    token = alice.headers.pop("X-CSRF-Token")
    assert alice.post("/admin/posting/pause", data={"reason": "x"}).status_code == 403
    assert alice.post("/admin/posting/pause", data={"csrf_token": "forged"}).status_code == 403
    assert alice.post("/admin/posting/pause", headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert "Posting is paused" not in alice.get("/queue").text
    ok = alice.post("/admin/posting/pause", data={"csrf_token": token, "reason": "test"})
    assert ok.status_code == 303
    assert "Posting is paused by alice" in alice.get("/queue").text
    # Another session's token is no good either.
    other = httpx.Client(base_url=alice.base_url, timeout=10, follow_redirects=False)
    stranger = csrf_of(other.get("/login").text)
    assert alice.post("/admin/posting/resume", data={"csrf_token": stranger}).status_code == 403
    other.close()


def test_a_moderator_cannot_reach_admin_pages(sign_in: SignIn) -> None:
    bob = sign_in("bob")
    for path in ("/admin/moderators", "/admin/posting"):
        assert bob.get(path).status_code == 403
    for path in ("/admin/posting/pause", "/admin/moderators", "/tiers/premium"):
        r = bob.post(path, data={"name": "eve", "reason": "x", "moderation": "auto"})
        assert r.status_code == 403, path
    assert bob.get("/tiers").status_code == 200  # reading the policies is for everyone
    alice = sign_in("alice")
    assert alice.get("/admin/moderators").status_code == 200


def test_the_sign_in_throttle_holds(dashboard: ThreadedServer) -> None:
    with httpx.Client(base_url=dashboard.url, timeout=10, follow_redirects=False) as client:
        token = csrf_of(client.get("/login").text)
        for _ in range(3):
            r = client.post(
                "/login", data={"name": "bob", "password": "guess", "csrf_token": token}
            )
            assert r.status_code == 401 and "wrong name or password" in r.text
        r = client.post("/login", data={"name": "bob", "password": PASSWORD, "csrf_token": token})
        assert r.status_code == 429 and "too many failed sign-ins" in r.text
        assert client.get("/queue").status_code == 303  # still not signed in


def test_security_headers_and_the_session_cookie(dashboard: ThreadedServer) -> None:
    with httpx.Client(base_url=dashboard.url, timeout=10, follow_redirects=False) as client:
        r = client.get("/login")
        csp = r.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
        assert "script-src 'self'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        token = csrf_of(r.text)
        client.post("/login", data={"name": "bob", "password": PASSWORD, "csrf_token": token})
        assert client.get("/queue").status_code == 200
        # A cookie changed by the client is not a session.
        value = client.cookies["mentionbot_session"]
        client.cookies.set(
            "mentionbot_session", value[:-2] + ("A" if value[-2] != "A" else "B") + value[-1]
        )
        assert client.get("/queue").status_code == 303


def test_signing_out_ends_the_session(sign_in: SignIn) -> None:
    bob = sign_in("bob")
    assert bob.post("/logout", data={"csrf_token": bob.headers["X-CSRF-Token"]}).status_code == 303
    assert bob.get("/queue").status_code == 303
