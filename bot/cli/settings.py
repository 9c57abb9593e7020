"""`mentionbot settings`: every setting with its default (the table in docs/settings.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from bot.settings import Settings


def show_settings(markdown: bool = False) -> None:
    """List every setting with its default (secrets are never printed)."""
    fields = Settings.model_fields
    if markdown:
        typer.echo("| variable | default | meaning |\n| --- | --- | --- |")
    for name, info in fields.items():
        default = info.get_default(call_default_factory=True)
        shown = "" if default is None else str(default)
        if "REPO_ROOT" in repr(info) or isinstance(default, Path):
            shown = str(default).replace(str(Path.cwd()), ".")
        if markdown:
            cell = f"`{shown}`" if shown else "(unset)"  # an empty code span renders as ``
            typer.echo(f"| `MENTIONBOT_{name.upper()}` | {cell} | {info.description} |")
        else:
            typer.echo(f"MENTIONBOT_{name.upper()}={shown}  # {info.description}")
