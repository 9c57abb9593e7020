"""Model profiles: one definition of every vLLM flag (tests/process/test_profiles.py checks
them with vLLM's own parser)."""

from __future__ import annotations

import ast
import dataclasses
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import app
from models.profiles.catalog import (
    LOCAL_PROFILE,
    PROFILES,
    UnknownProfileError,
    get_profile,
    markdown_table,
)
from models.profiles.definition import COMMON_ARGS, serve_command
from models.serving.server import ServeConfig, build_command
from tests.fixtures.deploy import serve_argv

REPO = Path(__file__).resolve().parents[3]
REQUIRED = {"tiny-moe", "qwen3-30b-a3b", "gpt-oss-20b", "mixtral-8x7b", "grok-1", "grok-2"}


def test_required_profiles_exist() -> None:
    assert set(PROFILES) >= REQUIRED
    assert all(name == p.name for name, p in PROFILES.items())
    assert get_profile(LOCAL_PROFILE).built_locally
    assert get_profile(LOCAL_PROFILE).cpu_engine == "works"
    grok1 = get_profile("grok-1")
    assert grok1.architecture == "Grok1ModelForCausalLM"
    assert "not instruction-tuned" in grok1.notes


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_every_profile_runs_priority_scheduling_and_writes_each_flag_once(name: str) -> None:
    args = serve_argv(name)
    flags = [a for a in args if a.startswith("--")]
    assert len(flags) == len(set(flags)), flags
    i = args.index(COMMON_ARGS[0])
    assert args[i : i + len(COMMON_ARGS)] == list(COMMON_ARGS)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_tensor_parallel_size_equals_gpus_where_used(name: str) -> None:
    profile = get_profile(name)
    if profile.tensor_parallel_size > 1:
        assert profile.tensor_parallel_size == profile.gpus
    if profile.enable_expert_parallel:
        assert profile.tensor_parallel_size > 1
    assert (profile.gpus == 0) == profile.hardware.startswith("CPU")


def test_grok_profiles_need_eight_gpus_and_an_older_vllm() -> None:
    for name in ("grok-1", "grok-2"):
        profile = get_profile(name)
        assert (profile.gpus, profile.tensor_parallel_size) == (8, 8)
        assert profile.vllm_image == "vllm/vllm-openai:v0.24.0"


def test_inconsistent_profiles_are_refused() -> None:
    qwen = get_profile("qwen3-30b-a3b")
    with pytest.raises(ValueError, match="tensor_parallel_size"):
        dataclasses.replace(qwen, tensor_parallel_size=2)
    with pytest.raises(ValueError, match="--max-model-len"):
        dataclasses.replace(qwen, extra_args=("--max-model-len", "4096"))
    with pytest.raises(ValueError, match="expert parallelism"):
        dataclasses.replace(qwen, enable_expert_parallel=True)


def test_unknown_profile_error_lists_the_names() -> None:
    with pytest.raises(UnknownProfileError) as info:
        get_profile("no-such-model")
    assert all(name in str(info.value) for name in PROFILES)

    result = CliRunner().invoke(app, ["model", "serve", "--profile", "no-such-model"])
    assert result.exit_code != 0
    assert "no-such-model" in result.output and "qwen3-30b-a3b" in result.output


def test_a_locally_built_profile_needs_a_model_dir() -> None:
    with pytest.raises(ValueError, match="built locally"):
        serve_command(get_profile(LOCAL_PROFILE), "x", "127.0.0.1", 8000)


def test_profiles_json_shape() -> None:
    result = CliRunner().invoke(app, ["model", "profiles", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert isinstance(data, list)
    assert [item["name"] for item in data] == list(PROFILES)
    for item in data:
        profile = get_profile(item["name"])
        assert item["checkpoint"] == profile.checkpoint
        assert item["gpus"] == profile.gpus
        assert item["vllm_args"] == profile.vllm_args()
        assert all(isinstance(a, str) for a in item["vllm_args"])
        assert item["architecture"] == profile.architecture
        assert item["tensor_parallel_size"] == profile.tensor_parallel_size
        assert item["sampling"]["temperature"] == profile.sampling.temperature
        assert {"hardware", "notes", "cpu_engine", "extra_args", "vllm_image"} <= set(item)


def test_profiles_table_lists_every_profile() -> None:
    result = CliRunner().invoke(app, ["model", "profiles"])
    assert result.exit_code == 0, result.output
    for name in PROFILES:
        assert name in result.output


def test_docs_table_is_generated_from_the_profiles() -> None:
    page = (REPO / "docs" / "settings.md").read_text()
    assert all(f"`{name}`" in page for name in PROFILES)
    assert markdown_table() in page, (
        "docs/settings.md's profile table is stale: run `python scripts/update_docs.py`"
    )


def test_launcher_default_is_the_tiny_moe_profile() -> None:
    cmd = build_command(ServeConfig(model="/m", served_model_name="x", port=1234))
    profile_cmd = serve_command(get_profile(LOCAL_PROFILE), "x", "127.0.0.1", 1234, model="/m")
    assert cmd == [*profile_cmd, "--distributed-executor-backend", "uni"]
    short = build_command(ServeConfig(model="/m", served_model_name="x", max_model_len=512))
    assert short[short.index("--max-model-len") + 1] == "512"
    assert short.count("--max-model-len") == 1
    with pytest.raises(ValueError, match="--max-num-seqs"):
        build_command(
            ServeConfig(model="/m", served_model_name="x", extra_args=["--max-num-seqs", "8"])
        )


def test_no_model_flag_is_written_outside_the_profiles() -> None:
    # The launcher, the fixture, the demo and the CLI take the tiny MoE's flags from its
    # profile; a literal here would be a second definition.
    flags = ("--max-model-len", "--max-num-seqs", "--scheduling-policy", "--enforce-eager")
    for rel in (
        "models/serving/server.py",
        "tests/fixtures/engine.py",
        "bot/cli/demo.py",
        "bot/cli/model.py",
        "bot/cli/local_engine.py",
    ):
        text = (REPO / rel).read_text()
        assert [f for f in flags if f in text] == [], rel


@pytest.mark.parametrize(
    "rel",
    [
        "models/__init__.py",
        "models/serving/__init__.py",
        "models/profiles/definition.py",
        "models/profiles/catalog.py",
        "models/serving/serve_profile.py",
    ],
)
def test_profile_modules_import_only_the_standard_library(rel: str) -> None:
    tree = ast.parse((REPO / rel).read_text())
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    allowed = set(sys.stdlib_module_names) | {"__future__", "models"}
    assert imported - allowed == set(), rel
    if rel == "models/serving/serve_profile.py":
        from_models = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("models")
        }
        assert from_models == {"models.profiles.definition", "models.profiles.catalog"}
