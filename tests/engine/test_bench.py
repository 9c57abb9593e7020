"""`mentionbot bench llm` against the session's real engine prints its figures as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.engine]


def test_bench_llm_prints_one_json_line_per_contract(vllm_server: Any) -> None:
    env = {
        **os.environ,
        "MENTIONBOT_LLM_URL": vllm_server.base_url,
        "MENTIONBOT_LLM_MODEL": vllm_server.model,
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bot",
            "bench",
            "llm",
            "--concurrency",
            "1,4",
            "--max-tokens",
            "8",
            "--requests",
            "8",
            "--json",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [r["concurrency"] for r in out["runs"]] == [1, 4]
    for run in out["runs"]:
        assert run["errors"] == 0 and run["requests"] == 8
        assert run["rps"] > 0 and run["output_tokens_per_s"] > 0
        assert 0 < run["p50_s"] <= run["p99_s"]
        assert 0 < run["ttft_p50_s"] <= run["p99_s"]
        # ignore_eos: every request generates exactly max_tokens
        assert run["output_tokens_per_s"] == pytest.approx(8 * run["rps"], rel=0.01)
    assert "concurrency 4" in proc.stderr  # progress is shown while it runs


def test_bench_soak_runs_the_pipeline_and_reports_what_the_issue_asks(
    vllm_server: Any, pg_url: str
) -> None:
    # A short soak (the real one is 20/s for 5 minutes, by hand): every process is started,
    # fed, drained and measured.
    env = {
        **os.environ,
        "MENTIONBOT_LLM_URL": vllm_server.base_url,
        "MENTIONBOT_LLM_MODEL": vllm_server.model,
        "MENTIONBOT_LLM_MAX_TOKENS": "16",
        "MENTIONBOT_DATABASE_URL": pg_url,  # the scratch database goes beside it
    }
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "bench", "soak", "--rate", "5", "--seconds", "6", "--json"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["sent"] == 30 and out["drained"] and out["drain_s"] is not None
    assert out["outcomes"] == {"mention answered:answered": 30, "reply posted": 30}
    assert set(out["memory_mb"]) == {"sandbox", "listener", "generate", "post", "beat"}
    assert all(m["start"] > 0 and m["end"] > 0 for m in out["memory_mb"].values())
    assert out["in_flight"] and set(out["in_flight"][0]) == {
        "t", "queued", "generating", "approved", "posting"
    }  # fmt: skip
    assert out["in_flight_max"] <= out["sent"]
