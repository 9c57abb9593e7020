"""The sandbox's text as X has it, over real HTTP: lone surrogates (refused on the way in, sent
escaped on the way out, never a 500), replies that start with the thread's handles and a
display_text_range after them, and lookups that expand each post's author."""

from __future__ import annotations

import zlib
from typing import Any

import httpx

from bot.sandbox.store import Store
from tests.fixtures.spec import validate_component

BOT_ID = "1000000000000000001"
MENTIONS = f"/2/users/{BOT_ID}/mentions"
JSON = {"content-type": "application/json"}


def seed(http: httpx.Client, route: str, author: str, text: str, **extra: Any) -> dict[str, Any]:
    body = {
        "author_id": str(zlib.crc32(author.encode())),
        "username": author,
        "text": text,
        **extra,
    }
    response = http.post(f"/sandbox/{route}", json=body)
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


# lone surrogates


def test_control_api_refuses_a_lone_surrogate_with_a_clear_422(http: httpx.Client) -> None:
    # Raw bytes, so the \ud800 escape reaches the server as JSON (no client re-encodes it).
    raw = b'{"author_id": "42", "username": "alice", "text": "is this true? \\ud800"}'
    response = http.post("/sandbox/mentions", content=raw, headers=JSON)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "text"]
    assert "lone surrogate" in error["msg"] and "surrogate pair" in error["msg"]
    assert "input" not in error
    name = b'{"author_id": "42", "username": "alice", "name": "\\udc00", "text": "hi"}'
    refused = http.post("/sandbox/posts", content=name, headers=JSON)
    assert refused.status_code == 422
    (error,) = refused.json()["detail"]
    assert error["loc"] == ["body", "name"]
    assert "lone surrogate (\\udc00) at index 0" in error["msg"]
    # Nothing was stored, and a pair (an emoji) is fine.
    assert http.get("/sandbox/posts").json() == []
    pair = b'{"author_id": "42", "username": "alice", "text": "drum \\ud83e\\udd41"}'
    assert (
        http.post("/sandbox/mentions", content=pair, headers=JSON)
        .json()["text"]
        .endswith("drum \U0001f941")
    )


def test_create_refuses_a_lone_surrogate_with_an_x_400(http: httpx.Client) -> None:
    response = http.post("/2/tweets", content=b'{"text": "oops \\udfff"}', headers=JSON)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert "lone surrogate (\\udfff) at index 5" in body["errors"][0]["message"]
    assert "x-rate-limit-limit" in response.headers
    assert http.get(f"/2/users/{BOT_ID}/tweets").json() == {"meta": {"result_count": 0}}


def test_stored_lone_surrogate_goes_out_escaped_never_a_500(
    http: httpx.Client, store: Store
) -> None:
    # What X itself can send: seeded in-process, since the HTTP side refuses it.
    store.upsert_user("42", "alice", "Al\ud800ice")
    post = store.add_post("42", "@mentionbot broken \udc01 text")
    params = {"expansions": "author_id", "user.fields": "name"}
    for path, extra in (
        (MENTIONS, {}),
        (f"/2/tweets/{post.id}", {}),
        ("/2/tweets", {"ids": post.id}),
    ):
        response = http.get(path, params={**params, **extra})
        assert response.status_code == 200, (path, response.text)
        assert b"broken \\udc01 text" in response.content
        assert b"Al\\ud800ice" in response.content
        assert response.content.isascii()
    listed = http.get("/sandbox/posts")
    assert listed.status_code == 200
    assert listed.json()[0]["text"] == "@mentionbot broken \udc01 text"


def test_a_lone_surrogate_is_stored_when_asked_for(http: httpx.Client) -> None:
    # The hostile suite's way to make the sandbox hold what X can send: the escape written
    # out in the text ("\\ud800", six characters), decoded by the sandbox.
    body = {"author_id": "42", "username": "alice", "text": "half \\ud800 a pair"}
    stored = http.post("/sandbox/mentions", json={**body, "decode_escapes": True})
    assert stored.status_code == 201, stored.text
    assert stored.json()["text"].endswith("half \ud800 a pair")
    assert b"half \\ud800 a pair" in http.get(MENTIONS).content


# replies and display_text_range


