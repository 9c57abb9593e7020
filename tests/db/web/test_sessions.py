"""Sessions end on the server: a copy of the cookie saved before signing out, a password
reset or a removal opens nothing afterwards (it once opened /queue for its 12 hours)."""

from __future__ import annotations

import re

import httpx
import pytest

from bot.threaded_server import ThreadedServer
from bot.web.auth import SESSION_COOKIE
from tests.fixtures.dashboard import BACKENDS, SignIn


def _refused(dashboard: ThreadedServer, cookie: str) -> bool:
    """A client holding only this cookie is sent to the sign-in page."""
    with httpx.Client(
        base_url=dashboard.url,
        cookies={SESSION_COOKIE: cookie},
        timeout=10,
        follow_redirects=False,
    ) as replay:
        r = replay.get("/queue")
    return r.status_code == 303 and r.headers["location"].startswith("/login")


@pytest.mark.parametrize("dashboard_db", BACKENDS, indirect=True)
def test_a_cookie_saved_before_signing_out_is_refused_afterwards(
    sign_in: SignIn, dashboard: ThreadedServer
) -> None:
    bob = sign_in("bob")
    saved = bob.cookies[SESSION_COOKIE]
    assert not _refused(dashboard, saved)  # the copy works while the session stands
    assert bob.post("/logout").status_code == 303
    assert _refused(dashboard, saved)
    assert bob.get("/queue").status_code == 303


def test_signing_out_ends_only_that_session(sign_in: SignIn, dashboard: ThreadedServer) -> None:
    laptop, phone = sign_in("bob"), sign_in("bob")
    assert laptop.post("/logout").status_code == 303
    assert _refused(dashboard, laptop.cookies.get(SESSION_COOKIE) or "")
    assert phone.get("/queue").status_code == 200


def test_a_password_reset_refuses_the_old_cookie(
    sign_in: SignIn, dashboard: ThreadedServer
) -> None:
    bob = sign_in("bob")
    saved = bob.cookies[SESSION_COOKIE]
    alice = sign_in("alice")
    assert alice.post("/admin/moderators/bob/reset-password").status_code == 303
    shown = alice.get("/admin/moderators").text
    password = re.search(r"New password for bob, shown this once: (\S+)</", shown)
    assert password, "the new password is shown once"
    assert _refused(dashboard, saved)
    assert bob.get("/queue").status_code == 303
    assert sign_in("bob", password.group(1)).get("/queue").status_code == 200


def test_removing_an_account_refuses_its_old_cookie(
    sign_in: SignIn, dashboard: ThreadedServer
) -> None:
    bob = sign_in("bob")
    saved = bob.cookies[SESSION_COOKIE]
    alice = sign_in("alice")
    assert alice.post("/admin/moderators/bob/remove").status_code == 303
    assert _refused(dashboard, saved)
    assert alice.get("/queue").status_code == 200  # the admin's own session stands
