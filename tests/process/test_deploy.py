"""The deploy files' commands as processes: the vLLM container's entrypoint and the profile
printer run as compose would run them, and the health check snippet against a real server."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys

import pytest

from models.profiles.catalog import DEFAULT_GPU_PROFILE, PROFILES, get_profile
from models.profiles.definition import serve_command
from tests.fixtures.deploy import REPO, compose, dockerfile, with_defaults


def test_vllm_service_command_resolves_to_the_profile_definition() -> None:
    vllm = compose()["services"]["vllm"]
    env = {k: with_defaults(v) for k, v in vllm["environment"].items()}
    assert env["MENTIONBOT_MODEL_PROFILE"] == DEFAULT_GPU_PROFILE
    # The container's argv: Dockerfile.vllm's ENTRYPOINT plus compose's command (if any).
    entrypoint = json.loads(dockerfile(REPO / "Dockerfile.vllm")["ENTRYPOINT"][0])
    command = [with_defaults(a) for a in vllm.get("command", [])]
    assert "entrypoint" not in vllm
    argv = [sys.executable, *entrypoint[1:], *command, "--print"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MENTIONBOT_")}
    proc = subprocess.run(
        argv, env={**clean, **env}, cwd=REPO, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    expected = serve_command(
        get_profile(DEFAULT_GPU_PROFILE), env["MENTIONBOT_LLM_MODEL"], "0.0.0.0", 8000
    )
    assert shlex.split(proc.stdout) == expected


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_serve_profile_print_is_exactly_serve_command(name: str) -> None:
    profile = get_profile(name)
    model = ["--model", "/models/local"] if profile.built_locally else []
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MENTIONBOT_")}
    proc = subprocess.run(
        [sys.executable, "-m", "models.serving.serve_profile", "--print", name, *model],
        env=clean,
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    expected = serve_command(
        profile, "moe", "0.0.0.0", 8000, model="/models/local" if model else None
    )
    assert shlex.split(proc.stdout) == expected


def test_serve_profile_refuses_unknown_profiles() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "models.serving.serve_profile", "--print", "no-such-model"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert all(name in proc.stderr for name in PROFILES)


def test_the_healthcheck_snippet_fails_on_503_and_passes_on_200() -> None:
    from bot.cli.observe import MetricsServer

    state = {"ok": False}
    server = MetricsServer(0, lambda: (state["ok"], {}), host="127.0.0.1").start()
    try:
        test = compose()["services"]["listener"]["healthcheck"]["test"]
        argv = [sys.executable, *test[2:]]
        argv[-1] = argv[-1].replace("127.0.0.1:9101", f"127.0.0.1:{server.port}")
        assert subprocess.run(argv, capture_output=True, check=False).returncode != 0
        state["ok"] = True
        assert subprocess.run(argv, capture_output=True, check=False).returncode == 0
    finally:
        server.stop()
