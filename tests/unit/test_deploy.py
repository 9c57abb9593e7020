"""docker-compose.yml parses and runs only commands that exist in the mentionbot CLI (read as
files here; tests/process/test_deploy.py runs its commands)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli import app
from models.profiles.catalog import DEFAULT_GPU_PROFILE, PROFILES, get_profile
from models.profiles.definition import VLLM_IMAGE, serve_command
from tests.fixtures.deploy import COMPOSE_VAR, REPO, compose, dockerfile, with_defaults


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
    services = compose()["services"]
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
    assert with_defaults(gpu["count"]) == str(get_profile(DEFAULT_GPU_PROFILE).gpus)
    assert services["vllm"]["build"]["dockerfile"] == "Dockerfile.vllm"


def test_every_mentionbot_service_command_exists_in_the_cli() -> None:
    checked = 0
    for name, svc in compose()["services"].items():
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
    docker = dockerfile(REPO / "Dockerfile.vllm")
    assert docker["ARG"] == [f"VLLM_IMAGE={VLLM_IMAGE}"]
    assert VLLM_IMAGE == "vllm/vllm-openai:v0.32.0"
    assert docker["FROM"] == ["${VLLM_IMAGE}"]
    assert docker["COPY"] == ["models ./models"]
    assert json.loads(docker["ENTRYPOINT"][0]) == ["python3", "-m", "models.serving.serve_profile"]
    assert "CMD" not in docker
    build_arg = compose()["services"]["vllm"]["build"]["args"]["VLLM_IMAGE"]
    assert with_defaults(build_arg) == VLLM_IMAGE


def test_no_vllm_flag_is_written_in_compose() -> None:
    vllm_flags = {
        a.split("=", 1)[0]
        for name, p in PROFILES.items()
        for a in serve_command(p, "x", "h", 1, model="/m" if p.built_locally else None)
        if a.startswith("--")
    }
    spec = compose()
    # A mentionbot command's own options (`dashboard --host`) are ours, parsed by our CLI
    # (test_every_mentionbot_service_command_exists_in_the_cli), not vLLM's.
    ours = {
        name: {k: v for k, v in svc.items() if k != "command"}
        if svc.get("image") == "mentionbot:latest"
        else svc
        for name, svc in spec["services"].items()
    }
    written = {
        t for s in _strings({**spec, "services": ours}) for t in s.split() if t.startswith("--")
    }
    assert written & vllm_flags == set()
    # Whatever reaches the server process: its command, entrypoint and environment.
    vllm = spec["services"]["vllm"]
    to_server = _strings([vllm.get("command", []), vllm.get("entrypoint", []), vllm["environment"]])
    assert [s for s in to_server if s.lstrip().startswith("-")] == []


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

    return COMPOSE_VAR.sub(sub, str(value))


def _service_settings(name: str) -> Any:
    """The Settings the service's process builds from its environment (as in the container)."""
    from bot.settings import Settings

    env = {
        k: _resolved(v) for k, v in (compose()["services"][name].get("environment") or {}).items()
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
    vllm_env = compose()["services"]["vllm"]["environment"]
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
    test = compose()["services"][name]["healthcheck"]["test"]
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
    check = compose()["services"][name]["healthcheck"]
    # The first poll or the broker connection may take a while; the check waits for it.
    assert "start_period" in check and "timeout" in check


def test_the_dashboard_is_health_checked_on_its_own_port() -> None:
    command = compose()["services"]["dashboard"]["command"]
    assert _healthcheck_url("dashboard") == f"{command[command.index('--port') + 1]}/healthz"


def test_beat_keeps_its_schedule_where_the_container_may_write() -> None:
    beat = compose()["services"]["beat"]
    assert "--schedule" not in beat["command"]  # the default: MENTIONBOT_VAR_DIR's
    # The image runs as `nobody`: only /tmp is writable.
    assert str(_service_settings("beat").var_dir).startswith("/tmp/")
