"""VLLMClient against a real HTTP server that answers like vLLM and fails on demand.

This server exists to inject faults (5xx, 4xx, dropped connections, slow answers); the real
engine is exercised by the engine suite.
"""

from __future__ import annotations

import itertools
import time
import traceback
from typing import Any

import pytest

from models.llm_client import (
    LLM,
    Completion,
    LLMError,
    LLMRejected,
    LLMUnavailable,
    VLLMClient,
)
from tests.fixtures.fake_vllm import FakeVLLM

API_KEY = "sk-test-SECRET-7f3a9c"
MODEL = "tiny-moe"
MESSAGES = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Is the sky blue?"},
]


def _client(server: FakeVLLM, **kwargs: Any) -> VLLMClient:
    options: dict[str, Any] = {"timeout_s": 5.0, "max_retries": 3, "backoff_s": 0.01}
    options.update(kwargs)
    return VLLMClient(server.base_url, MODEL, **options)


def _all_text(exc: BaseException) -> str:
    return str(exc) + repr(exc) + "".join(traceback.format_exception(exc))


# -- happy path ------------------------------------------------------------------------------


def test_complete_parses_reply_and_usage(server: FakeVLLM) -> None:
    with _client(server) as client:
        result = client.complete(MESSAGES)
    assert isinstance(result, Completion)
    assert result.text == "Yes, because of Rayleigh scattering."
    assert result.model == MODEL
    assert (result.prompt_tokens, result.completion_tokens) == (42, 9)
    assert result.finish_reason == "stop"
    assert result.elapsed_s > 0
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body is not None
    assert request.body["messages"] == MESSAGES
    assert request.body["model"] == MODEL
    assert request.body["max_tokens"] == 96
    assert "priority" not in request.body
    assert "seed" not in request.body


def test_priority_seed_and_extra_go_in_the_body(server: FakeVLLM) -> None:
    with _client(server) as client:
        client.complete(
            MESSAGES,
            max_tokens=32,
            temperature=0.2,
            top_p=0.9,
            priority=5,
            seed=7,
            extra={"top_k": 20, "repetition_penalty": 1.1},
        )
    body = server.requests[0].body
    assert body is not None
    assert body["priority"] == 5
    assert body["seed"] == 7
    assert body["top_k"] == 20
    assert body["repetition_penalty"] == 1.1
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (32, 0.2, 0.9)


def test_extra_may_not_override_named_fields(server: FakeVLLM) -> None:
    with _client(server) as client, pytest.raises(ValueError, match="messages"):
        client.complete(MESSAGES, extra={"messages": []})
    assert server.requests == []


@pytest.mark.parametrize("suffix", ["", "/", "/v1", "/v1/"])
def test_base_url_with_or_without_v1(server: FakeVLLM, suffix: str) -> None:
    with VLLMClient(server.base_url + suffix, MODEL) as client:
        client.complete(MESSAGES)
        assert client.health()
        assert client.models() == [MODEL]
    assert [r.path for r in server.requests] == [
        "/v1/chat/completions",
        "/health",
        "/v1/models",
    ]


def test_bearer_header_only_with_key(server: FakeVLLM) -> None:
    with _client(server, api_key=API_KEY) as client:
        client.complete(MESSAGES)
    with _client(server) as client:
        client.complete(MESSAGES)
    with_key, without = server.requests
    assert with_key.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "Authorization" not in without.headers


def test_null_content_is_an_empty_answer(server: FakeVLLM) -> None:
    server.content_null = True
    with _client(server) as client:
        assert client.complete(MESSAGES).text == ""


def test_client_satisfies_the_llm_protocol(server: FakeVLLM) -> None:
    llm: LLM = _client(server)
    assert llm.health()
    assert llm.complete(MESSAGES).completion_tokens == 9


# -- transient failures: retried ---------------------------------------------------------------


def test_retries_on_5xx_then_succeeds(server: FakeVLLM) -> None:
    server.faults = ["500", "503", "500"]
    with _client(server, max_retries=3) as client:
        result = client.complete(MESSAGES)
    assert result.text.startswith("Yes")
    assert server.count("/v1/chat/completions") == 4


def test_5xx_after_retries_exhausted_is_unavailable(server: FakeVLLM) -> None:
    server.always = "500"
    with _client(server, max_retries=2) as client, pytest.raises(LLMUnavailable) as info:
        client.complete(MESSAGES)
    assert server.count("/v1/chat/completions") == 3
    assert "500" in str(info.value)
    assert "3 attempts" in str(info.value)


def test_backoff_grows_between_attempts(server: FakeVLLM) -> None:
    server.faults = ["500", "500"]
    with _client(server, max_retries=2, backoff_s=0.1) as client:
        client.complete(MESSAGES)
    started = [r.at for r in server.requests]
    gaps = [b - a for a, b in itertools.pairwise(started)]
    assert len(gaps) == 2
    assert gaps[0] >= 0.1
    assert gaps[1] >= 0.2


def test_retries_on_dropped_connection(server: FakeVLLM) -> None:
    server.faults = ["drop", "drop"]
    with _client(server) as client:
        assert client.complete(MESSAGES).text.startswith("Yes")
    assert server.count("/v1/chat/completions") == 3


