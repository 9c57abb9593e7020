"""`mentionbot db ...`: migrations."""

from __future__ import annotations

import typer

from bot.cli.common import load_settings

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to MENTIONBOT_DATABASE_URL."""
    from bot.db import migrate

    migrate.upgrade(load_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Revert the migrations (to base by default)."""
    from bot.db import migrate

    migrate.downgrade(load_settings().database_url, revision)
    typer.echo(f"database at {revision}")
