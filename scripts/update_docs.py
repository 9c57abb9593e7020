"""Rewrite what docs/ takes from the code: the generated tables and the dashboard's screenshots.

    python scripts/update_docs.py                 # the settings and profile tables
    python scripts/update_docs.py --screenshots   # also copy the browser tests' screenshots

The tables in docs/settings.md come from `mentionbot settings --markdown` and
`mentionbot model profiles --markdown`; tests/unit checks that they are in step. The
screenshots are the ones docs/dashboard.md shows, copied from var/screenshots/, where
the browser tests (tests/browser) save a picture of every page they open.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SETTINGS_PAGE = REPO / "docs" / "settings.md"
DASHBOARD_PAGE = REPO / "docs" / "dashboard.md"
SHOT_DIR = REPO / "docs" / "assets" / "screenshots"
TAKEN_DIR = REPO / "var" / "screenshots"
# How docs/dashboard.md names a screenshot: ![...](assets/screenshots/<page>.png).
SHOT_REF = re.compile(r"\(assets/screenshots/([\w-]+)\.png\)")


def update_tables() -> None:
    """Regenerate the settings and profile tables of docs/settings.md in place."""
    text = SETTINGS_PAGE.read_text()
    settings = subprocess.run(
        [sys.executable, "-m", "bot", "settings", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,  # path defaults are shown relative to the repository
    ).stdout.strip()
    text = re.sub(r"\| variable \| default \| meaning \|\n(\|.*\|\n)+", settings + "\n", text)
    from models.profiles.catalog import markdown_table

    table = markdown_table().strip()
    header = table.splitlines()[0]
    text = re.sub(re.escape(header) + r"\n(\|.*\|\n)+", table + "\n", text)
    SETTINGS_PAGE.write_text(text)


def copy_screenshots() -> None:
    """Copy each screenshot docs/dashboard.md shows from the browser tests' latest run."""
    names = SHOT_REF.findall(DASHBOARD_PAGE.read_text())
    missing = [n for n in names if not (TAKEN_DIR / f"{n}.png").exists()]
    if missing:
        sys.exit(
            f"update_docs: no {', '.join(missing)} in {TAKEN_DIR}: run the browser tests first "
            "(pytest tests/browser)"
        )
    SHOT_DIR.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copyfile(TAKEN_DIR / f"{name}.png", SHOT_DIR / f"{name}.png")


def main() -> None:
    """Regenerate the tables, and the screenshots when asked."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--screenshots", action="store_true", help="also copy the browser tests' screenshots"
    )
    args = parser.parse_args()
    update_tables()
    if args.screenshots:
        copy_screenshots()


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))  # `models` when run as a script from anywhere
    main()
