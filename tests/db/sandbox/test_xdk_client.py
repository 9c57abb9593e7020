"""A second real client: X's official SDK, xdk 0.10.6, which speaks spec v2.167 (`post.fields`,
`referenced_posts`, `edit_history_post_ids`) and parses every answer into its pydantic models,
reads the bot's mentions from the sandbox over real HTTP, with their context, and replies."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
import requests
from xdk.posts.models import CreateRequest
from xdk.schemas import CreatePostsReply, ResourceNotFoundProblem

from bot.sandbox.app import create_app
from bot.sandbox.server import SandboxServer
from tests.fixtures.sdk import xdk_client

BOT_ID = "1000000000000000001"
X_PROBLEMS = "https://api.x.com/2/problems/"


def author_id(username: str) -> str:
    return str(zlib.crc32(username.encode()))


def seed(http: httpx.Client, route: str, author: str, text: str, **extra: Any) -> dict[str, Any]:
    body = {"author_id": author_id(author), "username": author, "text": text, **extra}
    response = http.post(f"/sandbox/{route}", json=body)
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    """A sandbox that answers v2.167's names when a request names neither (a create, a delete),
    as X does for xdk."""
    with SandboxServer(create_app(spec="v2.167")) as running:
        yield running


@pytest.fixture
def http(sandbox: SandboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.url, timeout=10) as client:
        client.post("/sandbox/reset").raise_for_status()
        yield client


def test_xdk_reads_the_mentions_with_their_context(
    sandbox: SandboxServer, http: httpx.Client
) -> None:
    root = seed(http, "posts", "root", "The moon landing was staged, ask @NASA")
    question = seed(http, "mentions", "bob", "is this true?", in_reply_to=root["id"])
    others = [seed(http, "mentions", f"user{n}", f"question {n}?") for n in range(5)]
    gone = seed(http, "posts", "frank", "soon deleted")
    orphan = seed(http, "mentions", "gina", "what did they say?", in_reply_to=gone["id"])
    assert sandbox.store.delete_post(int(gone["id"]), by=author_id("frank"))
    client = xdk_client(sandbox.url)

    me = client.users.get_me(user_fields=["username", "subscription_type"])
    assert (me.data.id, me.data.username, me.data.subscription_type) == (
        BOT_ID,
        "mentionbot",
        "None",
    )
    pages = list(
        client.users.get_mentions(
            id=BOT_ID,
            max_results=5,
            post_fields=["created_at", "conversation_id"],
            expansions=["referenced_posts", "author_id"],
            user_fields=["username"],
        )
    )
    # xdk follows meta.next_token itself: 7 mentions in pages of 5.
    assert [p.meta.result_count for p in pages] == [5, 2]
    mentions = [post for page in pages for post in page.data]
    expected = [orphan, *reversed(others), question]
    assert [m.id for m in mentions] == [m["id"] for m in expected]
    read = next(m for m in mentions if m.id == question["id"])
    assert read.text == question["text"] and read.author_id == author_id("bob")
    assert read.created_at == question["created_at"]
    assert datetime.fromisoformat(read.created_at).tzinfo is not None
    assert read.conversation_id == root["id"]
    assert read.edit_history_post_ids == [question["id"]]
    (reference,) = read.referenced_posts
    assert (reference.type, reference.id) == ("replied_to", root["id"])
    # The replied-to post is in the includes of the page that holds the question.
    (last,) = [p for p in pages if any(m.id == question["id"] for m in p.data)]
    (parent,) = last.includes.posts
    assert (parent.id, parent.text, parent.author_id) == (
        root["id"],
        root["text"],
        root["author_id"],
    )
    assert "bob" in {u.username for u in last.includes.users}
    # A mention whose parent is gone comes with X's typed problem, which xdk parses.
    (problem,) = pages[0].errors
    assert isinstance(problem, ResourceNotFoundProblem)
    assert (problem.resource_id, problem.parameter) == (gone["id"], "referenced_posts")


def test_xdk_replies_and_deletes_its_reply(sandbox: SandboxServer, http: httpx.Client) -> None:
    root = seed(http, "posts", "root", "What is the capital of Australia? cc @alice")
    question = seed(http, "mentions", "bob", "well?", in_reply_to=root["id"])
    client = xdk_client(sandbox.url)
    body = CreateRequest(
        text="The capital of Australia is Canberra.",
        reply=CreatePostsReply(in_reply_to_tweet_id=question["id"]),
    )
    created = client.posts.create(body=body)
    assert created.data.text == "The capital of Australia is Canberra."
    assert created.data.edit_history_post_ids == [created.data.id]
    stored = http.get("/sandbox/posts", params={"in_reply_to": question["id"]}).json()
    assert [(p["id"], p["author_id"], p["text"]) for p in stored] == [
        (created.data.id, BOT_ID, "The capital of Australia is Canberra.")
    ]
    looked_up = client.posts.get_by_id(id=created.data.id, post_fields=["conversation_id"])
    assert looked_up.data.conversation_id == root["id"]
    # X refuses the same text twice with a 403 in v2.167's problem types.
    with pytest.raises(requests.HTTPError) as refused:
        client.posts.create(body=body)
    assert refused.value.response.status_code == 403
    problem = refused.value.response.json()
    assert problem["type"] == X_PROBLEMS + "disallowed-resource"
    assert problem["detail"] == "You are not allowed to create a Tweet with duplicate content."
    assert client.posts.delete(id=created.data.id).data.deleted is True
    assert client.posts.delete(id=created.data.id).data.deleted is False
    assert http.get("/sandbox/posts", params={"in_reply_to": question["id"]}).json()[0]["deleted"]
