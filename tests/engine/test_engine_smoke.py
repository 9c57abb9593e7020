"""Smoke tests against the real CPU vLLM engine serving the tiny MoE checkpoint."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import httpx
import pytest

from models.checkpoints.build import weights_sha256
from models.checkpoints.tiny_moe import BOS, SPECIAL_TOKENS, build_tiny_moe, is_built
from models.serving.server import ServeConfig, build_command, build_env
from tests.fixtures.engine import EngineServer

pytestmark = pytest.mark.engine

MESSAGES = [
    {"role": "system", "content": "You answer mentions on X briefly and accurately."},
    {"role": "user", "content": "@mentionbot is this true? The moon is made of cheese."},
]


def _client(server: EngineServer) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=60.0, trust_env=False)


# --- the checkpoint ---------------------------------------------------------------------


def test_tiny_moe_builds_deterministically(tiny_model_dir: Path, tmp_path: Path) -> None:
    same = build_tiny_moe(tmp_path / "seed0", seed=0)
    other = build_tiny_moe(tmp_path / "seed1", seed=1)

    assert weights_sha256(same) == weights_sha256(tiny_model_dir)
    assert weights_sha256(other) != weights_sha256(same)
    assert (same / "tokenizer.json").read_bytes() == (
        tiny_model_dir / "tokenizer.json"
    ).read_bytes()
    assert is_built(same) and is_built(other, seed=1)
    assert not is_built(other, seed=0)


def test_tiny_moe_rebuild_is_skipped_and_corruption_detected(tmp_path: Path) -> None:
    out = build_tiny_moe(tmp_path / "m")
    weights = out / "model.safetensors"
    mtime = weights.stat().st_mtime_ns
    assert build_tiny_moe(out) == out
    assert weights.stat().st_mtime_ns == mtime  # reused, not rebuilt

    weights.write_bytes(weights.read_bytes()[:-16])
    assert not is_built(out)
    build_tiny_moe(out)
    assert is_built(out)


def test_tiny_moe_shape(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["architectures"] == ["MixtralForCausalLM"]
    assert config["vocab_size"] == 512
    assert config["hidden_size"] == 128
    assert config["num_hidden_layers"] == 2
    assert config["num_local_experts"] == 4
    assert config["num_experts_per_tok"] == 2
    assert config["head_dim"] == 32
    assert config["intermediate_size"] % 32 == 0
    size = (tiny_model_dir / "model.safetensors").stat().st_size
    assert 500_000 < size < 3_000_000

    tok_config = json.loads((tiny_model_dir / "tokenizer_config.json").read_text())
    assert "add_generation_prompt" in tok_config["chat_template"]
    vocab = json.loads((tiny_model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) <= 512
    for i, token in enumerate(SPECIAL_TOKENS):
        assert vocab[token] == i


def test_launch_command_and_env_are_offline() -> None:
    cfg = ServeConfig(model="/m", served_model_name="tiny-moe", port=1234, extra_args=["--x"])
    cmd = build_command(cfg)
    assert cmd[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    assert cmd[cmd.index("--port") + 1] == "1234"
    assert "--enforce-eager" in cmd and cmd[-1] == "--x"
    env = build_env({"HF_HUB_OFFLINE": "0", "VLLM_CPU_KVCACHE_SPACE": "4"})
    assert env["HF_HUB_OFFLINE"] == "1" and env["VLLM_NO_USAGE_STATS"] == "1"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "4"


# --- the server -------------------------------------------------------------------------


def test_models_lists_served_name(vllm_server: EngineServer) -> None:
    with _client(vllm_server) as client:
        resp = client.get("/v1/models")
    assert resp.status_code == 200
    assert [m["id"] for m in resp.json()["data"]] == ["tiny-moe"]
    assert vllm_server.model == "tiny-moe"


def test_health(vllm_server: EngineServer) -> None:
    with _client(vllm_server) as client:
        assert client.get("/health").status_code == 200


def test_tokenize_plain_and_chat(vllm_server: EngineServer) -> None:
    bos = SPECIAL_TOKENS.index(BOS)
    assistant = SPECIAL_TOKENS.index("<|assistant|>")
    with _client(vllm_server) as client:
        plain = client.post("/tokenize", json={"model": "tiny-moe", "prompt": "is this true?"})
        chat = client.post(
            "/tokenize",
            json={"model": "tiny-moe", "messages": MESSAGES, "add_generation_prompt": True},
        )
        back = client.post(
            "/detokenize", json={"model": "tiny-moe", "tokens": plain.json()["tokens"][1:]}
        )
    assert plain.status_code == 200 and chat.status_code == 200
    assert plain.json()["tokens"][0] == bos
    assert back.json()["prompt"] == "is this true?"
    tokens = chat.json()["tokens"]
    assert tokens[0] == bos and tokens.count(bos) == 1  # the template's <s>, not doubled
    assert tokens[-2] == assistant  # generation prompt "<|assistant|>\n"


def test_chat_completion_applies_template(vllm_server: EngineServer) -> None:
    with _client(vllm_server) as client:
        chat_tokens = client.post(
            "/tokenize",
            json={"model": "tiny-moe", "messages": MESSAGES, "add_generation_prompt": True},
        ).json()["count"]
        resp = client.post(
            "/v1/chat/completions",
            json={
                "model": "tiny-moe",
                "messages": MESSAGES,
                "max_tokens": 16,
                "min_tokens": 8,
                "temperature": 0,
            },
        )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] == chat_tokens > 0
    assert 8 <= usage["completion_tokens"] <= 16


def test_metrics_exposes_engine_counters(vllm_server: EngineServer) -> None:
    with _client(vllm_server) as client:
        client.post(
            "/v1/chat/completions",
            json={"model": "tiny-moe", "messages": MESSAGES, "max_tokens": 4},
        ).raise_for_status()
        text = client.get("/metrics").text
    assert "vllm:num_requests_waiting" in text
    assert re.search(r"^vllm:generation_tokens_total\{.*\} [1-9]", text, re.M)


def test_priority_field_is_accepted(vllm_server: EngineServer) -> None:
    with _client(vllm_server) as client:
        resp = client.post(
            "/v1/chat/completions",
            json={"model": "tiny-moe", "messages": MESSAGES, "max_tokens": 4, "priority": -5},
        )
    assert resp.status_code == 200, resp.text


def test_priority_request_jumps_the_queue(vllm_server: EngineServer) -> None:
    """With 100 low-priority requests queued beyond 32 slots, a priority-0 one overtakes."""
    finished: list[str] = []
    low_count, max_tokens = 100, 256

    async def chat(client: httpx.AsyncClient, name: str, priority: int) -> None:
        resp = await client.post(
            "/v1/chat/completions",
            json={
                "model": "tiny-moe",
                "messages": [{"role": "user", "content": f"question {name}"}],
                "max_tokens": max_tokens,
                "ignore_eos": True,
                "priority": priority,
            },
        )
        resp.raise_for_status()
        finished.append(name)

    async def waiting(client: httpx.AsyncClient) -> float:
        text = (await client.get("/metrics")).text
        match = re.search(r"^vllm:num_requests_waiting\{.*\} (\S+)$", text, re.M)
        return float(match.group(1)) if match else 0.0

    async def scenario() -> None:
        limits = httpx.Limits(max_connections=low_count + 10)
        async with httpx.AsyncClient(
            base_url=vllm_server.base_url, timeout=300.0, limits=limits, trust_env=False
        ) as client:
            low = [asyncio.create_task(chat(client, f"low{i}", 10)) for i in range(low_count)]
            deadline = time.monotonic() + 60
            while await waiting(client) < 40:
                assert time.monotonic() < deadline, "low-priority requests never queued up"
                await asyncio.sleep(0.05)
            high = asyncio.create_task(chat(client, "high", 0))
            await asyncio.gather(*low, high)

    asyncio.run(scenario())
    after_high = len(finished) - finished.index("high") - 1
    # FCFS would put it in the last wave, behind all 100; priority puts it in the next one.
    assert after_high >= 16, f"only {after_high} low-priority requests finished after it"
