"""The layout rules of docs/design.md section 1, checked rather than only written: each package
says what it holds and what it may import, no module grows huge, and no private name is
imported across modules. (Each function's size and shape are ruff's: C90, PLR0912 and
PLR0915 in pyproject.toml; the import contracts are shown to fail in
tests/process/test_import_contracts.py.)"""

from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("bot", "workers", "models")
# Not a size to write to: a module this long has almost surely taken on a second job, and is
# split by job, never squeezed. Ruff keeps each function clear; this only catches the module
# nobody stopped growing.
MAX_FILE_LINES = 800


def _sources(*roots: str) -> list[Path]:
    return sorted(p for root in roots for p in (REPO / root).rglob("*.py"))


def _inits() -> list[Path]:
    return [p for p in _sources(*PACKAGES, "migrations") if p.name == "__init__.py"]


def _docstring(init: Path) -> str:
    doc = ast.get_docstring(ast.parse(init.read_text()))
    assert doc, f"{init.relative_to(REPO)} has no docstring"
    return doc


def test_every_package_says_what_it_may_import() -> None:
    for init in _inits():
        doc = _docstring(init)
        assert "import" in doc.lower(), f"{init.relative_to(REPO)} does not say what it may import"


def _held(package: Path) -> list[str]:
    """The modules and subpackages a package holds, by name (dunder modules aside)."""
    modules = [p.stem for p in package.glob("*.py") if not p.stem.startswith("__")]
    subpackages = [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    return sorted(modules + subpackages)


def _named(doc: str, name: str) -> bool:
    """`name`, ``name``, `name.py` or `name/` in the docstring (quoted, so a plain word such
    as "app" or "text" in a sentence does not count)."""
    return re.search(rf"`{{1,2}}{re.escape(name)}(\.py|/)?`{{1,2}}", doc) is not None


def test_every_package_docstring_names_each_module_it_holds() -> None:
    unnamed = [
        f"{init.parent.relative_to(REPO)}: {name}"
        for init in _inits()
        for name in _held(init.parent)
        if not _named(_docstring(init), name)
    ]
    assert unnamed == []


def test_the_docstring_check_sees_a_module_left_out() -> None:
    doc = "Mentions: the rows (`schema`), the listener (``listener.py``) and `views/`."
    assert all(_named(doc, name) for name in ("schema", "listener", "views"))
    # Named only as a plain word, or not at all: both count as left out.
    assert not _named(doc, "rows")
    assert not _named(doc, "gating")


def test_no_module_is_huge() -> None:
    huge = [
        f"{path.relative_to(REPO)}: {lines} lines"
        for path in _sources(*PACKAGES)
        if (lines := len(path.read_text().splitlines())) > MAX_FILE_LINES
    ]
    assert huge == []


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
