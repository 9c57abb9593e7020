"""The sandbox speaks both of X's vocabularies over real HTTP: the classic names of spec v2.159
(`tweet.fields`, `referenced_tweets.id`, `edit_history_tweet_ids`), which tweepy sends, and the
renamed ones of v2.167 (`post.fields`, `referenced_posts`, `edit_history_post_ids`), which xdk
sends; each request is answered in the names it used, and in the sandbox's default (`spec`) when
it names neither."""

from __future__ import annotations

import zlib
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.sandbox.app import create_app
from bot.sandbox.store import Store
from tests.fixtures.spec import keys

BOT_ID = "1000000000000000001"
MENTIONS = f"/2/users/{BOT_ID}/mentions"
CLASSIC_KEYS = {"edit_history_tweet_ids", "referenced_tweets", "note_tweet", "tweets"}
POSTS_KEYS = {"edit_history_post_ids", "referenced_posts", "note_post", "posts"}
X_PROBLEMS = "https://api.x.com/2/problems/"
TWITTER_PROBLEMS = "https://api.twitter.com/2/problems/"


def seed(http: httpx.Client, route: str, author: str, text: str, **extra: Any) -> dict[str, Any]:
    body = {"author_id": str(zlib.crc32(author.encode())), "username": author, "text": text}
    response = http.post(f"/sandbox/{route}", json={**body, **extra})
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


def test_a_mention_comes_in_the_names_it_was_asked_in(http: httpx.Client) -> None:
    root = seed(http, "posts", "root", "A long thread start. " * 20)
    mention = seed(http, "mentions", "bob", "is this true?", in_reply_to=root["id"])
    posts = http.get(
        MENTIONS,
        params={
            "post.fields": "created_at,conversation_id,note_post",
            "expansions": "referenced_posts,author_id",
            "user.fields": "username",
        },
    )
    assert posts.status_code == 200, posts.text
    body = posts.json()
    (data,) = body["data"]
    assert data["edit_history_post_ids"] == [mention["id"]]
    assert data["referenced_posts"] == [{"type": "replied_to", "id": root["id"]}]
    assert data["conversation_id"] == root["id"] and data["author_id"] == mention["author_id"]
    (parent,) = body["includes"]["posts"]
    assert parent["id"] == root["id"]
    assert parent["note_post"]["text"] == root["text"] and parent["text"] != root["text"]
    assert body["includes"]["users"] == [
        {"id": mention["author_id"], "name": "bob", "username": "bob"}
    ]
    assert keys(body) & CLASSIC_KEYS == set()
    # The same question in the classic names gets the classic answer, value for value.
    tweets = http.get(
        MENTIONS,
        params={
            "tweet.fields": "created_at,conversation_id,note_tweet,author_id,referenced_tweets",
            "expansions": "referenced_tweets.id,author_id",
            "user.fields": "username",
        },
    ).json()
    assert keys(tweets) & POSTS_KEYS == set()
    (classic,) = tweets["data"]
    assert classic["edit_history_tweet_ids"] == data["edit_history_post_ids"]
    assert classic["referenced_tweets"] == data["referenced_posts"]
    assert tweets["includes"]["tweets"][0]["note_tweet"] == parent["note_post"]


def test_each_vocabulary_refuses_the_others_names_with_xs_400(http: httpx.Client) -> None:
    # author_id is an expansion in v2.167, not a post field; a mix is answered in v2.167.
    for params, bad in (
        ({"post.fields": "author_id"}, "post.fields"),
        ({"tweet.fields": "created_at", "expansions": "referenced_posts"}, "tweet.fields"),
        ({"post.fields": "created_at", "expansions": "referenced_tweets.id"}, "expansions"),
    ):
        response = http.get(MENTIONS, params=params)
        assert response.status_code == 400, (params, response.text)
        body = response.json()
        assert body["type"] == X_PROBLEMS + "invalid-request"
        assert [list(e["parameters"]) for e in body["errors"]] == [[bad]]
    classic = http.get(MENTIONS, params={"tweet.fields": "note_post"})
    assert classic.status_code == 400
    assert classic.json()["type"] == TWITTER_PROBLEMS + "invalid-request"
    assert "[note_post] is not one of" in classic.json()["errors"][0]["message"]


def test_a_gone_reference_is_an_error_in_the_requests_names(
    http: httpx.Client, store: Store
) -> None:
    root = seed(http, "posts", "root", "soon gone")
    seed(http, "mentions", "bob", "what did they say?", in_reply_to=root["id"])
    store.delete_post(int(root["id"]), by=root["author_id"])
    body = http.get(MENTIONS, params={"expansions": "referenced_posts"}).json()
    (error,) = body["errors"]
    assert error["type"] == X_PROBLEMS + "resource-not-found"
    assert error["parameter"] == "referenced_posts" and error["resource_id"] == root["id"]
    assert "includes" not in body
    classic = http.get(MENTIONS, params={"expansions": "referenced_tweets.id"}).json()
    assert classic["errors"][0]["type"] == TWITTER_PROBLEMS + "resource-not-found"
    assert classic["errors"][0]["parameter"] == "referenced_tweets.id"
    lookup = http.get(f"/2/tweets/{root['id']}", params={"post.fields": "created_at"}).json()
    assert lookup["errors"][0]["type"] == X_PROBLEMS + "resource-not-found"


def test_users_me_takes_either_vocabularys_expansions(http: httpx.Client) -> None:
    for expansions in ("pinned_post_id,most_recent_post_id", "pinned_tweet_id"):
        me = http.get("/2/users/me", params={"expansions": expansions, "user.fields": "username"})
        assert me.status_code == 200, me.text
        assert me.json()["data"]["username"] == "mentionbot"
    mixed = http.get("/2/users/me", params={"expansions": "pinned_post_id,pinned_tweet_id"})
    assert mixed.status_code == 400
    assert mixed.json()["type"] == X_PROBLEMS + "invalid-request"


def test_requests_naming_neither_get_the_sandboxs_default(
    http: httpx.Client, posts_http: httpx.Client
) -> None:
    classic = http.post("/2/tweets", json={"text": "hello"})
    assert classic.status_code == 201
    assert set(classic.json()["data"]) == {"id", "text", "edit_history_tweet_ids"}
    posted = posts_http.post("/2/tweets", json={"text": "hello"})
    assert posted.status_code == 201
    assert set(posted.json()["data"]) == {"id", "text", "edit_history_post_ids"}
    post_id = posted.json()["data"]["id"]
    assert posts_http.get(f"/2/tweets/{post_id}").json()["data"]["edit_history_post_ids"]
    # A request's own names win over the default.
    asked = posts_http.get(f"/2/tweets/{post_id}", params={"tweet.fields": "created_at"}).json()
    assert asked["data"]["edit_history_tweet_ids"] == [post_id]
    duplicate = posts_http.post("/2/tweets", json={"text": "hello"})
    assert duplicate.status_code == 403
    assert duplicate.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": X_PROBLEMS + "disallowed-resource",
        "title": "Forbidden",
        "status": 403,
    }
    assert http.post("/2/tweets", json={"text": "hello"}).json()["type"] == "about:blank"


def test_the_default_is_one_of_the_two_specs() -> None:
    with pytest.raises(ValueError, match=r"unknown X API spec version 'v3' \(known: v2.159"):
        create_app(spec="v3")
    result = CliRunner().invoke(cli_app, ["sandbox", "--spec", "v3"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "Invalid value for --spec" in result.output and "v2.167" in result.output
