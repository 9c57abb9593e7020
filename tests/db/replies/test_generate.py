"""What the generate service does with what the model says (exact answers from the
fault-injecting vLLM stand-in): post-processing, regenerate once, fail with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from bot.platform.x import XPlatform
from bot.replies.deps import ReplyDeps
from bot.replies.generate import complete
from bot.settings import Settings
from bot.subscribers.tiers import Policy
from models.llm_client import VLLMClient
from tests.fixtures.fake_vllm import FakeVLLM

MESSAGES = [{"role": "user", "content": "is this true?"}]
POLICY = Policy("premium_plus", True, 50, 300, 77, 0, "post", None, 30)


def _deps(server: FakeVLLM, **settings: Any) -> ReplyDeps:
    s = Settings(x_api_url="http://127.0.0.1:9", **settings)
    return ReplyDeps(
        sessions=None,  # type: ignore[arg-type]  # complete never touches the database
        platform=XPlatform.from_settings(s),
        llm=VLLMClient(server.base_url, "tiny-moe", timeout_s=5, max_retries=0),
        settings=s,
        bot_user_id="1",
        bot_username="mentionbot",
        persona="",
    )


def test_reply_is_cleaned_before_it_is_stored(server: FakeVLLM) -> None:
    server.reply = "@elonmusk @jack **Yes**, it is true. See https://evil.example/x #facts"
    _, text, reason = complete(_deps(server), MESSAGES, POLICY)
    assert reason is None
    assert text == "Yes, it is true. See #facts"
    assert server.count("/v1/chat/completions") == 1


def test_allowlisted_urls_stay(server: FakeVLLM) -> None:
    server.reply = "Read https://docs.python.org/3/ and https://evil.example/"
    _, text, _ = complete(_deps(server, reply_url_allowlist=["python.org"]), MESSAGES, POLICY)
    assert "https://docs.python.org/3/" in text and "evil" not in text


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        ("I'm sorry, but I can't help with that.", "refusal"),
        ("   \n  ", "empty_output"),
        ("@a @b @c", "empty_output"),
    ],
)
def test_refusal_or_empty_is_regenerated_once_then_fails(
    server: FakeVLLM, reply: str, reason: str
) -> None:
    server.reply = reply
    _, text, got = complete(_deps(server), MESSAGES, POLICY)
    assert (text, got) == ("", reason)
    assert server.count("/v1/chat/completions") == 2  # one regeneration, no more


def test_tier_policy_reaches_the_request(server: FakeVLLM) -> None:
    complete(_deps(server), MESSAGES, POLICY)
    body = server.requests[-1].body
    assert body is not None
    assert body["priority"] == 0 and body["max_tokens"] == 77
    assert body["min_tokens"] == 4 and body["stream"] is True
