"""What the operator commands (`mentionbot subscribers|tiers`) share: one session per command,
errors the operator has to fix as `error: ...` with exit code 2, and table output.

Each command opens one session on MENTIONBOT_DATABASE_URL and commits once. Tables by
default, one JSON document on stdout with --json. A request the operator has to fix
(unknown user or tier, a past date, a bad value) prints `error: ...` on stderr and exits
with code 2, with nothing written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from bot.cli.common import echo_json
from bot.errors import OperatorError
from bot.vocab import Tier

# The services (SQLAlchemy, rich) load inside each command: `mentionbot --help` and the
# other commands stay quick to start.
if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy.orm import Session

TIER_NAMES = ", ".join(t.value for t in Tier)
EXIT_USAGE = 2


@contextmanager
def session_scope() -> Iterator[Session]:
    """One session on the configured database; commit on success, roll back on error."""
    from sqlalchemy.pool import NullPool

    from bot.cli.common import load_settings
    from bot.db.engine import make_engine, make_session_factory, transaction

    engine = make_engine(load_settings().database_url, poolclass=NullPool)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def fail(message: str) -> NoReturn:
    """Print `error: message` and exit with the usage code (nothing was written)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


def _flag(field: str) -> str:
    """A request field as the option that sets it (`until` is `--until`)."""
    return "--" + field.replace("_", "-")


@contextmanager
def checked(also: tuple[type[Exception], ...] = ()) -> Iterator[None]:
    """Turn a request the operator has to fix into `error: ...` and exit code 2 (the
    transaction inside has rolled back by then: nothing is written). `also` names other
    errors that mean the same (a policy value set_policy refuses)."""
    try:
        yield
    except OperatorError as exc:
        fail(exc.render(_flag))
    except also as exc:
        fail(str(exc))


def current_time() -> datetime:
    """Timezone-aware now (the services' clock)."""
    from bot.db.base import utcnow

    return utcnow()


def print_json(document: Any) -> None:
    """One indented JSON document on stdout."""
    echo_json(document, indent=2)


def when(moment: datetime | None) -> str:
    """A moment as the tables show it (UTC, to the minute)."""
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def plain(text: str) -> str:
    """Operator and user text shown as is, never read as rich markup."""
    from rich.markup import escape

    return escape(text)


def add_row(table: Table, *cells: str) -> None:
    """A table row whose cells are shown as plain text."""
    table.add_row(*(plain(c) for c in cells))


def print_tables(*tables: Table | str) -> None:
    """Print tables (and lines) on stdout."""
    from rich.console import Console

    console = Console()
    for table in tables:
        console.print(table)
