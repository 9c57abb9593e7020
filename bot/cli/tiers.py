"""`mentionbot tiers ...`: each tier's policy (who is answered, how often, how)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from bot.cli import operators as ops
from bot.cli.common import JsonOpt
from bot.vocab import Tier

if TYPE_CHECKING:
    from rich.table import Table

    from bot.subscribers.tiers import Policy

app = typer.Typer(help="Tier policies: who is answered, how often, how.", no_args_is_help=True)


def _ordered(found: dict[Tier, Policy]) -> list[Policy]:
    """Highest tier first."""
    return [found[t] for t in reversed(Tier) if t in found]


def _policies_table(rows: list[Policy]) -> Table:
    """One column per tier, one row per field (fits a narrow terminal)."""
    from rich.table import Table

    table = Table(title="Tier policies")
    table.add_column("", no_wrap=True)
    for p in rows:
        table.add_column(p.tier, no_wrap=True)
    fields: list[tuple[str, Callable[[Policy], str]]] = [
        ("answered", lambda p: "yes" if p.answered else "no"),
        ("replies per hour", lambda p: str(p.replies_per_hour)),
        ("replies per day", lambda p: str(p.replies_per_day)),
        ("max output tokens", lambda p: str(p.max_output_tokens)),
        ("priority (0 first)", lambda p: str(p.priority)),
        ("moderation", lambda p: p.moderation),
        ("upsell", lambda p: f"every {p.upsell_every_days} days" if p.upsell_text else "none"),
        (
            "token budget per day",
            lambda p: f"{p.daily_token_budget:,}" if p.daily_token_budget else "no budget",
        ),
    ]
    for label, value in fields:
        ops.add_row(table, label, *(value(p) for p in rows))
    return table


def _upsell_lines(rows: list[Policy]) -> list[str]:
    return [ops.plain(f"upsell ({p.tier}): {p.upsell_text}") for p in rows if p.upsell_text]


@app.command("show")
def tiers_show(as_json: JsonOpt = False) -> None:
    """Every tier's policy."""
    from bot.subscribers.service import policy_dict
    from bot.subscribers.tiers import policies

    with ops.session_scope() as session:
        rows = _ordered(policies(session))
    if as_json:
        ops.print_json([policy_dict(p) for p in rows])
        return
    ops.print_tables(_policies_table(rows), *_upsell_lines(rows))


@app.command("set")
def tiers_set(
    tier: Annotated[str, typer.Argument(help=f"One of {ops.TIER_NAMES}.")],
    answered: Annotated[
        bool | None, typer.Option("--answered/--not-answered", help="Answer this tier or not.")
    ] = None,
    per_hour: Annotated[int | None, typer.Option(help="Replies per user per hour.")] = None,
    per_day: Annotated[int | None, typer.Option(help="Replies per user per day.")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Max output tokens per reply.")] = None,
    priority: Annotated[int | None, typer.Option(help="0 (served first) to 9.")] = None,
    moderation: Annotated[str | None, typer.Option(help="pre, post or auto.")] = None,
    upsell: Annotated[
        str | None, typer.Option(help="Upsell reply for unanswered users ({username} is filled).")
    ] = None,
    no_upsell: Annotated[bool, typer.Option("--no-upsell", help="No upsell reply.")] = False,
    upsell_days: Annotated[
        int | None, typer.Option(help="At most one upsell per user per N days.")
    ] = None,
    token_budget: Annotated[
        int | None,
        typer.Option(help="Prompt + completion tokens the tier may spend per UTC day; 0: none."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Change the given fields of a tier's policy and print the new policy."""
    if upsell is not None and no_upsell:
        ops.fail("give --upsell or --no-upsell, not both")
    changes: dict[str, object] = {
        name: value
        for name, value in (
            ("answered", answered),
            ("replies_per_hour", per_hour),
            ("replies_per_day", per_day),
            ("max_output_tokens", max_tokens),
            ("priority", priority),
            ("moderation", moderation),
            ("upsell_text", upsell),
            ("upsell_every_days", upsell_days),
            ("daily_token_budget", token_budget),
        )
        if value is not None
    }
    if no_upsell:
        changes["upsell_text"] = None
    if not changes:
        ops.fail("nothing to change; see `mentionbot tiers set --help`")
    from bot.subscribers.service import policy_dict
    from bot.subscribers.tiers import set_policy

    with ops.checked(also=(ValueError,)), ops.session_scope() as session:
        policy = set_policy(session, tier, **changes)
    if as_json:
        ops.print_json(policy_dict(policy))
        return
    ops.print_tables(_policies_table([policy]), *_upsell_lines([policy]))
