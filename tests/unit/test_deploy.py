"""docker-compose.yml parses and runs only commands that exist in the mentionbot CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from bot.cli import app

REPO = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


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
    } <= set(services)
    gpu = services["vllm"]["deploy"]["resources"]["reservations"]["devices"][0]
    assert "gpu" in gpu["capabilities"]
    assert services["vllm"]["image"].startswith("vllm/vllm-openai")


def test_every_mentionbot_service_command_exists_in_the_cli() -> None:
    checked = 0
    for name, svc in _compose()["services"].items():
        if svc.get("image") != "mentionbot:latest":
            continue
        assert _check(list(svc["command"])) == 0, name
        checked += 1
    assert checked == 5


def test_unknown_commands_and_options_are_caught() -> None:
    assert _check(["worker", "--no-such-flag"]) != 0
    assert _check(["no-such-command"]) != 0


def test_no_secret_values_in_compose() -> None:
    for line in (REPO / "docker-compose.yml").read_text().splitlines():
        key, _, value = line.partition(":")
        if any(w in key for w in ("TOKEN", "SECRET", "PASSWORD")) and value.strip():
            assert value.strip().startswith("${"), line


def test_readme_lists_every_setting() -> None:
    from bot.settings import Settings

    readme = (REPO / "README.md").read_text()
    missing = [n for n in Settings.model_fields if f"MENTIONBOT_{n.upper()}" not in readme]
    assert missing == []
