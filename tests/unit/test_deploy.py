"""docker-compose.yml parses and runs only commands that exist in the mentionbot CLI."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli import app
from models.profiles.catalog import DEFAULT_GPU_PROFILE, PROFILES, get_profile
from models.profiles.definition import VLLM_IMAGE, serve_command

REPO = Path(__file__).resolve().parents[2]
# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?message}, ${VAR?message}
_COMPOSE_VAR = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def _with_defaults(value: Any) -> str:
    """A compose value as it resolves with nothing set in the environment."""

    def sub(m: re.Match[str]) -> str:
        if m.group(2) and m.group(2).endswith("?"):
            raise AssertionError(f"{m.group(1)} is required: {m.group(3)}")
        return m.group(3) or ""

    return _COMPOSE_VAR.sub(sub, str(value))


def _dockerfile(path: Path) -> dict[str, list[str]]:
    """Instructions of a Dockerfile by keyword (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", path.read_text())
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.setdefault(keyword.upper(), []).append(rest.strip())
    return out


def _strings(node: Any) -> list[str]:
    """Every string in a parsed YAML tree."""
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [str(k), *_strings(v)]]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [str(node)]


def _check(args: list[str]) -> int:
    """Parse a command line with the real CLI; --help stops before anything runs.

    Click rejects an unknown command or option while parsing, before the eager --help acts,
    so exit code 0 means every word of `args` is understood.
    """
    return CliRunner().invoke(app, [*args, "--help"]).exit_code


def test_compose_has_every_service() -> None:
    services = _compose()["services"]
    assert {
        "postgres",
        "redis",
        "vllm",
        "migrate",
        "listener",
        "generate-worker",
        "post-worker",
        "beat",
        "dashboard",
    } <= set(services)
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert "gpu" in gpu["capabilities"]
    # The GPU count defaults to what the default profile needs.
    assert _with_defaults(gpu["count"]) == str(get_profile(DEFAULT_GPU_PROFILE).gpus)
    assert services["vllm"]["build"]["dockerfile"] == "Dockerfile.vllm"


def test_every_mentionbot_service_command_exists_in_the_cli() -> None:
    checked = 0
    for name, svc in _compose()["services"].items():
        if svc.get("image") != "mentionbot:latest":
            continue
        assert _check(list(svc["command"])) == 0, name
        checked += 1
    assert checked == 6


def test_unknown_commands_and_options_are_caught() -> None:
    assert _check(["worker", "--no-such-flag"]) != 0
    assert _check(["no-such-command"]) != 0


def test_no_secret_values_in_compose() -> None:
    for line in (REPO / "docker-compose.yml").read_text().splitlines():
        key, _, value = line.partition(":")
        if any(w in key for w in ("TOKEN", "SECRET", "PASSWORD")) and value.strip():
            assert value.strip().startswith("${"), line


def test_docs_list_every_setting() -> None:
    from bot.settings import Settings

    page = (REPO / "docs" / "settings.md").read_text()
    # Each setting is a row of the generated table: its variable and its description.
    stale = [
        n
        for n, info in Settings.model_fields.items()
        if f"| `MENTIONBOT_{n.upper()}` |" not in page or f"| {info.description} |" not in page
    ]
    assert stale == [], "docs/settings.md is stale: run `python scripts/update_docs.py`"


# --- the vLLM container runs a model profile ----------------------------------------------


def test_vllm_dockerfile_is_the_official_image_plus_models() -> None:
    docker = _dockerfile(REPO / "Dockerfile.vllm")
    assert docker["ARG"] == [f"VLLM_IMAGE={VLLM_IMAGE}"]
    assert VLLM_IMAGE == "vllm/vllm-openai:v0.32.0"
    assert docker["FROM"] == ["${VLLM_IMAGE}"]
    assert docker["COPY"] == ["models ./models"]
    assert json.loads(docker["ENTRYPOINT"][0]) == ["python3", "-m", "models.serving.serve_profile"]
    assert "CMD" not in docker
    build_arg = _compose()["services"]["vllm"]["build"]["args"]["VLLM_IMAGE"]
    assert _with_defaults(build_arg) == VLLM_IMAGE


