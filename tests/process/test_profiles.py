"""Model profiles checked by what runs them: vLLM's own parser (in a process of its own, so
that torch stays out of pytest's) and serve_profile with the standard library alone."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from models.profiles.catalog import PROFILES, get_profile
from tests.fixtures.deploy import REPO, serve_argv

# Runs in a subprocess: importing vLLM pulls in torch (~14 s, ~1 GB), which stays out of
# the pytest process. vLLM 0.32 keeps the server's parser in
# vllm.entrypoints.launchers.cli_args (vllm.entrypoints.openai.cli_args is gone).
_PARSE_WITH_VLLM = r"""
import contextlib, io, json, sys
from vllm.engine.arg_utils import AsyncEngineArgs
from vllm.entrypoints.launchers.cli_args import make_arg_parser, validate_parsed_serve_args
from vllm.utils.argparse_utils import FlexibleArgumentParser

FIELDS = (
    "model", "served_model_name", "tensor_parallel_size", "enable_expert_parallel", "dtype",
    "quantization", "max_model_len", "gpu_memory_utilization", "max_num_seqs",
    "kv_cache_dtype", "scheduling_policy", "override_generation_config", "enforce_eager",
    "trust_remote_code",
)
out = {}
for name, argv in json.load(sys.stdin).items():
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = make_arg_parser(FlexibleArgumentParser()).parse_args(argv)
            validate_parsed_serve_args(args)
            engine = AsyncEngineArgs.from_cli_args(args)
    except SystemExit as exc:
        out[name] = {"error": f"exit {exc.code}: {err.getvalue()[-800:]}"}
        continue
    out[name] = {f: getattr(engine, f) for f in FIELDS}
    out[name].update(host=args.host, port=args.port)
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def parsed_by_vllm() -> dict[str, dict[str, Any]]:
    """Every profile's arguments as vLLM 0.32's own parser and EngineArgs understand them."""
    proc = subprocess.run(
        [sys.executable, "-c", _PARSE_WITH_VLLM],
        input=json.dumps({name: serve_argv(name) for name in PROFILES}),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    result: dict[str, dict[str, Any]] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_profile_args_parse_with_vllms_own_parser(
    name: str, parsed_by_vllm: dict[str, dict[str, Any]]
) -> None:
    profile = get_profile(name)
    got = parsed_by_vllm[name]
    assert "error" not in got, got.get("error")
    assert got["model"] == (profile.checkpoint or "/models/local")
    assert got["served_model_name"] in (["moe"], "moe")
    assert (got["host"], got["port"]) == ("0.0.0.0", 8000)
    assert got["tensor_parallel_size"] == profile.tensor_parallel_size
    assert got["enable_expert_parallel"] == profile.enable_expert_parallel
    assert got["dtype"] == (profile.dtype or "auto")
    assert got["quantization"] == profile.quantization
    assert got["max_model_len"] == profile.max_model_len
    if profile.gpu_memory_utilization is not None:
        assert got["gpu_memory_utilization"] == profile.gpu_memory_utilization
    assert got["max_num_seqs"] == profile.max_num_seqs
    assert got["kv_cache_dtype"] == (profile.kv_cache_dtype or "auto")
    assert got["scheduling_policy"] == "priority"
    assert got["override_generation_config"] == profile.sampling.generation_config()
    assert got["enforce_eager"] == ("--enforce-eager" in profile.extra_args)
    assert got["trust_remote_code"] == ("--trust-remote-code" in profile.extra_args)


def test_serve_profile_runs_without_site_packages() -> None:
    # -S: no site-packages at all, as in a container that only has the standard library
    # and models/; any third-party or bot/ import would fail or show up here.
    proc = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            "import sys, models.serving.serve_profile as m; m.main(['--print', 'grok-2']); "
            "print(sorted(k for k in sys.modules if k.split('.')[0] in "
            "('bot', 'workers', 'httpx', 'vllm', 'torch', 'pydantic')))",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    printed, leaked = proc.stdout.strip().splitlines()
    assert "xai-org/grok-2" in printed
    assert leaked == "[]"
