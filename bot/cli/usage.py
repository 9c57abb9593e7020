"""`mentionbot usage`: the tokens the model spent, per tier or per user and UTC day (what
the operator pays for)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import JsonOpt
from bot.cli.operators import add_row, print_json, print_tables, session_scope
from bot.vocab import UsageBy

if TYPE_CHECKING:
    from rich.table import Table

    from bot.replies.usage import Spent, TierDay, UserDay


def parse_day(value: str) -> date:
    """A UTC day as given on the command line (YYYY-MM-DD)."""
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD, a UTC day)") from None


SinceOpt = Annotated[
    date,
    typer.Option(parser=parse_day, metavar="DATE", help="From the start of this UTC day."),
]
UntilOpt = Annotated[
    date | None,
    typer.Option(parser=parse_day, metavar="DATE", help="Through the end of this UTC day."),
]
ByOpt = Annotated[UsageBy, typer.Option(help="Sum per tier or per user, per UTC day.")]


def _numbers(spent: Spent) -> list[str]:
    return [
        f"{spent.replies:,}",
        f"{spent.prompt_tokens:,}",
        f"{spent.completion_tokens:,}",
        f"{spent.total_tokens:,}",
    ]


def _table(by: UsageBy, rows: list[TierDay] | list[UserDay], total: Spent, title: str) -> Table:
    from rich.table import Table

    from bot.replies.usage import TierDay

    table = Table(title=title, show_footer=bool(rows))
    table.add_column("day (UTC)", "total", no_wrap=True)
    table.add_column(by.value, overflow="fold", min_width=12)
    for column, footer in zip(
        ("replies", "prompt", "completion", "total"),
        _numbers(total),
        strict=True,
    ):
        table.add_column(column, footer, justify="right", no_wrap=True)
    for row in rows:
        who = row.tier if isinstance(row, TierDay) else f"@{row.username}"
        add_row(table, row.day.isoformat(), who, *_numbers(row.spent))
    return table


def usage(
    since: SinceOpt,
    until: UntilOpt = None,
    by: ByOpt = UsageBy.TIER,
    as_json: JsonOpt = False,
) -> None:
    """Replies and their prompt and completion tokens per UTC day, by tier or by user."""
    if until is not None and until < since:
        raise typer.BadParameter(
            f"{until.isoformat()} is before --since {since.isoformat()}", param_hint="'--until'"
        )
    from bot.replies.usage import Spent, by_tier, by_user

    with session_scope() as session:
        rows = (
            by_tier(session, since, until) if by == UsageBy.TIER else by_user(session, since, until)
        )
    total = sum((r.spent for r in rows), Spent())
    if as_json:
        document: dict[str, Any] = {
            "by": by.value,
            "since": since.isoformat(),
            "until": until.isoformat() if until else None,
            "rows": [r.to_dict() for r in rows],
            "total": total.to_dict(),
        }
        print_json(document)
        return
    through = f" through {until.isoformat()}" if until else ""
    title = f"Tokens by {by.value} and UTC day, from {since.isoformat()}{through}"
    if not rows:
        print_tables(f"{title}: no replies spent tokens.")
        return
    print_tables(_table(by, rows, total, title))
