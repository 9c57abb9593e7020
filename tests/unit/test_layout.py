"""The layout rules of docs/design.md section 1 and issue 7, checked rather than only written:
package docstrings, size limits, no private names across modules, and the import-linter
contracts (shown to fail on a forbidden import)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "workers", "models")
MAX_FILE_LINES = 450
MAX_FUNCTION_LINES = 60


def _sources(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (REPO / root).rglob("*.py"))


def test_every_package_says_what_lives_there_and_what_it_may_import() -> None:
    for init in _sources(*PACKAGES, "migrations"):
        if init.name != "__init__.py":
            continue
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(REPO)} has no docstring"
        assert "import" in doc.lower(), f"{init.relative_to(REPO)} does not say what it may import"


def test_no_file_or_function_is_too_long() -> None:
    too_long = []
    for path in _sources(*PACKAGES):
        source = path.read_text()
        name = path.relative_to(REPO)
        if len(source.splitlines()) > MAX_FILE_LINES:
            too_long.append(f"{name}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_long.append(f"{name}:{node.lineno} {node.name}() is {lines} lines")
    assert too_long == []


def _project(module: str) -> bool:
    return module.split(".")[0] in (*PACKAGES, "tests")


def test_no_private_name_is_imported_across_modules() -> None:
    found = []
    for path in _sources(*PACKAGES, "tests", "migrations"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and _project(node.module):
                found += [
                    f"{path.relative_to(REPO)}: from {node.module} import {alias.name}"
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    assert found == []


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(lint), "--no-cache"], cwd=cwd, capture_output=True, text=True, check=False
    )


def test_the_import_contracts_hold() -> None:
    result = _lint_imports(REPO)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden", "contract"),
    [
        ("bot/mentions/gating.py", "import workers.names", "only bot.cli imports workers"),
        ("models/xlength.py", "import bot.vocab", "workers above bot above models"),
        ("bot/subscribers/quotas.py", "import bot.replies.claims", "bot's features depend one way"),
        ("bot/sandbox/store.py", "import bot.db.base", "sandbox imports nothing"),
    ],
)
def test_a_forbidden_import_breaks_a_contract(
    tmp_path: Path, module: str, forbidden: str, contract: str
) -> None:
    for name in (*PACKAGES, "pyproject.toml"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{forbidden}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0, result.stdout[-2000:]
    broken = [line for line in result.stdout.splitlines() if "BROKEN" in line]
    assert any(contract in line for line in broken) or contract in result.stdout, result.stdout
