"""`mentionbot demo` on embedded defaults (SQLite, in-memory Celery) against the real engine."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.process import last_json, run_mentionbot

pytestmark = [pytest.mark.engine]


def test_demo_answers_every_mention_once(vllm_server: Any, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTIONBOT_")}
    env.update(
        {
            # The session's engine stands in for the one the demo would start (same code path
            # as an operator pointing the demo at a GPU server).
            "MENTIONBOT_LLM_URL": vllm_server.base_url,
            "MENTIONBOT_LLM_MODEL": vllm_server.model,
            "MENTIONBOT_LLM_MAX_TOKENS": "24",
            "MENTIONBOT_VAR_DIR": str(tmp_path),
        }
    )
    args = ["demo", "--mentions", "8", "--exit-when-done", "--json", "--timeout-s", "300"]
    proc = run_mentionbot(args, env, timeout=420)
    summary = last_json(proc)
    assert summary["mentions"] == 8
    assert summary["answered"] == summary["posted"] == 8
    assert summary["failed"] == 0
    assert summary["duplicates_on_platform"] == 0
    assert summary["p50_mention_to_reply_s"] > 0
    # Each mention is printed beside its reply.
    assert "mentions and replies" in proc.stdout
    assert list(tmp_path.glob("demo/demo-*.db")), "the demo should use a SQLite file"
