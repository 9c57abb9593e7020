"""The moderator dashboard in a real browser (Debian's Chromium via Playwright) against the
real thing: Postgres, the sandbox over HTTP, Redis and the session's Celery worker process
(which posts what is approved, and writes what is regenerated with the CPU engine).

Every page is photographed into var/screenshots/<page>.png.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import transaction
from bot.mentions.ingest import upsert_author
from bot.platform.protocol import Author
from bot.replies.schema import Reply
from bot.replies.sweep import sweep
from bot.sandbox.server import SandboxServer
from bot.threaded_server import ThreadedServer
from bot.vocab import Moderation, Reason, ReplyStatus
from bot.web.auth import SESSION_COOKIE
from tests.fixtures.browser import shoot
from tests.fixtures.dashboard import BACKENDS, dashboard_settings, serve_dashboard, url_of
from tests.fixtures.factories.mentions import add_mention
from tests.fixtures.factories.moderation import PASSWORD
from tests.fixtures.factories.platform import bot_replies, sandbox_mention
from tests.fixtures.factories.replies import add_reply, pending_reply
from tests.fixtures.services import wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.engine]


@pytest.fixture()
def site(pipeline: dict[str, Any], dashboard: ThreadedServer) -> dict[str, Any]:
    """The pipeline (worker, sandbox, Postgres, Redis) and the dashboard on top of it."""
    return {**pipeline, "dashboard": dashboard.url}


def _sign_in(context: Any, url: str, name: str = "alice") -> Any:
    page = context.new_page()
    page.goto(f"{url}/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/queue")
    return page


_authors = iter(range(1, 10_000))


def _pending(site: dict[str, Any], text: str, mention: str = "@mentionbot is this true?") -> int:
    """A mention on the sandbox and its reply waiting for review; returns the reply id."""
    n = next(_authors)
    author_id, username = str(8_000 + n), f"asker{n}"
    post_id = sandbox_mention(site["url"], author_id, username, mention)
    with transaction(site["db"]) as s:
        user = upsert_author(s, Author(author_id, username, username, "Basic"))
        return pending_reply(s, user, text, post_id=post_id, mention_text=mention).id


def _reply(db: sessionmaker[Session], reply_id: int) -> Reply | None:
    with db() as s:
        return s.get(Reply, reply_id)


def _posted_text(site: dict[str, Any], reply_id: int) -> str:
    """Wait for the post worker to put the reply on the sandbox; its text there."""
    reply = wait_for(
        lambda: (r := _reply(site["db"], reply_id)) and r.status == ReplyStatus.POSTED and r,
        timeout=60,
        what=f"reply {reply_id} posted by the post worker",
    )
    posts = [
        p for p in bot_replies(site["url"], site["bot_id"]) if p["id"] == reply.platform_post_id
    ]
    assert len(posts) == 1
    return str(posts[0]["text"])


@pytest.mark.parametrize("dashboard_db", BACKENDS, indirect=True)
def test_sign_in_and_every_page(
    dashboard: ThreadedServer,
    dashboard_db: sessionmaker[Session],
    sandbox: SandboxServer,
    context: Any,
) -> None:
    """Every page, on Postgres and on the demo's SQLite (where Stats and the review page's
    404 once hung on their own lock); the Postgres run's screenshots are the docs' ones."""
    site: dict[str, Any] = {"url": sandbox.url, "db": dashboard_db, "dashboard": dashboard.url}
    on_sqlite = url_of(dashboard_db).startswith("sqlite")

    def photo(page: Any, name: str) -> None:
        shoot(page, f"{name}-sqlite" if on_sqlite else name)

    login = context.new_page()
    login.goto(f"{site['dashboard']}/queue")
    login.wait_for_url(f"{site['dashboard']}/login?next=/queue")
    photo(login, "login")
    login.fill("input[name=name]", "alice")
    login.fill("input[name=password]", "not the password")
    login.click("button[type=submit]")
    assert "wrong name or password" in login.inner_text("main")
    reply_id = _pending(site, "Canberra is the capital of Australia.")
    page = _sign_in(context, site["dashboard"])
    photo(page, "queue")
    pages = {
        "review": f"/reviews/{reply_id}",
        "posted": "/posted",
        "shadow": "/shadow",
        "held": "/held",
        "subscribers": "/subscribers",
        "tiers": "/tiers",
        "audit": "/audit",
        "stats": "/stats",
        "moderators": "/admin/moderators",
        "posting": "/admin/posting",
    }
    for name, path in pages.items():
        page.goto(site["dashboard"] + path)
        assert page.locator("h1").count() == 1, name
        photo(page, name)
    missing = page.goto(f"{site['dashboard']}/reviews/999999")
    assert missing is not None and missing.status == 404
    assert "No such reply." in page.inner_text("main")
    page.goto(f"{site['dashboard']}/reviews/{reply_id}")
    page.click("aside h2 a")
    page.wait_for_url("**/subscribers/*")
    photo(page, "subscriber")


@pytest.mark.parametrize("dashboard_db", BACKENDS, indirect=True)
def test_a_cookie_saved_before_signing_out_opens_nothing(
    dashboard: ThreadedServer, browser: Any, context: Any
) -> None:
    page = _sign_in(context, dashboard.url, "bob")
    saved = context.cookies()
    assert any(c["name"] == SESSION_COOKIE for c in saved)
    page.click("form.signout button")
    page.wait_for_url(f"{dashboard.url}/login")
    other = browser.new_context()
    try:
        other.add_cookies(saved)
        replay = other.new_page()
        replay.goto(f"{dashboard.url}/queue")
        replay.wait_for_url(f"{dashboard.url}/login?next=/queue")
        assert replay.locator("input[name=password]").count() == 1
    finally:
        other.close()


def test_approve_posts_through_the_post_worker(site: dict[str, Any], context: Any) -> None:
    reply_id = _pending(site, "Yes, octopuses have three hearts.")
    page = _sign_in(context, site["dashboard"])
    page.click(f"tr[data-reply-id='{reply_id}'] a")
    page.wait_for_url(f"**/reviews/{reply_id}")
    assert "You hold this item" in page.inner_text("#claim")
    page.click("#approve")
    page.wait_for_selector(".flash.ok")
    assert _posted_text(site, reply_id) == "Yes, octopuses have three hearts."
    reply = _reply(site["db"], reply_id)
    assert reply is not None and reply.decided_by == "alice"


def test_edit_and_approve_applies_the_output_rules(site: dict[str, Any], context: Any) -> None:
    reply_id = _pending(site, "Mostly true.")
    page = _sign_in(context, site["dashboard"])
    page.goto(f"{site['dashboard']}/reviews/{reply_id}")
    page.fill("#edit-text", "x" * 300)
    page.click("#edit-approve")
    assert "weighted characters; X allows 280" in page.inner_text(".flash.error")
    page.fill("#edit-text", "True, and the source is https://evil.example/claim here.")
    page.click("#edit-approve")
    page.wait_for_selector(".flash.ok")
    assert _posted_text(site, reply_id) == "True, and the source is here."


def test_reject_with_a_reason(site: dict[str, Any], context: Any) -> None:
    reply_id = _pending(site, "The moon is made of cheese.")
    page = _sign_in(context, site["dashboard"])
    page.goto(f"{site['dashboard']}/reviews/{reply_id}")
    page.fill("#reject-reason", "factually wrong")
    page.click("#reject")
    page.wait_for_selector(".flash.ok")
    reply = _reply(site["db"], reply_id)
    assert reply is not None
    assert (reply.status, reply.reason, reply.detail) == (
        ReplyStatus.REJECTED,
        Reason.MODERATOR_REJECTED,
        "factually wrong",
    )
    page.goto(f"{site['dashboard']}/audit")
    assert "factually wrong" in page.inner_text("#audit")


def test_regenerate_brings_a_new_reply_from_the_model(site: dict[str, Any], context: Any) -> None:
    reply_id = _pending(site, "an answer worth throwing away")
    with site["db"]() as s:
        mention_id = s.scalar(select(Reply.mention_id).where(Reply.id == reply_id))
    page = _sign_in(context, site["dashboard"])
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{site['dashboard']}/reviews/{reply_id}")
    page.click("#regenerate")
    page.wait_for_selector(".flash")

    def new_reply() -> Reply | None:
        with site["db"]() as s:
            found: Reply | None = s.scalars(
                select(Reply).where(Reply.mention_id == mention_id)
            ).first()
            return found

    fresh = wait_for(new_reply, timeout=90, what="the generate worker's new reply")
    assert fresh.id != reply_id and fresh.status == ReplyStatus.PENDING_REVIEW
    page.goto(f"{site['dashboard']}/audit?action=regenerate")
    assert "an answer worth throwing away" in page.inner_text("#audit")


def test_a_second_moderator_is_refused_by_the_claim(
    site: dict[str, Any], context: Any, browser: Any
) -> None:
    reply_id = _pending(site, "Paris is the capital of France.")
    alice = _sign_in(context, site["dashboard"])
    alice.goto(f"{site['dashboard']}/reviews/{reply_id}")
    other = browser.new_context()
    try:
        bob = _sign_in(other, site["dashboard"], "bob")
        bob.goto(f"{site['dashboard']}/reviews/{reply_id}")
        assert "alice is reviewing this reply" in bob.inner_text("#claim")
        assert bob.locator("#approve").count() == 0
        outcome = bob.evaluate(
            """async (id) => {
                const csrf = document.querySelector('meta[name="csrf-token"]').content;
                const r = await fetch('/reviews/' + id + '/approve', {method: 'POST',
                    headers: {'X-CSRF-Token': csrf, 'X-Requested-With': 'fetch'}});
                return [r.status, (await r.json()).message];
            }""",
            reply_id,
        )
        assert outcome[0] == 409 and "alice is reviewing" in outcome[1]
    finally:
        other.close()
    reply = _reply(site["db"], reply_id)
    assert reply is not None and reply.status == ReplyStatus.PENDING_REVIEW


def test_keyboard_shortcuts(site: dict[str, Any], context: Any) -> None:
    first = _pending(site, "First in line.")
    second = _pending(site, "Second in line.")
    page = _sign_in(context, site["dashboard"])
    assert page.get_attribute("tbody tr.selected", "data-reply-id") == str(first)
    page.keyboard.press("j")
    assert page.get_attribute("tbody tr.selected", "data-reply-id") == str(second)
    page.keyboard.press("a")
    page.wait_for_selector(f"tr[data-reply-id='{second}']", state="detached")
    assert _posted_text(site, second) == "Second in line."
    page.keyboard.press("?")
    assert page.is_visible("#help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#help")
    page.keyboard.press("e")
    page.wait_for_url(f"**/reviews/{first}#edit")
    assert page.evaluate("document.activeElement.id") == "edit-text"
    page.keyboard.press("Escape")
    page.keyboard.press("r")
    assert page.evaluate("document.activeElement.id") == "reject-reason"


def test_bulk_approve(site: dict[str, Any], context: Any) -> None:
    ids = [_pending(site, f"Bulk answer number {i}.") for i in range(3)]
    page = _sign_in(context, site["dashboard"])
    page.on("dialog", lambda dialog: dialog.accept())
    page.check("#select-all")
    page.click("#bulk button[value=approve]")
    page.wait_for_selector(".flash.ok")
    assert "Approved 3 replies" in page.inner_text(".flash.ok")
    for i, reply_id in enumerate(ids):
        assert _posted_text(site, reply_id) == f"Bulk answer number {i}."


def test_take_down_a_posted_reply(site: dict[str, Any], context: Any) -> None:
    post_id = sandbox_mention(site["url"], "8999", "poster", "@mentionbot quick question?")
    with transaction(site["db"]) as s:
        user = upsert_author(s, Author("8999", "poster", "poster", "Premium"))
        mention = add_mention(s, user, post_id, tier="premium", priority=3)
        reply_id = add_reply(s, mention.id, "An answer to regret.", moderation=Moderation.POST).id
    from workers.celery_app import create_app
    from workers.sender import CelerySender

    CelerySender(create_app(site["settings"])).send_post([reply_id])
    _posted_text(site, reply_id)
    page = _sign_in(context, site["dashboard"])
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{site['dashboard']}/posted")
    page.click(f"tr[data-reply-id='{reply_id}'] a")
    page.fill("#take-down-reason", "misleading")
    page.click("#take-down")
    page.wait_for_selector(".flash.ok")
    assert bot_replies(site["url"], site["bot_id"], post_id) == []
    reply = _reply(site["db"], reply_id)
    assert reply is not None and (reply.status, reply.detail) == (
        ReplyStatus.TAKEN_DOWN,
        "misleading",
    )


def test_expiry_rejects_what_waited_too_long(site: dict[str, Any], context: Any) -> None:
    reply_id = _pending(site, "Too late to matter.")
    page = _sign_in(context, site["dashboard"])
    assert page.locator(f"tr[data-reply-id='{reply_id}']").count() == 1
    time.sleep(1.2)
    swept = sweep(site["db"], site["settings"].model_copy(update={"review_ttl_s": 1.0}))
    assert reply_id in swept.expired_reviews
    page.reload()
    assert page.locator(f"tr[data-reply-id='{reply_id}']").count() == 0
    page.goto(f"{site['dashboard']}/reviews/{reply_id}")
    assert "Rejected: review expired" in page.inner_text("#outcome")


def test_pause_and_resume_posting(site: dict[str, Any], context: Any) -> None:
    reply_id = _pending(site, "Held back by the kill switch.")
    page = _sign_in(context, site["dashboard"])
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{site['dashboard']}/admin/posting")
    page.fill("#pause-reason", "checking the model")
    page.click("#pause")
    page.wait_for_selector("#paused-banner")
    for path in ("/queue", "/stats", "/subscribers"):
        page.goto(site["dashboard"] + path)
        assert "Posting is paused by alice" in page.inner_text("#paused-banner")
    page.goto(f"{site['dashboard']}/reviews/{reply_id}")
    page.click("#approve")
    page.wait_for_selector(".flash.ok")
    wait_for(
        lambda: (r := _reply(site["db"], reply_id)) and r.reason == Reason.POSTING_PAUSED,
        timeout=30,
        what="the post worker to see the switch",
    )
    assert bot_replies(site["url"], site["bot_id"]) == []
    page.goto(f"{site['dashboard']}/admin/posting")
    page.click("#resume")
    page.wait_for_selector(".flash.ok")
    assert page.locator("#paused-banner").count() == 0
    assert _posted_text(site, reply_id) == "Held back by the kill switch."


HOSTILE = (
    "@mentionbot <script>window.__pwned = 1; alert('script')</script> "
    "<img src=x onerror=\"window.__pwned = 2; alert('img')\"> "
    "<svg onload=\"window.__pwned = 3; alert('svg')\"></svg> is this true?"
)


def test_hostile_text_renders_inert(site: dict[str, Any], context: Any) -> None:
    reply_id = _pending(site, '<img src=x onerror="window.__pwned = 4">Fine.', mention=HOSTILE)
    page = _sign_in(context, site["dashboard"])
    dialogs: list[str] = []

    def refuse(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", refuse)
    for path in ("/queue", f"/reviews/{reply_id}", "/subscribers", "/audit"):
        page.goto(site["dashboard"] + path)
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None, path
    assert dialogs == []
    page.goto(f"{site['dashboard']}/reviews/{reply_id}")
    assert "<script>window.__pwned = 1" in page.inner_text("#mention-text")
    assert page.locator("#mention-text script, #mention-text img, #mention-text svg").count() == 0
    shoot(page, "review-hostile")


def test_new_items_appear_without_a_reload(site: dict[str, Any], context: Any) -> None:
    page = _sign_in(context, site["dashboard"])
    page.evaluate("window.__marker = 'same page'")
    reply_id = _pending(site, "Arrived while the page was open.")
    page.wait_for_selector(f"tr[data-reply-id='{reply_id}']", timeout=20_000)
    assert page.evaluate("window.__marker") == "same page"  # no reload happened


def test_a_dashboard_started_alone_serves_the_same(
    pg_url: str, committed_db: sessionmaker[Session], sandbox: Any
) -> None:
    with serve_dashboard(dashboard_settings(pg_url, sandbox.url), committed_db) as server:
        assert server.url.startswith("http://127.0.0.1:")
