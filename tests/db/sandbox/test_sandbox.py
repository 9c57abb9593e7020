"""Behaviour of the X API sandbox over real HTTP (a uvicorn server in a thread)."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from bot.platform.snowflake import snowflake_ms
from bot.sandbox.app import create_app
from bot.sandbox.server import SandboxServer
from bot.sandbox.store import MENTIONS_REACH_BACK, Store
from tests.fixtures.factories.platform import SANDBOX_AUTH
from tests.fixtures.services import wait_for

BOT_ID = "1000000000000000001"
MENTIONS = f"/2/users/{BOT_ID}/mentions"
RATE_HEADERS = {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"}
X_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def mention(http: httpx.Client, text: str, **extra: Any) -> dict[str, Any]:
    body = {"author_id": "42", "username": "alice", "text": text, **extra}
    response = http.post("/sandbox/mentions", json=body)
    assert response.status_code == 201, response.text
    post: dict[str, Any] = response.json()
    return post


def seed_mentions(store: Store, n: int, author: str = "42") -> list[int]:
    store.upsert_user(author, "alice")
    return [store.add_post(author, f"@mentionbot question {i}").id for i in range(n)]


def ids(response: httpx.Response) -> list[int]:
    assert response.status_code == 200, response.text
    return [int(t["id"]) for t in response.json().get("data", [])]


def assert_x_headers(response: httpx.Response) -> None:
    assert set(response.headers) >= RATE_HEADERS
    assert response.headers["content-type"].startswith("application/json")


# mentions timeline


def test_mentions_are_newest_first(http: httpx.Client, store: Store) -> None:
    posted = seed_mentions(store, 7)
    assert ids(http.get(MENTIONS)) == sorted(posted, reverse=True)


def test_since_id_and_until_id_are_exclusive(http: httpx.Client, store: Store) -> None:
    posted = seed_mentions(store, 8)
    got = ids(http.get(MENTIONS, params={"since_id": posted[2], "until_id": posted[6]}))
    assert got == [posted[5], posted[4], posted[3]]


def test_empty_page_is_meta_result_count_zero(http: httpx.Client, store: Store) -> None:
    posted = seed_mentions(store, 2)
    response = http.get(MENTIONS, params={"since_id": posted[-1]})
    assert response.json() == {"meta": {"result_count": 0}}


def test_meta_describes_the_page(http: httpx.Client, store: Store) -> None:
    posted = seed_mentions(store, 6)
    meta = http.get(MENTIONS, params={"max_results": 5}).json()["meta"]
    assert meta["result_count"] == 5
    assert meta["newest_id"] == str(posted[-1])
    assert meta["oldest_id"] == str(posted[1])
    assert isinstance(meta["next_token"], str)
    last = http.get(MENTIONS, params={"max_results": 5, "pagination_token": meta["next_token"]})
    assert ids(last) == [posted[0]]
    assert "next_token" not in last.json()["meta"]


def test_paging_covers_every_mention_exactly_once(http: httpx.Client, store: Store) -> None:
    posted = seed_mentions(store, 23)
    seen: list[int] = []
    params: dict[str, Any] = {"max_results": 5, "since_id": posted[0]}
    while True:
        body = http.get(MENTIONS, params=params).json()
        seen += [int(t["id"]) for t in body.get("data", [])]
        token = body["meta"].get("next_token")
        if token is None:
            break
        params["pagination_token"] = token
    assert seen == sorted(posted[1:], reverse=True)


def test_mentions_reach_back_800_posts(http: httpx.Client, store: Store) -> None:
    posted = seed_mentions(store, MENTIONS_REACH_BACK + 50)
    seen: list[int] = []
    params: dict[str, Any] = {"max_results": 100}
    while True:
        body = http.get(MENTIONS, params=params).json()
        seen += [int(t["id"]) for t in body["data"]]
        if "next_token" not in body["meta"]:
            break
        params["pagination_token"] = body["meta"]["next_token"]
    assert seen == sorted(posted[50:], reverse=True)
    old = http.get(MENTIONS, params={"until_id": posted[50]})
    assert old.json() == {"meta": {"result_count": 0}}


@pytest.mark.parametrize("value", ["4", "101", "0", "ten", "-5"])
def test_max_results_outside_5_to_100_is_x_400(http: httpx.Client, value: str) -> None:
    response = http.get(MENTIONS, params={"max_results": value})
    assert response.status_code == 400
    assert_x_headers(response)
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert body["detail"] == "One or more parameters to your request was invalid."
    assert body["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert body["errors"][0]["parameters"] == {"max_results": [value]}
    assert "max_results" in body["errors"][0]["message"]


@pytest.mark.parametrize("value", ["5", "100"])
def test_max_results_bounds_are_accepted(http: httpx.Client, value: str) -> None:
    assert http.get(MENTIONS, params={"max_results": value}).status_code == 200


def test_bad_pagination_token_and_unknown_parameter_are_400(http: httpx.Client) -> None:
    response = http.get(MENTIONS, params={"pagination_token": "nope", "sinceid": "1"})
    assert response.status_code == 400
    named = [set(e["parameters"]) for e in response.json()["errors"]]
    assert named == [{"sinceid"}, {"pagination_token"}]


def test_mention_matching_is_case_insensitive_and_whole_handle(
    http: httpx.Client, store: Store
) -> None:
    store.upsert_user("42", "alice")
    hit = [
        store.add_post("42", "@MentionBot hi").id,
        store.add_post("42", "hey @mentionbot, what?").id,
    ]
    for text in ("@mentionbotx hi", "mail me: a@mentionbot.example", "mentionbot"):
        store.add_post("42", text)
    assert ids(http.get(MENTIONS)) == sorted(hit, reverse=True)


def test_unknown_user_timeline_is_not_found_error(http: httpx.Client) -> None:
    response = http.get("/2/users/5/mentions")
    assert response.status_code == 200
    (error,) = response.json()["errors"]
    assert error["title"] == "Not Found Error"
    assert error["resource_type"] == "user"


def test_user_tweets_lists_own_posts(http: httpx.Client, store: Store) -> None:
    parent = mention(http, "first")
    mine = [
        http.post("/2/tweets", json={"text": f"reply {i}"}).json()["data"]["id"] for i in range(3)
    ]
    http.post("/2/tweets", json={"text": "r", "reply": {"in_reply_to_tweet_id": parent["id"]}})
    response = http.get(f"/2/users/{BOT_ID}/tweets", params={"exclude": "replies"})
    assert ids(response) == [int(i) for i in reversed(mine)]
    assert http.get("/2/users/42/tweets").json()["data"][0]["id"] == parent["id"]


# fields and expansions


def test_fields_and_expansions_only_when_asked(http: httpx.Client) -> None:
    root = mention(http, "root", subscription_type="Premium", verified_type="blue")
    mention(http, "child", author_id="43", username="bob", in_reply_to=root["id"])
    plain = http.get(MENTIONS).json()
    assert set(plain) == {"data", "meta"}
    assert all(set(t) == {"id", "text", "edit_history_tweet_ids"} for t in plain["data"])

    fields = "conversation_id,created_at,referenced_tweets,in_reply_to_user_id,author_id"
    asked = http.get(
        MENTIONS,
        params={
            "tweet.fields": fields,
            "expansions": "author_id,referenced_tweets.id",
            "user.fields": "username,name,subscription_type,verified_type",
        },
    ).json()
    child, parent = asked["data"]
    assert set(child) == {"id", "text", "edit_history_tweet_ids", *fields.split(",")}
    assert set(parent) == {"id", "text", "edit_history_tweet_ids", *fields.split(",")} - {
        "referenced_tweets",
        "in_reply_to_user_id",
    }
    assert X_TIME.match(child["created_at"])
    users = {u["id"]: u for u in asked["includes"]["users"]}
    assert users["42"] == {
        "id": "42",
        "name": "alice",
        "username": "alice",
        "subscription_type": "Premium",
        "verified_type": "blue",
    }
    assert users["43"]["subscription_type"] == "None"
    assert [t["id"] for t in asked["includes"]["tweets"]] == [root["id"]]

    users_only = http.get(MENTIONS, params={"expansions": "author_id"}).json()
    assert all(set(u) == {"id", "name", "username"} for u in users_only["includes"]["users"])
    assert all("author_id" in t for t in users_only["data"])


def test_unknown_field_value_is_400(http: httpx.Client) -> None:
    response = http.get(MENTIONS, params={"tweet.fields": "created_at,colour"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["parameters"] == {"tweet.fields": ["colour"]}


def test_deleted_referenced_tweet_becomes_an_error(http: httpx.Client, store: Store) -> None:
    parent = http.post("/2/tweets", json={"text": "parent"}).json()["data"]["id"]
    mention(http, "reply", in_reply_to=parent)
    http.delete(f"/2/tweets/{parent}")
    body = http.get(MENTIONS, params={"expansions": "referenced_tweets.id"}).json()
    assert "tweets" not in body.get("includes", {})
    assert body["errors"][0]["parameter"] == "referenced_tweets.id"
    assert body["errors"][0]["resource_id"] == parent


# lookups


def test_single_lookup_unknown_id_is_200_with_x_error(http: httpx.Client) -> None:
    response = http.get("/2/tweets/123")
    assert response.status_code == 200
    assert response.json() == {
        "errors": [
            {
                "value": "123",
                "detail": "Could not find tweet with id: [123].",
                "title": "Not Found Error",
                "resource_type": "tweet",
                "parameter": "id",
                "resource_id": "123",
                "type": "https://api.twitter.com/2/problems/resource-not-found",
            }
        ]
    }


def test_multi_lookup_keeps_order_and_reports_missing(http: httpx.Client) -> None:
    a, b = mention(http, "a")["id"], mention(http, "b")["id"]
    body = http.get("/2/tweets", params={"ids": f"{b},77,{a}"}).json()
    assert [t["id"] for t in body["data"]] == [b, a]
    assert [(e["parameter"], e["value"]) for e in body["errors"]] == [("ids", "77")]
    assert http.get("/2/tweets").status_code == 400


# posting


def test_reply_fields_follow_the_parent(http: httpx.Client) -> None:
    root = mention(http, "root")
    child = mention(http, "child", author_id="43", username="bob", in_reply_to=root["id"])
    assert child["conversation_id"] == root["id"]
    created = http.post(
        "/2/tweets", json={"text": "answer", "reply": {"in_reply_to_tweet_id": child["id"]}}
    )
    assert created.status_code == 201
    data = created.json()["data"]
    assert set(data) == {"id", "text", "edit_history_tweet_ids"}
    assert data["edit_history_tweet_ids"] == [data["id"]]
    fields = "conversation_id,in_reply_to_user_id,referenced_tweets,author_id"
    post = http.get(f"/2/tweets/{data['id']}", params={"tweet.fields": fields}).json()["data"]
    assert post["conversation_id"] == root["id"]
    assert post["in_reply_to_user_id"] == "43"
    assert post["author_id"] == BOT_ID
    assert post["referenced_tweets"] == [{"type": "replied_to", "id": child["id"]}]
    listed = http.get("/sandbox/posts", params={"in_reply_to": child["id"]}).json()
    assert [(p["id"], p["author_id"]) for p in listed] == [(data["id"], BOT_ID)]


def test_reply_to_unknown_post_is_403(http: httpx.Client) -> None:
    response = http.post("/2/tweets", json={"text": "x", "reply": {"in_reply_to_tweet_id": "9"}})
    assert response.status_code == 403
    assert_x_headers(response)
    assert "deleted or not visible" in response.json()["detail"]


def test_duplicate_text_is_403_until_deleted(http: httpx.Client) -> None:
    first = http.post("/2/tweets", json={"text": "same words"})
    assert first.status_code == 201
    again = http.post("/2/tweets", json={"text": "same words"})
    assert again.status_code == 403
    assert_x_headers(again)
    assert again.json() == {
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
    }
    http.delete(f"/2/tweets/{first.json()['data']['id']}")
    assert http.post("/2/tweets", json={"text": "same words"}).status_code == 201


def test_text_over_280_weighted_characters_is_400(http: httpx.Client) -> None:
    assert http.post("/2/tweets", json={"text": "a" * 280}).status_code == 201
    assert http.post("/2/tweets", json={"text": "界" * 141}).status_code == 400
    assert http.post("/2/tweets", json={"text": ""}).status_code == 400
    assert http.post("/2/tweets", content=b"{").status_code == 400


def test_delete_hides_the_post_everywhere(http: httpx.Client) -> None:
    gone = mention(http, "bye")
    own = http.post("/2/tweets", json={"text": "mine"}).json()["data"]["id"]
    assert http.delete(f"/2/tweets/{gone['id']}").status_code == 403
    response = http.delete(f"/2/tweets/{own}")
    assert response.json() == {"data": {"deleted": True}}
    assert_x_headers(response)
    assert http.delete(f"/2/tweets/{own}").json() == {"data": {"deleted": False}}
    assert "errors" in http.get(f"/2/tweets/{own}").json()
    listed = http.get("/sandbox/posts", params={"author_id": BOT_ID}).json()
    assert [(p["id"], p["deleted"]) for p in listed] == [(own, True)]


def test_ids_are_snowflakes_of_the_creation_time(http: httpx.Client) -> None:
    before = time.time() * 1000
    post = mention(http, "when?")
    after = time.time() * 1000
    assert before - 1 <= snowflake_ms(int(post["id"])) <= after + 1
    assert X_TIME.match(post["created_at"])


def test_backdated_post_gets_an_older_id(http: httpx.Client) -> None:
    now = mention(http, "now")
    late = mention(http, "late", created_at="2025-01-15T10:30:00Z")
    assert int(late["id"]) < int(now["id"])
    assert late["created_at"] == "2025-01-15T10:30:00.000Z"


def test_control_mentions_prefix_the_bot_handle(http: httpx.Client) -> None:
    assert mention(http, "hello")["text"] == "@mentionbot hello"
    assert mention(http, "hi @MentionBot")["text"] == "hi @MentionBot"
    plain = http.post("/sandbox/posts", json={"author_id": "9", "username": "z", "text": "ctx"})
    assert plain.json()["text"] == "ctx"
    bad = {"author_id": "9", "username": "z", "text": "x", "in_reply_to": "5"}
    assert http.post("/sandbox/posts", json=bad).status_code == 404


def test_concurrent_creates_get_unique_increasing_ids(server: SandboxServer) -> None:
    per_thread: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            with httpx.Client(base_url=server.url, timeout=10, headers=SANDBOX_AUTH) as client:
                got = per_thread.setdefault(n, [])
                for i in range(20):
                    response = client.post("/2/tweets", json={"text": f"t{n}-{i}"})
                    assert response.status_code == 201, response.text
                    got.append(int(response.json()["data"]["id"]))
        except BaseException as exc:
            errors.append(exc)

    httpx.post(f"{server.url}/sandbox/reset")
    # More posts than X's 100 per 15 minutes: this is about ids, not limits.
    roomy = {"endpoint": "create_tweet", "rate_limit": {"limit": 10_000, "window_s": 900}}
    httpx.post(f"{server.url}/sandbox/faults", json=roomy, timeout=10).raise_for_status()
    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    all_ids = [i for got in per_thread.values() for i in got]
    assert len(set(all_ids)) == 160
    assert all(got == sorted(got) for got in per_thread.values())


def test_store_is_thread_safe_without_http() -> None:
    store = Store(create_app().state.store.bot)
    store.upsert_user("42", "alice")
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        mine = [store.add_post("42", "@mentionbot x").id for _ in range(500)]
        assert mine == sorted(mine)
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(results)) == 4000
    assert [p.id for p in store.posts()] == sorted(results)


# rate limits and faults


def test_default_limits_match_x(http: httpx.Client) -> None:
    assert http.get("/2/users/me").headers["x-rate-limit-limit"] == "75"
    assert http.get(MENTIONS).headers["x-rate-limit-limit"] == "300"
    assert http.get("/2/tweets/1").headers["x-rate-limit-limit"] == "300"
    assert http.get(f"/2/users/{BOT_ID}/tweets").headers["x-rate-limit-limit"] == "1500"
    posted = http.post("/2/tweets", json={"text": "x"}).headers
    assert posted["x-rate-limit-limit"] == "100"
    # Posting's two daily windows, in X's headers.
    assert (posted["x-user-limit-24hour-limit"], posted["x-app-limit-24hour-limit"]) == (
        "2400",
        "10000",
    )
    assert posted["x-user-limit-24hour-remaining"] == "2399"
    assert http.delete("/2/tweets/1").headers["x-rate-limit-limit"] == "50"


def test_429_when_the_window_is_spent_then_recovers(http: httpx.Client) -> None:
    fault = {"endpoint": "mentions", "rate_limit": {"limit": 2, "window_s": 1}}
    assert http.post("/sandbox/faults", json=fault).status_code == 200
    first, second, third = (http.get(MENTIONS) for _ in range(3))
    assert [r.status_code for r in (first, second, third)] == [200, 200, 429]
    assert [r.headers["x-rate-limit-remaining"] for r in (first, second, third)] == ["1", "0", "0"]
    assert third.headers["x-rate-limit-limit"] == "2"
    assert "retry-after" not in third.headers
    assert_x_headers(third)
    assert third.json() == {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    }
    reset = int(third.headers["x-rate-limit-reset"])
    assert time.time() <= reset <= time.time() + 2
    assert http.get("/2/users/me").status_code == 200  # other endpoints keep their own budget
    time.sleep(max(0.0, reset - time.time()) + 0.05)
    assert http.get(MENTIONS).status_code == 200
    http.delete("/sandbox/faults")
    assert http.get(MENTIONS).headers["x-rate-limit-limit"] == "300"


def test_fault_latency(http: httpx.Client) -> None:
    http.post("/sandbox/faults", json={"endpoint": "*", "latency_ms": 300})
    started = time.monotonic()
    assert http.get("/2/users/me").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_fault_hold_answers_late_after_the_post_is_stored(http: httpx.Client) -> None:
    # The fault suite kills a post worker in this window: X has the post, we do not know.
    http.post("/sandbox/faults", json={"endpoint": "create_tweet", "hold_ms": 3000})

    def stored() -> list[str]:
        posts = http.get("/sandbox/posts", params={"author_id": BOT_ID}).json()
        return [p["text"] for p in posts]

    with ThreadPoolExecutor(1) as pool:
        started = time.monotonic()
        answer = pool.submit(http.post, "/2/tweets", json={"text": "held back answer"})
        wait_for(stored, timeout=2.5, interval=0.05, what="the held post to be stored")
        assert stored() == ["held back answer"]  # stored already ...
        assert not answer.done()  # ... but not answered yet
        assert answer.result().status_code == 201
        assert time.monotonic() - started >= 3


def test_a_misspelt_fault_is_refused(http: httpx.Client) -> None:
    r = http.post("/sandbox/faults", json={"endpoint": "create_tweet", "hold": 5})
    assert r.status_code == 422 and "hold" in r.text
    assert http.get("/2/users/me").status_code == 200


def test_fault_error_ratio_is_seeded(http: httpx.Client) -> None:
    def run() -> list[int]:
        fault = {"endpoint": "mentions", "error_ratio": 0.5, "seed": 7}
        http.post("/sandbox/faults", json=fault)
        return [http.get(MENTIONS).status_code for _ in range(40)]

    statuses = run()
    assert set(statuses) == {200, 503}
    assert 8 <= statuses.count(503) <= 32
    assert run() == statuses
    http.post("/sandbox/faults", json={"endpoint": "mentions", "error_ratio": 1.0, "status": 500})
    failed = http.get(MENTIONS)
    assert failed.status_code == 500
    assert_x_headers(failed)
    assert failed.json()["status"] == 500
    assert http.get("/2/users/me").status_code == 200


def test_stats_count_requests_and_reset_keeps_the_bot(http: httpx.Client) -> None:
    mention(http, "x")
    http.get(MENTIONS)
    http.get(MENTIONS, params={"max_results": 1})
    stats = http.get("/sandbox/stats").json()
    assert stats["requests"] == {"mentions": 2}
    assert stats["statuses"] == {"mentions": {"200": 1, "400": 1}}
    http.post("/sandbox/reset")
    assert http.get("/sandbox/stats").json() == {"requests": {}, "statuses": {}}
    assert http.get("/sandbox/posts").json() == []
    assert http.get("/2/users/me").json()["data"]["username"] == "mentionbot"


def test_control_api_is_documented(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    for path in ("/sandbox/mentions", "/sandbox/posts", "/sandbox/faults", "/sandbox/reset"):
        assert path in spec["paths"]
    assert {"PostIn", "PostOut", "FaultIn", "RateLimitIn"} <= set(spec["components"]["schemas"])
    assert http.get("/docs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/2/tweets/search/recent?query=mentionbot"),
        ("GET", "/2/users/by/username/mentionbot"),
        ("POST", "/2/users/1/likes"),
        # Known paths, other methods.
        ("PUT", "/2/tweets/123"),
        ("DELETE", "/2/users/me"),
        ("POST", MENTIONS),
    ],
)
def test_what_the_sandbox_does_not_serve_is_xs_404(
    http: httpx.Client, method: str, path: str
) -> None:
    response = http.request(method, path)
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    route = path.split("?")[0]
    assert response.json() == {
        "detail": f"The endpoint {method} {route} does not exist.",
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
    }
    assert "allow" not in response.headers
    # In v2.167's names the problem is typed (v2.167 has no about:blank).
    typed = http.request(method, route, params={"post.fields": "created_at"}).json()
    assert typed["type"] == "https://api.x.com/2/problems/resource-not-found"
    assert typed["resource_type"] == "endpoint" and typed["status"] == 404
    # Not counted against any endpoint.
    assert http.get("/sandbox/stats").json()["requests"] == {}


def test_the_control_api_keeps_fastapis_404(http: httpx.Client) -> None:
    assert http.get("/sandbox/nothing").json() == {"detail": "Not Found"}
    refused = http.post("/sandbox/posts/123/edit", json={"text": "x"})
    assert refused.status_code == 404
    assert refused.json() == {"detail": "unknown post 123"}
    assert http.put("/sandbox/reset").status_code == 405