def test_a_reply_starts_with_the_threads_handles(http: httpx.Client) -> None:
    root = seed(http, "posts", "root", "Moon landing was staged, ask @NASA and @esa")
    assert root["display_text_range"] == [0, len(root["text"])]
    first = seed(http, "mentions", "bob", "is this true?", in_reply_to=root["id"])
    # The parent's author, then whom it mentions; then what bob wrote (the bot's handle first).
    assert first["text"] == "@root @NASA @esa @mentionbot is this true?"
    assert first["display_text_range"] == [len("@root @NASA @esa "), len(first["text"])]
    # Carol replies to bob: bob, then bob's handles (the bot among them: no second @mentionbot).
    second = seed(http, "mentions", "carol", "and?", in_reply_to=first["id"])
    assert second["text"] == "@bob @root @NASA @esa @mentionbot and?"
    start, end = second["display_text_range"]
    assert second["text"][start:end] == "and?"
    # The replier is never in her own reply's handles; a post without them is as written.
    back = seed(http, "posts", "root", "no", in_reply_to=second["id"])
    assert back["text"] == "@carol @bob @NASA @esa @mentionbot no"
    plain = seed(
        http,
        "posts",
        "dave",
        "as written",
        in_reply_to=root["id"],
        auto_populate_reply_metadata=False,
    )
    assert (plain["text"], plain["display_text_range"]) == ("as written", [0, 10])


def test_display_text_range_only_when_asked_and_as_x_describes_it(http: httpx.Client) -> None:
    root = seed(http, "posts", "root", "hello")
    reply = seed(http, "mentions", "bob", "hi", in_reply_to=root["id"])
    plain = http.get(f"/2/tweets/{reply['id']}").json()["data"]
    assert "display_text_range" not in plain
    asked = http.get(f"/2/tweets/{reply['id']}", params={"tweet.fields": "display_text_range"})
    assert asked.json()["data"]["display_text_range"] == [6, len("@root @mentionbot hi")]
    validate_component(asked.json(), "v2.159", "Get2TweetsIdResponse")
    page = http.get(MENTIONS, params={"tweet.fields": "display_text_range"}).json()
    assert [t["display_text_range"] for t in page["data"]] == [[6, 20]]


def test_the_bot_gets_the_threads_handles_only_when_it_asks(http: httpx.Client) -> None:
    root = seed(http, "posts", "root", "look @eve")
    ask = seed(http, "mentions", "bob", "true?", in_reply_to=root["id"])
    plain = http.post(
        "/2/tweets", json={"text": "No.", "reply": {"in_reply_to_tweet_id": ask["id"]}}
    )
    assert plain.json()["data"]["text"] == "No."
    eve = http.get("/sandbox/posts").json()
    asked = http.post(
        "/2/tweets",
        json={
            "text": "Still no.",
            "reply": {
                "in_reply_to_tweet_id": ask["id"],
                "auto_populate_reply_metadata": True,
                "exclude_reply_user_ids": [eve[0]["author_id"]],  # root
            },
        },
    )
    assert asked.status_code == 201, asked.text
    # bob, then bob's handles without root (excluded) and without the bot (the replier).
    assert asked.json()["data"]["text"] == "@bob @eve Still no."


# lookups expand the author


def test_lookups_expand_each_posts_author(http: httpx.Client) -> None:
    root = seed(http, "posts", "root", "a claim")
    ask = seed(http, "mentions", "bob", "true?", in_reply_to=root["id"])
    again = seed(http, "mentions", "bob", "really?", in_reply_to=root["id"])
    params = {"expansions": "author_id", "user.fields": "username"}
    many = http.get(
        "/2/tweets", params={"ids": f"{ask['id']},{root['id']},{again['id']}", **params}
    )
    body = many.json()
    authors = [ask["author_id"], root["author_id"], again["author_id"]]
    assert [t["author_id"] for t in body["data"]] == authors
    # Each author once, with the fields asked for.
    assert body["includes"]["users"] == [
        {"id": ask["author_id"], "name": "bob", "username": "bob"},
        {"id": root["author_id"], "name": "root", "username": "root"},
    ]
    validate_component(body, "v2.159", "Get2TweetsResponse")
    one = http.get(f"/2/tweets/{root['id']}", params=params).json()
    assert one["data"]["author_id"] == root["author_id"]
    assert one["includes"]["users"] == [
        {"id": root["author_id"], "name": "root", "username": "root"}
    ]
    validate_component(one, "v2.159", "Get2TweetsIdResponse")


# long posts (note tweets)

