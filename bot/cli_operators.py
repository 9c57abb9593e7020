"""`mentionbot subscribers ...` and `mentionbot tiers ...`: what operators run by hand.

Each command opens one session on MENTIONBOT_DATABASE_URL and commits once. Tables by
default, one JSON document on stdout with --json. A request the operator has to fix
(unknown user or tier, a past date, a bad value) prints `error: ...` on stderr and exits
with code 2, with nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

# The services (SQLAlchemy, rich) load inside each command: `mentionbot --help` and the
# other commands stay quick to start.
if TYPE_CHECKING:
    from rich.table import Table
    from sqlalchemy.orm import Session

    from bot.schema import PlatformUser
    from bot.subscribers import OverrideView, Subscriber, SubscriberDetail
    from bot.tiers import Policy

TIER_NAMES = "none, basic, premium, premium_plus"  # bot.tiers.TIERS (a test keeps them equal)
subscribers_app = typer.Typer(
    help="Subscribers: tiers, grants and blocks, quota use.", no_args_is_help=True
)
tiers_app = typer.Typer(
    help="Tier policies: who is answered, how often, how.", no_args_is_help=True
)

EXIT_USAGE = 2

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
UserArg = Annotated[str, typer.Argument(help="@username, username or platform id.")]
ActorOpt = Annotated[
    str | None, typer.Option(help="Who is acting, for the history (default: $USER or operator).")
]
UntilOpt = Annotated[
    str | None,
    typer.Option(help="Until a date (through that day, UTC) or an ISO time; default: for good."),
]
DaysOpt = Annotated[int | None, typer.Option(help="For N days from now.")]


@contextmanager
def _session() -> Iterator[Session]:
    """One session on the configured database; commit on success, roll back on error."""
    from sqlalchemy.pool import NullPool

    from bot.db import make_engine, make_session_factory, transaction
    from bot.logs import configure_logging
    from bot.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    engine = make_engine(settings.database_url, poolclass=NullPool)
    try:
        with transaction(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_USAGE)


@contextmanager
def _checked(errors: type[Exception] | None = None) -> Iterator[None]:
    """Turn a request the operator has to fix into `error: ...` and exit code 2 (the
    transaction inside has rolled back by then: nothing is written)."""
    from bot.subscribers import OperatorError

    caught = errors or OperatorError
    try:
        yield
    except caught as exc:
        _fail(str(exc))


def _now() -> datetime:
    from bot.schema import utcnow

    return utcnow()


def _json(document: Any) -> None:
    typer.echo(json.dumps(document, indent=2))


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"


def _override_text(o: OverrideView | None) -> str:
    if o is None:
        return "-"
    what = "block" if o.action == "block" else f"grant {o.tier}"
    until = f" until {_when(o.until)}" if o.until else " (for good)"
    return f"{what}{until}: {o.note}"


def _plain(text: str) -> str:
    """Operator and user text shown as is, never read as rich markup."""
    from rich.markup import escape

    return escape(text)


def _add_row(table: Table, *cells: str) -> None:
    table.add_row(*(_plain(c) for c in cells))


def _print(*tables: Table | str) -> None:
    from rich.console import Console

    console = Console()
    for table in tables:
        console.print(table)


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
        _add_row(
            table,
            f"@{s.username}",
            s.platform_id,
            s.subscription_type or "-",
            s.effective_tier,
            _override_text(s.override),
            str(s.mentions),
            _when(s.last_seen),
        )
    return table


@subscribers_app.command("list")
def subscribers_list(
    tier: Annotated[
        str | None, typer.Option(help=f"Only this effective tier ({TIER_NAMES}).")
    ] = None,
    blocked: Annotated[bool, typer.Option("--blocked", help="Only blocked users.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many, most recently seen first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Users the bot has seen: X subscription, effective tier, override, activity."""
    from bot.subscribers import list_subscribers

    now = _now()
    with _checked(), _session() as session:
        rows = list_subscribers(session, tier=tier, blocked=blocked, limit=limit, now=now)
    if as_json:
        _json([s.to_dict(now) for s in rows])
        return
    _print(
        _subscribers_table(
            rows, f"Subscribers: {len(rows)} shown (tier = effective tier; times UTC)"
        )
    )


def _detail_tables(d: SubscriberDetail, now: datetime) -> list[Table]:
    from rich.table import Table

    s = d.subscriber
    about = Table(title=_plain(f"@{s.username}"), show_header=False)
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
        ("first seen", _when(s.first_seen)),
        ("last seen", _when(s.last_seen)),
    ):
        _add_row(about, field, value)
    quota = Table(title="Quota (fixed UTC windows)")
    for column in ("window", "used", "limit", "resets at"):
        quota.add_column(column)
    for q in d.quota:
        limit = "-" if q.limit is None else str(q.limit)
        _add_row(quota, q.window, str(q.used), limit, _when(q.resets_at))
    past = Table(title="Override history")
    for column in ("#", "what", "until", "why", "who", "when", "status"):
        past.add_column(column, overflow="fold")
    for o in d.history:
        status = o.status(now)
        if o.revoked_at:
            status = f"revoked {_when(o.revoked_at)} by {o.revoked_by}"
        _add_row(
            past,
            str(o.id),
            "block" if o.action == "block" else f"grant {o.tier}",
            _when(o.until) if o.until else "for good",
            o.note,
            o.actor,
            _when(o.created_at),
            status,
        )
    return [about, quota, past]


