"""`mentionbot subscribers ...`: who the bot has seen, their tiers, grants and blocks."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import JsonOpt
from bot.cli.operators import (
    TIER_NAMES,
    add_row,
    checked,
    current_time,
    plain,
    print_json,
    print_tables,
    session_scope,
    when,
)
from bot.vocab import OverrideAction

if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy.orm import Session

    from bot.mentions.schema import PlatformUser
    from bot.replies.usage import RecentSpent
    from bot.subscribers.service import OverrideView, Subscriber, SubscriberDetail

app = typer.Typer(
    help="Subscribers: tiers, grants and blocks, quota and token use.", no_args_is_help=True
)

UserArg = Annotated[str, typer.Argument(help="@username, username or platform id.")]
ActorOpt = Annotated[
    str | None, typer.Option(help="Who is acting, for the history (default: $USER or operator).")
]
UntilOpt = Annotated[
    str | None,
    typer.Option(help="Until a date (through that day, UTC) or an ISO time; default: for good."),
]
DaysOpt = Annotated[int | None, typer.Option(help="For N days from now.")]
NoteOpt = Annotated[str, typer.Option(help="Why (kept in the history).")]


def _override_text(o: OverrideView | None) -> str:
    if o is None:
        return "-"
    what = "block" if o.action == OverrideAction.BLOCK else f"grant {o.tier}"
    until = f" until {when(o.until)}" if o.until else " (for good)"
    return f"{what}{until}: {o.note}"


def _subscribers_table(rows: list[Subscriber], title: str) -> Table:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("user", overflow="fold")
    table.add_column("platform id", overflow="fold")
    table.add_column("X sub", overflow="fold")
    table.add_column("tier", no_wrap=True)
    table.add_column("override", overflow="fold", ratio=1)
    table.add_column("mentions", justify="right", no_wrap=True)
    table.add_column("last seen")
    for s in rows:
        add_row(
            table,
            f"@{s.username}",
            s.platform_id,
            s.subscription_type or "-",
            s.effective_tier,
            _override_text(s.override),
            str(s.mentions),
            when(s.last_seen),
        )
    return table


@app.command("list")
def subscribers_list(
    tier: Annotated[
        str | None, typer.Option(help=f"Only this effective tier ({TIER_NAMES}).")
    ] = None,
    blocked: Annotated[bool, typer.Option("--blocked", help="Only blocked users.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, most recently seen first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Users the bot has seen: X subscription, effective tier, override, activity."""
    from bot.subscribers.service import list_subscribers

    now = current_time()
    with checked(), session_scope() as session:
        rows = list_subscribers(session, tier=tier, blocked=blocked, limit=limit, now=now)
    if as_json:
        print_json([s.to_dict(now) for s in rows])
        return
    print_tables(
        _subscribers_table(
            rows, f"Subscribers: {len(rows)} shown (tier = effective tier; times UTC)"
        )
    )


def _detail_tables(d: SubscriberDetail, now: datetime) -> list[Table]:
    from rich.table import Table

    s = d.subscriber
    about = Table(title=plain(f"@{s.username}"), show_header=False)
    about.add_column("field", style="bold")
    about.add_column("value", overflow="fold")
    for field, value in (
        ("name", s.display_name or "-"),
        ("platform id", s.platform_id),
        ("X subscription", s.subscription_type or "-"),
        ("platform tier", s.platform_tier),
        ("effective tier", s.effective_tier),
        ("override", _override_text(s.override)),
        ("mentions", str(s.mentions)),
        ("first seen", when(s.first_seen)),
        ("last seen", when(s.last_seen)),
    ):
        add_row(about, field, value)
    quota = Table(title="Quota (fixed UTC windows)")
    for column in ("window", "used", "limit", "resets at"):
        quota.add_column(column)
    for q in d.quota:
        limit = "-" if q.limit is None else str(q.limit)
        add_row(quota, q.window, str(q.used), limit, when(q.resets_at))
    past = Table(title="Override history")
    for column in ("#", "what", "until", "why", "who", "when", "status"):
        past.add_column(column, overflow="fold")
    for o in d.history:
        status = o.status(now)
        if o.revoked_at:
            status = f"revoked {when(o.revoked_at)} by {o.revoked_by}"
        add_row(
            past,
            str(o.id),
            "block" if o.action == OverrideAction.BLOCK else f"grant {o.tier}",
            when(o.until) if o.until else "for good",
            o.note,
            o.actor,
            when(o.created_at),
            status,
        )
    return [about, quota, past]


def _tokens_table(spent: RecentSpent) -> Table:
    from rich.table import Table

    table = Table(title="Tokens spent on replies (UTC days)")
    for column in ("when", "replies", "prompt", "completion", "total"):
        table.add_column(column, justify="left" if column == "when" else "right")
    for label, row in (("today", spent.today), (f"last {spent.days} days", spent.recent)):
        figures = (row.replies, row.prompt_tokens, row.completion_tokens, row.total_tokens)
        add_row(table, label, *(f"{n:,}" for n in figures))
    return table


