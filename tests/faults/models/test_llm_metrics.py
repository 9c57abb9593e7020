"""VLLMClient counts every completion in the process's metrics: latency and tokens for the
ones that came back, the outcome of the ones that did not (over real HTTP, faults on demand)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from models.llm_client import LLMRejected, LLMUnavailable, VLLMClient
from tests.fixtures.fake_vllm import MODEL, FakeVLLM

MESSAGES = [{"role": "user", "content": "Is the sky blue?"}]


def _seen(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _figures() -> dict[str, float]:
    return {
        "ok": _seen("mentionbot_generations_total", outcome="ok"),
        "unavailable": _seen("mentionbot_generations_total", outcome="unavailable"),
        "rejected": _seen("mentionbot_generations_total", outcome="rejected"),
        "latency_n": _seen("mentionbot_generation_seconds_count"),
        "latency_s": _seen("mentionbot_generation_seconds_sum"),
        "prompt": _seen("mentionbot_prompt_tokens_total"),
        "completion": _seen("mentionbot_completion_tokens_total"),
    }


def _moved(before: dict[str, float]) -> dict[str, float]:
    after = _figures()
    return {
        k: round(after[k] - before[k], 6)
        for k in ("ok", "unavailable", "rejected", "latency_n", "prompt", "completion")
    }


def test_a_completion_counts_its_latency_and_tokens(server: FakeVLLM) -> None:
    before = _figures()
    with VLLMClient(server.base_url, MODEL, timeout_s=5.0, max_retries=0) as client:
        client.complete(MESSAGES)
    assert _moved(before) == {
        "ok": 1,
        "unavailable": 0,
        "rejected": 0,
        "latency_n": 1,
        "prompt": 42,
        "completion": 9,
    }
    assert _figures()["latency_s"] > before["latency_s"]


@pytest.mark.parametrize(
    ("fault", "error", "outcome"),
    [("500", LLMUnavailable, "unavailable"), ("400", LLMRejected, "rejected")],
)
def test_a_failed_completion_counts_its_outcome_only(
    server: FakeVLLM, fault: str, error: type[Exception], outcome: str
) -> None:
    server.always = fault
    before = _figures()
    client = VLLMClient(server.base_url, MODEL, timeout_s=5.0, max_retries=1, backoff_s=0.01)
    with client, pytest.raises(error):
        client.complete(MESSAGES)
    moved = _moved(before)
    assert moved.pop(outcome) == 1  # once per call, not per attempt
    assert set(moved.values()) == {0}
