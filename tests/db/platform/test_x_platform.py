"""XPlatform (tweepy) on the sandbox over HTTP, into real Postgres: posts name their authors,
a lone surrogate X sends never reaches the database, and a reply in a busy thread is not
mass-tag spam (display_text_range marks the handles X put before the author's text)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.mentions.gating import GatingRules
from bot.mentions.ingest import ingest
from bot.mentions.schema import Mention, PlatformUser
from bot.platform.x import XPlatform
from bot.sandbox.server import SandboxServer
from bot.settings import Settings
from tests.fixtures.factories.platform import SANDBOX_BEARER

BOT_ID = "1000000000000000001"


@pytest.fixture
def platform(sandbox: SandboxServer) -> XPlatform:
    return XPlatform.from_settings(Settings(x_api_url=sandbox.url))


@pytest.fixture
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as session:
        yield session


def seed(url: str, route: str, n: int, text: str, **extra: Any) -> dict[str, Any]:
    """Post as user u<n> (id 9000+n, Premium) through the control API."""
    body = {"author_id": str(9000 + n), "username": f"u{n}", "text": text, **extra}
    response = httpx.post(f"{url}/sandbox/{route}", json={"subscription_type": "Premium", **body})
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


def test_get_posts_and_mentions_name_each_author(
    sandbox: SandboxServer, platform: XPlatform
) -> None:
    root = seed(sandbox.url, "posts", 1, "the claim")
    ask = seed(sandbox.url, "mentions", 2, "true?", in_reply_to=root["id"])
    posts = platform.get_posts([ask["id"], root["id"], "77"])
    assert [(p.id, p.author_id, p.author_username) for p in posts] == [
        (ask["id"], "9002", "u2"),
        (root["id"], "9001", "u1"),
    ]
    (mention,) = platform.mentions(BOT_ID).posts
    assert (mention.id, mention.author_username) == (ask["id"], "u2")


def test_a_lone_surrogate_from_x_never_reaches_postgres(
    sandbox: SandboxServer, platform: XPlatform, s: Session
) -> None:
    # X's JSON can carry an unpaired \udc01 escape (the control API refuses one, so seed as X).
    sandbox.store.upsert_user("42", "alice", "Al\ud800ice", "Premium")
    post = sandbox.store.add_post("42", "@mentionbot is \udc01 this true?")
    raw = httpx.get(f"{sandbox.url}/2/tweets/{post.id}", headers=SANDBOX_BEARER).content
    assert b"is \\udc01 this" in raw
    # What tweepy hands us: requests' json() keeps the surrogate in a str no UTF-8 can carry.
    assert "\udc01" in json.loads(raw)["data"]["text"]

    page = platform.mentions(BOT_ID)
    (got,) = page.posts
    assert got.text == "@mentionbot is  this true?"
    assert page.authors["42"].name == "Alice"
    (looked_up,) = platform.get_posts([str(post.id)])
    assert looked_up.text == got.text
    for text in (got.text, page.authors["42"].name, looked_up.text):
        text.encode("utf-8")

    result = ingest(s, page.posts, page.authors, BOT_ID)
    assert result.accepted
    stored = s.scalar(select(Mention.text).where(Mention.platform_post_id == str(post.id)))
    assert stored == "@mentionbot is  this true?"
    name = s.scalar(select(PlatformUser.display_name).where(PlatformUser.platform_id == "42"))
    assert name == "Alice"


def test_a_reply_in_a_busy_thread_is_not_spam_but_mass_tagging_still_is(
    sandbox: SandboxServer, platform: XPlatform, s: Session
) -> None:
    rules = GatingRules(thread_cap=10)
    assert rules.spam_max_mentions == 5
    url = sandbox.url
    root = seed(url, "posts", 0, "@u1 @u2 @u3 @u4 @u5 look at this")
    # X puts the six participants' handles before u6's question: seven handles in the text.
    ask = seed(url, "mentions", 6, "is this true?", in_reply_to=root["id"])
    assert ask["text"] == "@u0 @u1 @u2 @u3 @u4 @u5 @mentionbot is this true?"
    deeper = seed(url, "mentions", 7, "and this?", in_reply_to=ask["id"])
    assert deeper["text"].count("@") == 8
    tags = " ".join(f"@spam{i}" for i in range(5))
    spam = seed(url, "mentions", 8, f"{tags} buy now", in_reply_to=root["id"])
    loud = seed(url, "mentions", 9, f"@mentionbot {tags} @spam5 buy now")

    page = platform.mentions(BOT_ID)
    starts = {p.id: p.display_start for p in page.posts}
    assert starts[ask["id"]] == len("@u0 @u1 @u2 @u3 @u4 @u5 ")
    assert starts[loud["id"]] == 0
    ingest(s, page.posts, page.authors, BOT_ID, rules)
    decisions = dict(s.execute(select(Mention.platform_post_id, Mention.decision)).tuples().all())
    assert decisions == {
        ask["id"]: "accepted",
        deeper["id"]: "accepted",
        # The author wrote @mentionbot and five more tags after the thread's handles.
        spam["id"]: "spam",
        loud["id"]: "spam",
    }