def test_vllm_service_command_resolves_to_the_profile_definition() -> None:
    vllm = _compose()["services"]["vllm"]
    env = {k: _with_defaults(v) for k, v in vllm["environment"].items()}
    assert env["MENTIONBOT_MODEL_PROFILE"] == DEFAULT_GPU_PROFILE
    # The container's argv: Dockerfile.vllm's ENTRYPOINT plus compose's command (if any).
    entrypoint = json.loads(_dockerfile(REPO / "Dockerfile.vllm")["ENTRYPOINT"][0])
    command = [_with_defaults(a) for a in vllm.get("command", [])]
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


def test_no_vllm_flag_is_written_in_compose() -> None:
    vllm_flags = {
        a.split("=", 1)[0]
        for name, p in PROFILES.items()
        for a in serve_command(p, "x", "h", 1, model="/m" if p.built_locally else None)
        if a.startswith("--")
    }
    compose = _compose()
    # A mentionbot command's own options (`dashboard --host`) are ours, parsed by our CLI
    # (test_every_mentionbot_service_command_exists_in_the_cli), not vLLM's.
    ours = {
        name: {k: v for k, v in svc.items() if k != "command"}
        if svc.get("image") == "mentionbot:latest"
        else svc
        for name, svc in compose["services"].items()
    }
    written = {
        t for s in _strings({**compose, "services": ours}) for t in s.split() if t.startswith("--")
    }
    assert written & vllm_flags == set()
    # Whatever reaches the server process: its command, entrypoint and environment.
    vllm = compose["services"]["vllm"]
    to_server = _strings([vllm.get("command", []), vllm.get("entrypoint", []), vllm["environment"]])
    assert [s for s in to_server if s.lstrip().startswith("-")] == []


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


# --- what each compose service's process would load and do -------------------------------

# What an operator must set (the `${VAR:?...}` ones), as they would set them.
OPERATOR_SET = {
    "POSTGRES_PASSWORD": "pg-pass",
    "MENTIONBOT_X_CONSUMER_KEY": "ck",
    "MENTIONBOT_X_CONSUMER_SECRET": "cs",
    "MENTIONBOT_X_ACCESS_TOKEN": "at",
    "MENTIONBOT_X_ACCESS_TOKEN_SECRET": "ats",
    "MENTIONBOT_DASHBOARD_SECRET": "a-long-random-secret",
}


def _resolved(value: Any) -> str:
    """A compose value with the operator's required variables set and the rest defaulted."""

    def sub(m: re.Match[str]) -> str:
        return OPERATOR_SET.get(m.group(1)) or m.group(3) or ""

    return _COMPOSE_VAR.sub(sub, str(value))


def _service_settings(name: str) -> Any:
    """The Settings the service's process builds from its environment (as in the container)."""
    from bot.settings import Settings

    env = {
        k: _resolved(v) for k, v in (_compose()["services"][name].get("environment") or {}).items()
    }
    fields: dict[str, Any] = {
        k.removeprefix("MENTIONBOT_").lower(): v
        for k, v in env.items()
        if k.startswith("MENTIONBOT_")
        and k.removeprefix("MENTIONBOT_").lower() in Settings.model_fields
    }
    return Settings(_env_file=None, **fields)


MENTIONBOT_SERVICES = ("migrate", "listener", "generate-worker", "post-worker", "beat", "dashboard")


@pytest.mark.parametrize("name", MENTIONBOT_SERVICES)
def test_each_service_loads_settings_that_work_on_real_x(name: str) -> None:
    from bot.platform.x import XPlatform

    settings = _service_settings(name)
    assert settings.database_url.startswith("postgresql+psycopg://mentionbot:pg-pass@")
    assert settings.x_api_url is None  # the real X
    # No bearer token set: reads are signed with the bot's OAuth 1.0a user context (an empty
    # bearer would send `Authorization: Bearer ` and get 401 on every read).
    assert settings.x_bearer_token is None
    platform = XPlatform.from_settings(settings)
    assert platform.client.bearer_token is None and platform.client.consumer_key == "ck"
    assert platform.read_user_auth is True


