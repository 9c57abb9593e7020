"""Every answer the sandbox gives conforms to X's OpenAPI documents: the same scenarios (each
endpoint's success with every field and expansion the bot uses, partial `errors`, and each error
status the sandbox produces) are driven over real HTTP once in the classic names, validated
against spec v2.159, and once in v2.167's names, validated against v2.167 (the schema of the
operation's response for the status, else its `default`; see tests/fixtures/spec.py).

Run with `-s` to see how many answers were validated per spec version."""

from __future__ import annotations

import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from jsonschema import ValidationError

from bot.sandbox.app import create_app
from bot.sandbox.server import SandboxServer
from bot.sandbox.store import Store
from bot.sandbox.vocabulary import CLASSIC, POSTS, Vocabulary
from tests.fixtures.factories.platform import SANDBOX_AUTH, SANDBOX_BEARER
from tests.fixtures.spec import (
    SPEC_VERSIONS,
    document,
    keys,
    validate_component,
    validate_response,
)

BOT_ID = "1000000000000000001"
MENTIONS = f"/2/users/{BOT_ID}/mentions"
LONG = "Was the moon landing staged? Ask @NASA and @esa, they should know. " * 5
USER_FIELDS = "created_at,description,name,protected,subscription_type,username,verified"
USER_FIELDS += ",verified_type"


@dataclass(frozen=True)
class Words:
    """What one spec version calls the fields and expansions the bot reads, and what its answers
    must never contain."""

    spec: str
    fields: dict[str, str]
    expansions: str
    user_expansions: str
    foreign_keys: frozenset[str]
    problem_types: tuple[str, ...]


WORDS = {
    "v2.159": Words(
        spec="v2.159",
        fields={
            "tweet.fields": "author_id,conversation_id,created_at,display_text_range,"
            "edit_history_tweet_ids,in_reply_to_user_id,note_tweet,referenced_tweets,"
            "reply_settings",
            "user.fields": USER_FIELDS,
        },
        expansions="author_id,in_reply_to_user_id,referenced_tweets.id,"
        "referenced_tweets.id.author_id,edit_history_tweet_ids",
        user_expansions="pinned_tweet_id",
        foreign_keys=frozenset(("edit_history_post_ids", "referenced_posts", "note_post", "posts")),
        problem_types=("about:blank", "https://api.twitter.com/2/problems/"),
    ),
    "v2.167": Words(
        spec="v2.167",
        fields={
            "post.fields": "conversation_id,created_at,display_text_range,note_post,reply_settings",
            "user.fields": USER_FIELDS,
        },
        # v2.167 has no expansion for a referenced post's author, and author_id,
        # in_reply_to_user_id and referenced_posts come with their expansions only.
        expansions="author_id,in_reply_to_user_id,referenced_posts,edit_history_post_ids",
        user_expansions="pinned_post_id",
        foreign_keys=frozenset(
            ("edit_history_tweet_ids", "referenced_tweets", "note_tweet", "tweets")
        ),
        problem_types=("https://api.x.com/2/problems/",),
    ),
}
# Every answer the scenarios give, by name: each must be driven and validated in each version.
SCENARIOS = (
    "me",
    "me expanded",
    "mentions page 1",
    "mentions page 2",
    "mentions empty page",
    "mentions of an unknown user",
    "lookup by id",
    "lookup of a quote",
    "lookup of an edit",
    "lookup of a repost",
    "lookup of a deleted id",
    "lookup by ids with gone ones",
    "user tweets",
    "create reply",
    "create reply with handles",
    "delete own reply",
    "delete it again",
    "400 bad max_results",
    "400 unknown field",
    "400 unknown parameter",
    "400 bad pagination token",
    "400 empty text",
    "400 too long",
    "400 bad reply id",
    "400 bad id to delete",
    "403 duplicate",
    "403 reply to deleted",
    "403 not yours",
    "404 unknown endpoint",
    "404 wrong method",
    "429 rate limited",
    "503 injected",
    "500 injected on create",
    "lookup of a protected author's post",
    "403 reply not allowed",
    "401 bad credentials",
    "403 app-only bearer posting",
)


def problem_types(body: Any) -> list[str]:
    """The `type` of the body (an error answer) and of each of its `errors`."""
    found = [body["type"]] if "type" in body else []
    return found + [e["type"] for e in body.get("errors", []) if "type" in e]


