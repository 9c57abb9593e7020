"""The vLLM client against the real CPU engine: streaming, TTFT, usage, /tokenize."""

from __future__ import annotations

from typing import Any

import pytest

from models.llm_client import VLLMClient

pytestmark = [pytest.mark.engine]


def test_streamed_completion_reports_ttft_and_usage(vllm_server: Any) -> None:
    with VLLMClient(vllm_server.base_url, vllm_server.model) as llm:
        out = llm.complete([{"role": "user", "content": "is this true?"}], max_tokens=16, seed=1)
    assert out.completion_tokens > 0 and out.prompt_tokens > 0
    assert out.ttft_s is not None and 0 < out.ttft_s <= out.elapsed_s
    assert out.model == vllm_server.model
    assert out.finish_reason in ("length", "stop")


def test_count_tokens_uses_the_served_tokenizer_and_caches(vllm_server: Any) -> None:
    with VLLMClient(vllm_server.base_url, vllm_server.model) as llm:
        short = llm.count_tokens("hello")
        long = llm.count_tokens("hello " * 50)
        assert 0 < short < long
        assert llm.count_tokens("hello") == short
        assert "hello" in llm._token_cache