@app.command("show")
def subscribers_show(user: UserArg, as_json: JsonOpt = False) -> None:
    """One user: tiers, override, the whole override history, quota use this hour and day,
    tokens spent on their replies today and over the last 7 days."""
    from bot.replies.usage import user_recent
    from bot.subscribers.service import subscriber_detail

    now = current_time()
    with checked(), session_scope() as session:
        detail = subscriber_detail(session, user, now)
        # Replies are not the subscribers feature's tables: composed here, not in its service.
        tokens = user_recent(session, detail.subscriber.id, now)
    if as_json:
        print_json({**detail.to_dict(now), "tokens": tokens.to_dict()})
        return
    about, quota, past = _detail_tables(detail, now)
    print_tables(about, quota, _tokens_table(tokens), past)


def _outcome(
    session: Session, user_id: int, message: str, document: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The line (or JSON) a write prints once committed, with the user's tier after it."""
    from bot.mentions.schema import PlatformUser
    from bot.subscribers.tiers import effective_tier

    user = session.get(PlatformUser, user_id)
    tier = effective_tier(session, user) if user else None
    return f"{message}; effective tier now {tier}", {**document, "effective_tier": tier}


def _report(as_json: bool, outcome: tuple[str, dict[str, Any]]) -> None:
    if as_json:
        print_json(outcome[1])
    else:
        typer.echo(outcome[0])


def _override_outcome(
    session: Session, row: PlatformUser, override: Any, verb: str, now: datetime
) -> tuple[str, dict[str, Any]]:
    """What `grant` and `block` report: the new override, and the tier now in force."""
    until = f"until {when(override.until)}" if override.until else "for good"
    return _outcome(
        session,
        row.id,
        f"{verb} @{row.username} {until} (override #{override.id})",
        {"user": row.username, "platform_id": row.platform_id, "override": override.to_dict(now)},
    )


def _ended_outcome(
    session: Session, row: PlatformUser, ended: int, kind: str
) -> tuple[str, dict[str, Any]]:
    """What `revoke` and `unblock` report."""
    return _outcome(
        session,
        row.id,
        f"ended {ended} active {kind}(s) of @{row.username}",
        {"user": row.username, "platform_id": row.platform_id, "revoked": ended},
    )


def _override(
    action: OverrideAction,
    *,
    user: str,
    tier: str | None,
    note: str,
    until: str | None,
    days: int | None,
    actor: str | None,
    as_json: bool,
) -> None:
    """What `grant` and `block` do: check everything, add the override, report."""
    from bot.subscribers.overrides import override_user, parse_until

    now = current_time()
    verb = f"granted {tier} to" if action == OverrideAction.GRANT else "blocked"
    with checked():
        ends = parse_until(until, days, now)
        with session_scope() as session:
            row, override = override_user(
                session, user, action, tier=tier, until=ends, note=note, actor=actor, now=now
            )
            outcome = _override_outcome(session, row, override, verb, now)
    _report(as_json, outcome)


def _end(action: OverrideAction, user: str, actor: str | None, as_json: bool) -> None:
    """What `revoke` and `unblock` do: end the user's active overrides of that kind."""
    from bot.subscribers.overrides import end_overrides

    with checked(), session_scope() as session:
        row, ended = end_overrides(session, user, action, actor)
        outcome = _ended_outcome(session, row, ended, action.value)
    _report(as_json, outcome)


TierArg = Annotated[str, typer.Argument(help=f"One of {TIER_NAMES}.")]


@app.command("grant")
def subscribers_grant(
    user: UserArg,
    tier: TierArg,
    note: NoteOpt,
    until: UntilOpt = None,
    days: DaysOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a user a tier, until a date or for good (the user must have mentioned the bot)."""
    _override(
        OverrideAction.GRANT,
        user=user,
        tier=tier,
        note=note,
        until=until,
        days=days,
        actor=actor,
        as_json=as_json,
    )


@app.command("block")
def subscribers_block(
    user: UserArg,
    note: NoteOpt,
    until: UntilOpt = None,
    days: DaysOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Block a user: the bot ignores their mentions, until a date or for good."""
    _override(
        OverrideAction.BLOCK,
        user=user,
        tier=None,
        note=note,
        until=until,
        days=days,
        actor=actor,
        as_json=as_json,
    )


@app.command("revoke")
def subscribers_revoke(user: UserArg, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """End a user's active grants (history is kept)."""
    _end(OverrideAction.GRANT, user, actor, as_json)


@app.command("unblock")
def subscribers_unblock(user: UserArg, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """End a user's active blocks (history is kept)."""
    _end(OverrideAction.BLOCK, user, actor, as_json)