@dataclass
class World:
    """What the scenarios read: seeded posts' ids by name."""

    ids: dict[str, str]


def seed(http: httpx.Client, route: str, author: str, text: str, **extra: Any) -> str:
    body = {"author_id": str(zlib.crc32(author.encode())), "username": author, "text": text}
    response = http.post(f"/sandbox/{route}", json={**body, **extra})
    assert response.status_code == 201, response.text
    post_id: str = response.json()["id"]
    return post_id


def seed_world(http: httpx.Client, store: Store) -> World:
    """A thread with a long root, replies, a quote, a repost, an edit and a deleted parent."""
    ids = {"root": seed(http, "posts", "root", LONG)}
    ids["reply"] = seed(http, "mentions", "bob", "is this true?", in_reply_to=ids["root"])
    ids["quote"] = seed(http, "mentions", "carol", "see this", quote_of=ids["root"])
    ids["repost"] = seed(http, "posts", "dave", "x", repost_of=ids["reply"])
    for n in range(3):
        seed(http, "mentions", f"user{n}", f"question {n}?")
    first = seed(http, "mentions", "erin", "waht is 2+2?")
    edited = http.post(f"/sandbox/posts/{first}/edit", json={"text": "what is 2+2?"})
    assert edited.status_code == 201, edited.text
    ids["edit"] = edited.json()["id"]
    ids["gone"] = seed(http, "posts", "frank", "soon deleted")
    ids["orphan"] = seed(http, "mentions", "gina", "what did they say?", in_reply_to=ids["gone"])
    assert store.delete_post(int(ids["gone"]), by=str(zlib.crc32(b"frank")))
    ids["closed"] = seed(http, "posts", "hana", "No replies here.", reply_settings="following")
    ids["shut"] = seed(http, "mentions", "ivan", "is this true?", in_reply_to=ids["closed"])
    ids["hidden"] = seed(http, "mentions", "jo", "a protected account's question")
    store.set_user_state(str(zlib.crc32(b"jo")), protected=True)
    return World(ids)


Call = Callable[..., httpx.Response]


def successes(call: Call, world: World, words: Words) -> None:
    """Each endpoint's success, with every field and expansion the bot uses."""
    ids, asked = world.ids, {**words.fields, "expansions": words.expansions}
    call("me", "GET", "/2/users/me", params=words.fields)
    call("me expanded", "GET", "/2/users/me", params={"expansions": words.user_expansions})
    page = call("mentions page 1", "GET", MENTIONS, params={**asked, "max_results": 5}).json()
    assert page["meta"]["next_token"] and page["errors"], "page 1 has a gone parent"
    token = page["meta"]["next_token"]
    rest = {**asked, "max_results": 5, "pagination_token": token}
    assert call("mentions page 2", "GET", MENTIONS, params=rest).json()["data"]
    newest = {"since_id": page["meta"]["newest_id"], **words.fields}
    assert call("mentions empty page", "GET", MENTIONS, params=newest).json() == {
        "meta": {"result_count": 0}
    }
    unknown = call("mentions of an unknown user", "GET", "/2/users/999/mentions", params=asked)
    assert unknown.json()["errors"][0]["resource_type"] == "user"
    for name, post in (
        ("lookup by id", "reply"),
        ("lookup of a quote", "quote"),
        ("lookup of an edit", "edit"),
        ("lookup of a repost", "repost"),
    ):
        body = call(name, "GET", f"/2/tweets/{ids[post]}", params=asked).json()
        assert body["data"]["id"] == ids[post] and body["includes"]["users"]
    includes = POSTS.wire("tweets") if words.spec == POSTS.spec else "tweets"
    (parent,) = body["includes"][includes]
    assert parent["id"] == ids["reply"], "a repost includes its original"
    gone = call("lookup of a deleted id", "GET", f"/2/tweets/{ids['gone']}", params=asked)
    assert "data" not in gone.json() and gone.json()["errors"]
    hidden = call("lookup of a protected author's post", "GET", f"/2/tweets/{ids['hidden']}")
    assert "data" not in hidden.json() and hidden.json()["errors"]
    some = {**asked, "ids": f"{ids['root']},{ids['gone']},123,{ids['orphan']}"}
    both = call("lookup by ids with gone ones", "GET", "/2/tweets", params=some).json()
    assert len(both["data"]) == 2 and len(both["errors"]) == 3
    call("user tweets", "GET", f"/2/users/{BOT_ID}/tweets", params={**asked, "exclude": "replies"})


