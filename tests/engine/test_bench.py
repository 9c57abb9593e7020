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
