"""`mentionbot bench llm` against the session's real engine prints its figures as JSON."""

from __future__ import annotations

import os
from typing import Any

import pytest

from tests.fixtures.process import last_json, run_mentionbot

pytestmark = [pytest.mark.engine]


def test_bench_llm_prints_one_json_line_per_contract(vllm_server: Any) -> None:
    env = {
        **os.environ,
        "MENTIONBOT_LLM_URL": vllm_server.base_url,
        "MENTIONBOT_LLM_MODEL": vllm_server.model,
    }
    args = ["bench", "llm", "--concurrency", "1,4", "--max-tokens", "8", "--requests", "8"]
    proc = run_mentionbot([*args, "--json"], env)
    out = last_json(proc)
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
    out = last_json(
        run_mentionbot(["bench", "soak", "--rate", "5", "--seconds", "6", "--json"], env)
    )
    assert out["sent"] == 30 and out["drained"] and out["drain_s"] is not None
    assert out["outcomes"] == {"mention answered:accepted": 30, "reply posted": 30}
    assert set(out["memory_mb"]) == {"sandbox", "listener", "generate", "post", "beat"}
    assert all(m["start"] > 0 and m["end"] > 0 for m in out["memory_mb"].values())
    assert out["in_flight"] and set(out["in_flight"][0]) == {
        "t",
        "queued",
        "generating",
        "approved",
        "posting",
    }
    assert out["in_flight_max"] <= out["sent"]


def test_bench_pipeline_reports_what_the_issue_asks(vllm_server: Any, pg_url: str) -> None:
    # A small run (the real one is 500 mentions, by hand): baseline, burst, below capacity and
    # overload, on the real processes and the session's engine, through the command.
    env = {
        **os.environ,
        "MENTIONBOT_LLM_URL": vllm_server.base_url,
        "MENTIONBOT_LLM_MODEL": vllm_server.model,
        "MENTIONBOT_DATABASE_URL": pg_url,  # the scratch database goes beside it
    }
    args = ["--mentions", "20", "--steady-mentions", "10", "--max-tokens", "16", "--overload", "2"]
    proc = run_mentionbot(["bench", "pipeline", *args, "--json"], env)
    out = last_json(proc)
    assert out["raw_rps"] > 0 and out["raw_errors"] == 0
    assert out["pipeline_rps"] > 0 and out["replies"] == 20
    assert out["ratio"] == pytest.approx(out["pipeline_rps"] / out["raw_rps"], rel=0.01)
    assert out["outcomes"] == {"answered:posted": 20}  # none refused, every reply posted
    assert out["prompt_inputs_identical"], out["prompt_mismatches"]
    assert set(out["latency_s"]) == {"all", "premium", "premium_plus"}
    assert 0 < out["latency_s"]["all"]["p50"] <= out["latency_s"]["all"]["p99"]
    per_reply = out["cpu_s_per_reply"]
    assert {"listener", "generate_worker", "post_worker", "postgres", "redis"} <= set(per_reply)
    assert per_reply["generate_worker"] > 0 and per_reply["pipeline_total"] > 0
    below = out["below_capacity"]
    assert below["replies"] == 10
    assert 0 < below["overhead_p50_ms"] <= below["overhead_p99_ms"]
    assert set(below["stages_ms"]) == {
        "poll_wait",
        "listener_ingest",
        "queue_wait",
        "claim_prompt",
        "generation",
        "handoff",
        "x_call",
    }
    overload = out["overload"]
    assert overload["replies"] == 20 and set(overload["p95_s"]) == {"premium", "premium_plus"}
    assert out["machine"]["cores"] >= 1 and out["machine"]["cpu_model"]
    assert "baseline:" in proc.stderr and "below capacity:" in proc.stderr  # progress lines