def writes(call: Call, world: World) -> None:
    """Creating and deleting posts, and what X refuses there (403)."""
    ids = world.ids
    reply = {"text": "Yes.", "reply": {"in_reply_to_tweet_id": ids["reply"]}}
    created = call("create reply", "POST", "/2/tweets", status=201, json=reply).json()["data"]
    handles = {
        "text": "No.",
        "reply": {"in_reply_to_tweet_id": ids["quote"], "auto_populate_reply_metadata": True},
    }
    kept = call("create reply with handles", "POST", "/2/tweets", status=201, json=handles)
    assert kept.json()["data"]["text"].startswith("@carol ")
    assert call("delete own reply", "DELETE", f"/2/tweets/{created['id']}").json() == {
        "data": {"deleted": True}
    }
    again = call("delete it again", "DELETE", f"/2/tweets/{created['id']}")
    assert again.json() == {"data": {"deleted": False}}
    same = {"text": kept.json()["data"]["text"]}
    call("403 duplicate", "POST", "/2/tweets", status=403, json=same)
    orphan = {"text": "Sure.", "reply": {"in_reply_to_tweet_id": ids["gone"]}}
    call("403 reply to deleted", "POST", "/2/tweets", status=403, json=orphan)
    shut = {"text": "Sure.", "reply": {"in_reply_to_tweet_id": ids["shut"]}}
    call("403 reply not allowed", "POST", "/2/tweets", status=403, json=shut)
    call("403 not yours", "DELETE", f"/2/tweets/{ids['root']}", status=403)


def refusals(call: Call, http: httpx.Client, words: Words) -> None:
    """X's 400s, 404s, and the 429 and 5xx the faults API injects."""
    fields = words.fields
    call("400 bad max_results", "GET", MENTIONS, status=400, params={**fields, "max_results": 3})
    field_param = next(iter(fields))
    call("400 unknown field", "GET", MENTIONS, status=400, params={field_param: "colour"})
    call("400 unknown parameter", "GET", MENTIONS, status=400, params={**fields, "colour": "red"})
    token = {**fields, "pagination_token": "nope"}
    call("400 bad pagination token", "GET", MENTIONS, status=400, params=token)
    call("400 empty text", "POST", "/2/tweets", status=400, json={"text": ""})
    call("400 too long", "POST", "/2/tweets", status=400, json={"text": "x" * 281})
    bad_id = {"text": "hi", "reply": {"in_reply_to_tweet_id": "not-an-id"}}
    call("400 bad reply id", "POST", "/2/tweets", status=400, json=bad_id)
    call("400 bad id to delete", "DELETE", "/2/tweets/abc", status=400)
    call("404 unknown endpoint", "GET", "/2/tweets/search/recent", status=404, params=fields)
    call("404 wrong method", "PATCH", "/2/tweets/123", status=404, params=fields)
    spent = {"endpoint": "mentions", "rate_limit": {"limit": 0, "window_s": 60}}
    http.post("/sandbox/faults", json=spent).raise_for_status()
    limited = call("429 rate limited", "GET", MENTIONS, status=429, params=fields)
    assert "x-rate-limit-reset" in limited.headers
    broken = {"endpoint": "tweet_lookup", "error_ratio": 1.0, "status": 503}
    http.post("/sandbox/faults", json=broken).raise_for_status()
    call("503 injected", "GET", "/2/tweets/123", status=503, params=fields)
    failing = {"endpoint": "create_tweet", "error_ratio": 1.0, "status": 500}
    http.post("/sandbox/faults", json=failing).raise_for_status()
    call("500 injected on create", "POST", "/2/tweets", status=500, json={"text": "fine"})
    http.delete("/sandbox/faults").raise_for_status()
    wrong = {"Authorization": "Bearer not-the-token"}
    call("401 bad credentials", "GET", MENTIONS, status=401, params=fields, headers=wrong)
    app_only = {"text": "as the app"}
    call(
        "403 app-only bearer posting",
        "POST",
        "/2/tweets",
        status=403,
        json=app_only,
        headers=SANDBOX_BEARER,
    )


