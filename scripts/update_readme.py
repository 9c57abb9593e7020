"""Rewrite README.md's generated tables (settings, model profiles) from the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def main() -> None:
    """Regenerate both tables in place."""
    text = README.read_text()
    settings = subprocess.run(
        [sys.executable, "-m", "bot", "settings", "--markdown"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    text = re.sub(r"\| variable \| default \| meaning \|\n(\|.*\|\n)+", settings + "\n", text)
    from models.profiles.catalog import markdown_table

    table = markdown_table().strip()
    header = table.splitlines()[0]
    text = re.sub(re.escape(header) + r"\n(\|.*\|\n)+", table + "\n", text)
    README.write_text(text)


if __name__ == "__main__":
    main()
