"""The import contracts of docs/design.md section 1 ([tool.importlinter] in pyproject.toml),
run as `lint-imports` runs: they hold on the tree, and each one fails on a copy of the tree
with a forbidden import added, or a module no layer declares."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "workers", "models")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(cwd)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "added", "contract"),
    [
        ("bot/mentions/gating.py", "import workers.names", "only bot.cli imports workers"),
        ("models/xlength.py", "import bot.vocab", "workers above bot above models"),
        ("bot/subscribers/quotas.py", "import bot.replies.claims", "bot's parts depend one way"),
        ("bot/web/app.py", "import bot.sandbox.store", "bot's parts depend one way"),
        ("bot/sandbox/store.py", "import bot.db.base", "sandbox imports nothing"),
        ("bot/sandbox/store.py", "import bot.vocab", "sandbox imports nothing"),
        ("bot/moderation/review.py", "import starlette.requests", "no web framework"),
        # A new module (or a package renamed) that no layer declares.
        ("bot/newpart.py", "", "bot's parts depend one way"),
        # A new module of the sandbox importing the bot's settings.
        ("bot/sandbox/newpart.py", "import bot.settings", "sandbox imports nothing"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, added: str, contract: str
) -> None:
    for name in (*PACKAGES, "pyproject.toml"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    target = tmp_path / module
    before = target.read_text() if target.exists() else ""
    target.write_text(before + f"\n{added}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout[-2000:]
    # The report's last section names each broken contract (the list above it names them all,
    # kept or not, wrapped at 80 columns).
    _, _, broken = result.stdout.partition("Broken contracts")
    assert contract in broken, result.stdout
