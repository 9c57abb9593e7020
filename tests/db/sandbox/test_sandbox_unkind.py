"""The sandbox as unkind as X, over real HTTP through the bot's own client: reply settings
that leave the bot out (X's 403), posts deleted before the bot answers, accounts suspended
or protected (out of sight, Not Found in lookups, 403 to a reply)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from bot.platform.protocol import RepliesRestricted, TargetGone
from bot.platform.x import XPlatform
from bot.sandbox.server import SandboxServer
from bot.settings import Settings

BOT_ID = "1000000000000000001"


@pytest.fixture
def x(server: SandboxServer, http: httpx.Client) -> XPlatform:
    return XPlatform.from_settings(Settings(x_api_url=server.url))


def seed(http: httpx.Client, route: str, author: str, text: str, **extra: Any) -> str:
    body = {"author_id": author, "username": f"u{author}", "text": text, **extra}
    response = http.post(f"/sandbox/{route}", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_conversation_for_mentioned_users_only_refuses_the_bot_unless_its_first_post_named_it(
    http: httpx.Client, x: XPlatform
) -> None:
    closed = seed(
        http, "posts", "11", "Only people I mention may reply.", reply_settings="mentionedUsers"
    )
    reply = seed(http, "mentions", "12", "is this true?", in_reply_to=closed)
    (post,) = x.get_posts([reply])
    assert post.reply_settings == "mentionedUsers"  # a reply carries its conversation's
    with pytest.raises(RepliesRestricted):
        x.create_reply("It is.", reply)
    invited = seed(http, "mentions", "13", "what do you think?", reply_settings="mentionedUsers")
    below = seed(http, "mentions", "14", "and you?", in_reply_to=invited)
    assert x.create_reply("I think so.", below)
    assert x.get_posts([seed(http, "mentions", "15", "open?")])[0].reply_settings == "everyone"


def test_a_deleted_mention_is_gone_and_a_reply_to_it_refused(
    http: httpx.Client, x: XPlatform
) -> None:
    mention = seed(http, "mentions", "21", "is this true?")
    assert http.delete(f"/sandbox/posts/{mention}").json() == {"deleted": True}
    assert x.get_posts([mention]) == []
    body = http.get("/2/tweets", params={"ids": mention})
    assert body.json()["errors"][0]["title"] == "Not Found Error"
    with pytest.raises(TargetGone):
        x.create_reply("Too late.", mention)
    assert http.delete("/sandbox/posts/1").status_code == 404


@pytest.mark.parametrize("state", ["suspended", "protected"])
def test_a_suspended_or_protected_author_is_out_of_sight(
    http: httpx.Client, x: XPlatform, state: str
) -> None:
    parent = seed(http, "posts", "31", "Something worth checking.")
    mention = seed(http, "mentions", "32", "is this true?", in_reply_to=parent)
    assert http.post("/sandbox/users/31/state", json={state: True}).json()[state] is True
    assert x.get_posts([parent]) == []  # the thread context around it must cope
    assert [p.id for p in x.get_posts([mention])] == [mention]
    assert http.post("/sandbox/users/32/state", json={state: True}).status_code == 200
    page = x.mentions(BOT_ID)
    assert mention not in [p.id for p in page.posts]
    with pytest.raises(TargetGone):
        x.create_reply("Answer.", mention)
    http.post("/sandbox/users/32/state", json={state: False}).raise_for_status()
    assert x.create_reply("Answer.", mention)
    assert http.post("/sandbox/users/999/state", json={state: True}).status_code == 404
