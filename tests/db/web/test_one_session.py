"""One session per request, on both backends. On the demo's SQLite the Stats page and the
review page's 404 once waited on their own transaction's write lock for the whole busy
timeout (30 s), answered 500 and held the lock meanwhile, which the workers and the demo's
progress display then failed on. Now the page, its frame and the sign-in check share one
session; each page must answer well inside the client's 10 s timeout."""

from __future__ import annotations

import time

import pytest
from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import transaction
from bot.mentions.ingest import upsert_author
from bot.platform.protocol import Author
from tests.fixtures.dashboard import BACKENDS, SignIn
from tests.fixtures.factories.replies import pending_reply

PAGES = (
    "/queue",
    "/stats",
    "/audit",
    "/posted",
    "/shadow",
    "/held",
    "/subscribers",
    "/tiers",
    "/admin/moderators",
    "/admin/posting",
)
QUICK_S = 5.0


@pytest.mark.parametrize("dashboard_db", BACKENDS, indirect=True)
def test_every_page_answers_at_once_with_its_frame(
    sign_in: SignIn, dashboard_db: sessionmaker[Session]
) -> None:
    with transaction(dashboard_db) as s:
        user = upsert_author(s, Author("7001", "asker", "Asker", "Basic"))
        reply_id = pending_reply(s, user, "Canberra is the capital.").id
    alice = sign_in("alice")
    for path in (*PAGES, f"/reviews/{reply_id}", f"/subscribers/{user}"):
        started = time.monotonic()
        r = alice.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert time.monotonic() - started < QUICK_S, path
        assert 'id="waiting">1</span>' in r.text, path  # the frame read the queue's size


@pytest.mark.parametrize("dashboard_db", BACKENDS, indirect=True)
def test_missing_pages_answer_404_at_once(sign_in: SignIn) -> None:
    bob = sign_in("bob")
    for path in ("/reviews/999999", "/subscribers/999999"):
        started = time.monotonic()
        r = bob.get(path)
        assert r.status_code == 404 and "No such" in r.text, (path, r.status_code)
        assert time.monotonic() - started < QUICK_S, path


@pytest.mark.parametrize("dashboard_db", BACKENDS, indirect=True)
def test_error_pages_from_the_handlers_show_the_frame(sign_in: SignIn) -> None:
    bob = sign_in("bob")
    r = bob.get("/admin/posting")
    assert r.status_code == 403 and "This page is for admins." in r.text
    assert "Sign out" in r.text  # the frame knows who is signed in
    refused = bob.post("/admin/posting/pause", headers={"X-CSRF-Token": "forged"})
    assert refused.status_code == 403 and "This form expired" in refused.text