LONG = "Is this true? " + "The report says the bridge will close for repairs next year. " * 8


def test_a_long_post_has_a_shortened_text_and_its_whole_text_only_under_note_tweet(
    http: httpx.Client,
) -> None:
    post = seed(http, "mentions", "alice", "@mentionbot " + LONG)
    plain = http.get(f"/2/tweets/{post['id']}").json()["data"]
    assert "note_tweet" not in plain
    assert len(plain["text"]) < len(post["text"]) and post["text"].startswith(plain["text"])
    fields = {"tweet.fields": "note_tweet,display_text_range"}
    asked = http.get(f"/2/tweets/{post['id']}", params=fields).json()
    assert asked["data"]["note_tweet"] == {"text": post["text"]}
    assert asked["data"]["display_text_range"] == [0, len(plain["text"])]
    validate_component(asked, "v2.159", "Get2TweetsIdResponse")
    short = seed(http, "mentions", "bob", "@mentionbot short question?")
    short_body = http.get(f"/2/tweets/{short['id']}", params=fields).json()["data"]
    assert "note_tweet" not in short_body and short_body["text"] == short["text"]


# edits


def test_an_edit_is_a_new_post_listed_after_the_original_in_every_version(
    http: httpx.Client,
) -> None:
    original = seed(http, "mentions", "carol", "@mentionbot is the bridge closing?")
    edited = http.post(
        f"/sandbox/posts/{original['id']}/edit",
        json={"text": "@mentionbot is the bridge closing in May?"},
    )
    assert edited.status_code == 201, edited.text
    new = edited.json()
    assert int(new["id"]) > int(original["id"])
    assert new["edit_history"] == [original["id"], new["id"]]
    assert new["text"] == "@mentionbot is the bridge closing in May?"  # the handles stay
    for version in (original["id"], new["id"]):
        body = http.get(f"/2/tweets/{version}").json()
        assert body["data"]["edit_history_tweet_ids"] == [original["id"], new["id"]]
        validate_component(body, "v2.159", "Get2TweetsIdResponse")
    after = http.get(MENTIONS, params={"since_id": original["id"]}).json()
    assert [t["id"] for t in after["data"]] == [new["id"]]
    assert http.post("/sandbox/posts/999/edit", json={"text": "x"}).status_code == 404


# quotes and reposts


def test_quotes_and_reposts_carry_their_referenced_post(http: httpx.Client) -> None:
    original = seed(http, "posts", "dave", "The bridge closes in May, says the council.")
    quote = seed(http, "mentions", "erin", "@mentionbot is this true?", quote_of=original["id"])
    repost = seed(http, "posts", "fred", "ignored", repost_of=quote["id"])
    assert repost["text"] == f"RT @erin: {quote['text']}"
    params = {"expansions": "referenced_tweets.id", "tweet.fields": "referenced_tweets"}
    body = http.get(f"/2/tweets/{quote['id']}", params=params).json()
    assert body["data"]["referenced_tweets"] == [{"type": "quoted", "id": original["id"]}]
    assert [t["id"] for t in body["includes"]["tweets"]] == [original["id"]]
    validate_component(body, "v2.159", "Get2TweetsIdResponse")
    rt = http.get(f"/2/tweets/{repost['id']}", params=params).json()["data"]
    assert rt["referenced_tweets"] == [{"type": "retweeted", "id": quote["id"]}]
    mentions = http.get(MENTIONS, params={"since_id": original["id"]}).json()["data"]
    assert {t["id"] for t in mentions} == {quote["id"], repost["id"]}  # the RT names @bot too
    missing = http.post(
        "/sandbox/mentions", json={"author_id": "5", "username": "g", "text": "x", "quote_of": "9"}
    )
    assert missing.status_code == 404


def test_a_long_posts_shortened_text_carries_its_links_as_t_co(http: httpx.Client) -> None:
    text = "@mentionbot read https://example.com/report first. " + LONG
    post = seed(http, "mentions", "lina", text)
    short = http.get(f"/2/tweets/{post['id']}").json()["data"]["text"]
    assert "https://example.com/report" not in short
    assert short.startswith("@mentionbot read https://t.co/") and len(short.split()[2]) == 23
    full = http.get(f"/2/tweets/{post['id']}", params={"tweet.fields": "note_tweet"}).json()
    assert full["data"]["note_tweet"]["text"] == post["text"]  # the whole text, as written