def drive(http: httpx.Client, store: Store, words: Words) -> dict[str, httpx.Response]:
    """Every scenario once, in a version's names; the answers by scenario."""
    answers: dict[str, httpx.Response] = {}

    def call(name: str, method: str, path: str, status: int = 200, **kw: Any) -> httpx.Response:
        assert name not in answers, f"scenario {name!r} twice"
        response = http.request(method, path, **kw)
        assert response.status_code == status, (words.spec, name, response.text)
        answers[name] = response
        return response

    world = seed_world(http, store)
    successes(call, world, words)
    writes(call, world)
    refusals(call, http, words)
    return answers


@pytest.fixture(params=SPEC_VERSIONS)
def sandbox(request: pytest.FixtureRequest) -> Iterator[tuple[httpx.Client, Store, Words]]:
    """A sandbox whose default vocabulary is a spec version's, and that version's words."""
    spec: str = request.param
    with (
        SandboxServer(create_app(spec=spec)) as server,
        httpx.Client(base_url=server.url, timeout=10, headers=SANDBOX_AUTH) as http,
    ):
        yield http, server.store, WORDS[spec]


VALIDATED: Counter[str] = Counter()


def test_every_answer_conforms_to_its_spec(sandbox: tuple[httpx.Client, Store, Words]) -> None:
    http, store, words = sandbox
    answers = drive(http, store, words)
    assert sorted(answers) == sorted(SCENARIOS)
    failures = []
    for name, response in answers.items():
        body = response.json()
        try:
            where = validate_response(words.spec, response)
        except ValidationError as exc:
            failures.append(f"{name}: {exc.message} at {list(exc.absolute_path)}")
            continue
        assert keys(body) & words.foreign_keys == set(), (name, body)
        assert all(t.startswith(words.problem_types) for t in problem_types(body)), (name, body)
        # Only what the sandbox does not serve may fall back to the default all operations share.
        assert name.startswith("404") or not where.startswith("(no operation)"), (name, where)
        VALIDATED[words.spec] += 1
    assert failures == []
    assert VALIDATED[words.spec] == len(SCENARIOS)
    if len(VALIDATED) == len(SPEC_VERSIONS):
        print("\nanswers validated per spec version:", json.dumps(dict(sorted(VALIDATED.items()))))


# The oracle itself: it must be able to say no.


CLASSIC_NOT_FOUND = "https://api.twitter.com/2/problems/resource-not-found"
MENTIONS_RESPONSE = {"v2.159": "Get2UsersIdMentionsResponse", "v2.167": "GetUsersMentionsResponse"}


@pytest.mark.parametrize(
    ("version", "body", "says"),
    [
        # A resource-not-found error must say which resource (the discriminator's schema).
        (
            "v2.159",
            {"errors": [{"type": CLASSIC_NOT_FOUND, "title": "Not Found Error"}]},
            "'parameter' is a required property",
        ),
        # v2.167 knows no classic problem type (and no about:blank).
        (
            "v2.167",
            {
                "errors": [
                    {
                        "type": CLASSIC_NOT_FOUND,
                        "title": "x",
                        "detail": "x",
                        "resource_type": "tweet",
                    }
                ]
            },
            "is not valid under any of the given schemas",
        ),
        ("v2.159", {"data": [{"id": 1, "text": "x"}]}, "1 is not of type 'string'"),
        ("v2.167", {"meta": {"result_count": "0"}}, "'0' is not of type 'integer'"),
    ],
)
def test_the_oracle_refuses_what_x_would_not_send(version: str, body: Any, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        validate_component(body, version, MENTIONS_RESPONSE[version])


def _enum(version: str, parameter: str) -> frozenset[str]:
    schema = document(version)["components"]["parameters"][parameter]["schema"]
    return frozenset(schema["items"]["enum"])


@pytest.mark.parametrize(
    ("vocabulary", "prefix"), [(CLASSIC, "Tweet"), (POSTS, "Post")], ids=["v2.159", "v2.167"]
)
def test_the_sandboxs_vocabularies_are_the_specs(vocabulary: Vocabulary, prefix: str) -> None:
    version = vocabulary.spec
    assert vocabulary.tweet_fields == _enum(version, f"{prefix}FieldsParameter")
    assert vocabulary.tweet_expansions == _enum(version, f"{prefix}ExpansionsParameter")
    assert vocabulary.user_fields == _enum(version, "UserFieldsParameter")
    assert vocabulary.user_expansions == _enum(version, "UserExpansionsParameter")
    names = {p["name"] for p in document(version)["components"]["parameters"].values()}
    assert vocabulary.fields_param in names