def test_the_workers_sample_with_the_served_profile() -> None:
    vllm_env = _compose()["services"]["vllm"]["environment"]
    served = _resolved(vllm_env["MENTIONBOT_MODEL_PROFILE"])
    settings = _service_settings("generate-worker")
    assert settings.model_profile == served == DEFAULT_GPU_PROFILE
    assert get_profile(settings.model_profile).sampling == get_profile(served).sampling
    assert settings.llm_model == _resolved(vllm_env["MENTIONBOT_LLM_MODEL"])


def test_the_dashboard_signs_its_cookies_and_sends_them_over_https_only() -> None:
    settings = _service_settings("dashboard")
    assert settings.dashboard_secret is not None
    assert settings.dashboard_secret.get_secret_value() == "a-long-random-secret"
    assert settings.dashboard_secure_cookies is True


# --- every process serves /metrics and /healthz, and compose checks them -----------------

PROCESS_SERVICES = ("listener", "generate-worker", "post-worker", "beat", "dashboard")


def _healthcheck_url(name: str) -> str:
    test = _compose()["services"][name]["healthcheck"]["test"]
    assert test[0] == "CMD", f"{name}: exec form, no shell"
    found = re.findall(r"http://127\.0\.0\.1:(\d+)(/\S*?)'", " ".join(test[1:]))
    assert len(found) == 1, f"{name}: one URL in {test}"
    port, path = found[0]
    return f"{port}{path}"


@pytest.mark.parametrize("name", PROCESS_SERVICES)
def test_each_process_serves_metrics_on_a_port_of_its_own(name: str) -> None:
    ports = {n: _service_settings(n).metrics_port for n in PROCESS_SERVICES}
    assert ports[name] is not None, f"{name} sets no MENTIONBOT_METRICS_PORT"
    assert len(set(ports.values())) == len(ports), ports


@pytest.mark.parametrize("name", ("listener", "generate-worker", "post-worker", "beat"))
def test_each_process_is_health_checked_on_its_metrics_port(name: str) -> None:
    settings = _service_settings(name)
    assert _healthcheck_url(name) == f"{settings.metrics_port}/healthz"
    check = _compose()["services"][name]["healthcheck"]
    # The first poll or the broker connection may take a while; the check waits for it.
    assert "start_period" in check and "timeout" in check


def test_the_dashboard_is_health_checked_on_its_own_port() -> None:
    command = _compose()["services"]["dashboard"]["command"]
    assert _healthcheck_url("dashboard") == f"{command[command.index('--port') + 1]}/healthz"


def test_beat_keeps_its_schedule_where_the_container_may_write() -> None:
    beat = _compose()["services"]["beat"]
    assert "--schedule" not in beat["command"]  # the default: MENTIONBOT_VAR_DIR's
    # The image runs as `nobody`: only /tmp is writable.
    assert str(_service_settings("beat").var_dir).startswith("/tmp/")


def test_the_healthcheck_snippet_fails_on_503_and_passes_on_200() -> None:
    from bot.cli.observe import MetricsServer

    state = {"ok": False}
    server = MetricsServer(0, lambda: (state["ok"], {}), host="127.0.0.1").start()
    try:
        test = _compose()["services"]["listener"]["healthcheck"]["test"]
        argv = [sys.executable, *test[2:]]
        argv[-1] = argv[-1].replace("127.0.0.1:9101", f"127.0.0.1:{server.port}")
        assert subprocess.run(argv, capture_output=True, check=False).returncode != 0
        state["ok"] = True
        assert subprocess.run(argv, capture_output=True, check=False).returncode == 0
    finally:
        server.stop()