def test_dropped_every_time_is_unavailable(server: FakeVLLM) -> None:
    server.always = "drop"
    with _client(server, max_retries=1) as client, pytest.raises(LLMUnavailable):
        client.complete(MESSAGES)
    assert server.count("/v1/chat/completions") == 2


def test_timeout_is_unavailable_after_retries(server: FakeVLLM) -> None:
    server.always = "sleep"
    server.sleep_s = 1.5
    started = time.monotonic()
    with _client(server, timeout_s=0.2, max_retries=1) as client, pytest.raises(LLMUnavailable):
        client.complete(MESSAGES)
    assert time.monotonic() - started < 1.4  # two 0.2 s timeouts, not the server's 1.5 s
    assert server.count("/v1/chat/completions") == 2


def test_slow_once_then_fine(server: FakeVLLM) -> None:
    server.faults = ["sleep"]
    server.sleep_s = 0.6
    with _client(server, timeout_s=0.3) as client:
        assert client.complete(MESSAGES).completion_tokens == 9


def test_connection_refused_is_unavailable() -> None:
    # Port 9 on localhost (discard) has no listener here; connect fails at once.
    with VLLMClient("http://127.0.0.1:9", MODEL, max_retries=1, backoff_s=0.01) as client:
        with pytest.raises(LLMUnavailable, match="ConnectError"):
            client.complete(MESSAGES)
        assert client.health() is False


# -- permanent failures: never retried --------------------------------------------------------


def test_400_is_rejected_without_retry(server: FakeVLLM) -> None:
    server.always = "400"
    with _client(server) as client, pytest.raises(LLMRejected) as info:
        client.complete(MESSAGES)
    assert server.count("/v1/chat/completions") == 1
    assert "maximum context length" in str(info.value)
    assert not isinstance(info.value, LLMUnavailable)


def test_429_is_unavailable_but_not_retried_in_place(server: FakeVLLM) -> None:
    server.always = "429"
    with _client(server) as client, pytest.raises(LLMUnavailable):
        client.complete(MESSAGES)
    assert server.count("/v1/chat/completions") == 1


@pytest.mark.parametrize("fault", ["garbage", "nochoices"])
def test_malformed_200_is_rejected_without_retry(server: FakeVLLM, fault: str) -> None:
    server.always = fault
    with _client(server) as client, pytest.raises(LLMRejected, match=r"malformed|not JSON"):
        client.complete(MESSAGES)
    assert server.count("/v1/chat/completions") == 1


def test_errors_share_a_base_class() -> None:
    assert issubclass(LLMUnavailable, LLMError)
    assert issubclass(LLMRejected, LLMError)


# -- secrets ----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["echo", "500", "drop", "sleep", "400"])
def test_api_key_never_in_errors(server: FakeVLLM, fault: str) -> None:
    server.always = fault
    server.sleep_s = 0.5
    with _client(server, api_key=API_KEY, timeout_s=0.2, max_retries=1) as client:
        with pytest.raises(LLMError) as info:
            client.complete(MESSAGES)
        assert API_KEY not in _all_text(info.value)
        assert API_KEY not in repr(client)
    if fault == "echo":
        # The proxy really did reflect the key: the client redacted it.
        assert "***" in str(info.value)


def test_repr_says_whether_a_key_is_set() -> None:
    client = VLLMClient("http://127.0.0.1:1/v1", MODEL, api_key=API_KEY)
    try:
        assert "api_key=set" in repr(client)
        assert API_KEY not in repr(client)
    finally:
        client.close()


# -- health and models --------------------------------------------------------------------------


def test_health_false_on_5xx(server: FakeVLLM) -> None:
    server.faults = ["503"]
    with _client(server) as client:
        assert client.health() is False
        assert client.health() is True
    assert server.count("/health") == 2  # health never retries


def test_health_false_on_drop(server: FakeVLLM) -> None:
    server.faults = ["drop"]
    with _client(server) as client:
        assert client.health() is False


def test_models_lists_ids(server: FakeVLLM) -> None:
    with _client(server) as client:
        assert client.models() == [MODEL]


def test_models_malformed_is_rejected(server: FakeVLLM) -> None:
    server.faults = ["nochoices"]  # a completion-shaped body has no "data"
    with _client(server) as client, pytest.raises(LLMRejected):
        client.models()


def test_close_is_idempotent_and_context_manager_closes(server: FakeVLLM) -> None:
    client = _client(server)
    with client:
        client.complete(MESSAGES)
    with pytest.raises(RuntimeError):
        client.complete(MESSAGES)
    client.close()


def test_a_stream_carrying_unicode_line_separators_is_read_whole(server: FakeVLLM) -> None:
    # Regression: httpx's iter_lines() broke an event at U+2028 (and U+0085, U+001C ...),
    # which vLLM sends raw inside the JSON; the cut event failed the mention llm_rejected.
    server.stream = True
    server.reply = "one\u2028two\x85three\x1cfour\u2029five\x0bsix\x0cseven end"
    completion = _client(server).complete(MESSAGES, max_tokens=16)
    assert completion.text == server.reply
    assert completion.completion_tokens == 2 and completion.finish_reason == "stop"