@subscribers_app.command("show")
def subscribers_show(user: UserArg, as_json: JsonOpt = False) -> None:
    """One user: tiers, override, the whole override history, quota use this hour and day."""
    from bot.subscribers import subscriber_detail

    now = _now()
    with _checked(), _session() as session:
        detail = subscriber_detail(session, user, now)
    if as_json:
        _json(detail.to_dict(now))
        return
    _print(*_detail_tables(detail, now))


def _outcome(
    session: Session, user_id: int, message: str, document: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """The line (or JSON) a write prints once committed, with the user's tier after it."""
    from bot.schema import PlatformUser
    from bot.tiers import effective_tier

    user = session.get(PlatformUser, user_id)
    tier = effective_tier(session, user) if user else None
    return f"{message}; effective tier now {tier}", {**document, "effective_tier": tier}


def _report(as_json: bool, outcome: tuple[str, dict[str, Any]]) -> None:
    if as_json:
        _json(outcome[1])
    else:
        typer.echo(outcome[0])


def _override_outcome(
    session: Session, row: PlatformUser, override: Any, verb: str, now: datetime
) -> tuple[str, dict[str, Any]]:
    """What `grant` and `block` report: the new override, and the tier now in force."""
    until = f"until {_when(override.until)}" if override.until else "for good"
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


@subscribers_app.command("grant")
def subscribers_grant(
    user: UserArg,
    tier: Annotated[str, typer.Argument(help=f"One of {TIER_NAMES}.")],
    note: Annotated[str, typer.Option(help="Why (kept in the history).")],
    until: UntilOpt = None,
    days: DaysOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Give a user a tier, until a date or for good (the user must have mentioned the bot)."""
    from bot.subscribers import grant_tier, parse_until

    now = _now()
    with _checked():
        ends = parse_until(until, days, now)
        with _session() as session:
            row, override = grant_tier(
                session, user, tier, until=ends, note=note, actor=actor, now=now
            )
            outcome = _override_outcome(session, row, override, f"granted {tier} to", now)
    _report(as_json, outcome)


@subscribers_app.command("revoke")
def subscribers_revoke(user: UserArg, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """End a user's active grants (history is kept)."""
    from bot.subscribers import end_overrides

    with _checked(), _session() as session:
        row, ended = end_overrides(session, user, "grant", actor)
        outcome = _ended_outcome(session, row, ended, "grant")
    _report(as_json, outcome)


@subscribers_app.command("block")
def subscribers_block(
    user: UserArg,
    note: Annotated[str, typer.Option(help="Why (kept in the history).")],
    until: UntilOpt = None,
    days: DaysOpt = None,
    actor: ActorOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Block a user: the bot ignores their mentions, until a date or for good."""
    from bot.subscribers import block_user, parse_until

    now = _now()
    with _checked():
        ends = parse_until(until, days, now)
        with _session() as session:
            row, override = block_user(session, user, until=ends, note=note, actor=actor, now=now)
            outcome = _override_outcome(session, row, override, "blocked", now)
    _report(as_json, outcome)


@subscribers_app.command("unblock")
def subscribers_unblock(user: UserArg, actor: ActorOpt = None, as_json: JsonOpt = False) -> None:
    """End a user's active blocks (history is kept)."""
    from bot.subscribers import end_overrides

    with _checked(), _session() as session:
        row, ended = end_overrides(session, user, "block", actor)
        outcome = _ended_outcome(session, row, ended, "block")
    _report(as_json, outcome)


def _ordered(found: dict[str, Policy]) -> list[Policy]:
    """Highest tier first, then any tier this code does not know."""
    from bot.tiers import TIERS

    known = [found[t] for t in reversed(TIERS) if t in found]
    return known + [p for t, p in sorted(found.items()) if t not in TIERS]


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
    ]
    for label, value in fields:
        _add_row(table, label, *(value(p) for p in rows))
    return table


def _upsell_lines(rows: list[Policy]) -> list[str]:
    return [_plain(f"upsell ({p.tier}): {p.upsell_text}") for p in rows if p.upsell_text]


@tiers_app.command("show")
def tiers_show(as_json: JsonOpt = False) -> None:
    """Every tier's policy."""
    from bot.subscribers import policy_dict
    from bot.tiers import policies

    with _session() as session:
        rows = _ordered(policies(session))
    if as_json:
        _json([policy_dict(p) for p in rows])
        return
    _print(_policies_table(rows), *_upsell_lines(rows))


@tiers_app.command("set")
def tiers_set(
    tier: Annotated[str, typer.Argument(help=f"One of {TIER_NAMES}.")],
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
    as_json: JsonOpt = False,
) -> None:
    """Change the given fields of a tier's policy and print the new policy."""
    if upsell is not None and no_upsell:
        _fail("give --upsell or --no-upsell, not both")
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
        )
        if value is not None
    }
    if no_upsell:
        changes["upsell_text"] = None
    if not changes:
        _fail("nothing to change; see `mentionbot tiers set --help`")
    from bot.subscribers import policy_dict
    from bot.tiers import set_policy

    with _checked(ValueError), _session() as session:
        policy = set_policy(session, tier, **changes)
    if as_json:
        _json(policy_dict(policy))
        return
    _print(_policies_table([policy]), *_upsell_lines([policy]))
