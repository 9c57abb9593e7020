"""`mentionbot moderators|review|posting ...`: the moderation services from the command line.

The same services as the dashboard, in one transaction per command; a request to fix
prints `error: ...` and exits 2 with nothing written. The CLI acts as `--actor` (default
$USER), recorded in the audit log like a moderator.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from bot.cli.common import JsonOpt
from bot.cli.operators import checked, current_time, print_json, session_scope
from bot.vocab import Role

moderators_app = typer.Typer(
    help="Dashboard accounts: moderators and admins.", no_args_is_help=True
)
review_app = typer.Typer(
    help="The review queue: list, show, approve, reject.", no_args_is_help=True
)
posting_app = typer.Typer(help="The posting kill switch.", no_args_is_help=True)

ActorOpt = Annotated[
    str | None, typer.Option(help="Who acts, for the audit log (default: $USER or operator).")
]
StdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from stdin (else one is made).")
]


def _actor(actor: str | None) -> str:
    from bot.subscribers.overrides import default_actor

    return (actor or default_actor()).strip()[:64] or "operator"


def _password(from_stdin: bool) -> tuple[str, bool]:
    """(password, generated?)."""
    from bot.moderation.accounts import generate_password

    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return generate_password(), True


@moderators_app.command("add")
def moderators_add(
    name: str,
    role: Annotated[str, typer.Option(help="moderator or admin.")] = Role.MODERATOR.value,
    password_stdin: StdinOpt = False,
    actor: ActorOpt = None,
) -> None:
    """Add a dashboard account."""
    from bot.moderation.accounts import add_moderator

    password, generated = _password(password_stdin)
    with checked(), session_scope() as s:
        add_moderator(s, name, role, password, _actor(actor))
    typer.echo(f"added {name} ({role})" + (f"; password: {password}" if generated else ""))


@moderators_app.command("list")
def moderators_list(as_json: JsonOpt = False) -> None:
    """Every active account."""
    from bot.moderation.accounts import moderators

    with session_scope() as s:
        rows = [
            {
                "name": m.name,
                "role": m.role,
                "created_at": m.created_at.isoformat(),
                "last_sign_in_at": m.last_sign_in_at.isoformat() if m.last_sign_in_at else None,
            }
            for m in moderators(s)
        ]
    if as_json:
        print_json(rows)
        return
    for row in rows:
        typer.echo(f"{row['name']}\t{row['role']}\tlast sign-in {row['last_sign_in_at'] or '-'}")


@moderators_app.command("remove")
def moderators_remove(name: str, actor: ActorOpt = None) -> None:
    """End an account (its sessions end too; the name is never reused)."""
    from bot.moderation.accounts import remove_moderator

    with checked(), session_scope() as s:
        remove_moderator(s, name, _actor(actor))
    typer.echo(f"removed {name}")


@moderators_app.command("reset-password")
def moderators_reset(name: str, password_stdin: StdinOpt = False, actor: ActorOpt = None) -> None:
    """A new password (its sessions end)."""
    from bot.moderation.accounts import reset_password

    password, generated = _password(password_stdin)
    with checked(), session_scope() as s:
        reset_password(s, name, password, _actor(actor))
    typer.echo(f"reset {name}" + (f"; password: {password}" if generated else ""))


def _reviewer(actor: str | None) -> Any:
    from bot.moderation.review import Reviewer
    from bot.settings import get_settings

    return Reviewer(_actor(actor), get_settings().review_claim_s, current_time())


def _sender() -> Any:
    from bot.settings import get_settings
    from workers.celery_app import create_app
    from workers.sender import CelerySender

    return CelerySender(create_app(get_settings()))


@review_app.command("list")
def review_list(
    tier: Annotated[str | None, typer.Option(help="Only this tier.")] = None,
    flag: Annotated[str | None, typer.Option(help="Only replies with this flag.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Replies waiting for review, oldest first."""
    from bot.moderation.items import ListFilter, Listing, list_page

    with session_scope() as s:
        found = list_page(s, Listing.QUEUE, ListFilter(tier=tier, flag=flag), current_time())
    if as_json:
        rows: list[dict[str, Any]] = [
            {
                "reply_id": i.reply_id,
                "tier": i.tier,
                "author": i.author,
                "reply": i.reply_text,
                "flags": list(i.flags),
                "created_at": i.created_at.isoformat(),
                "claimed_by": i.claimed_by,
            }
            for i in found.items
        ]
        print_json({"total": found.total, "items": rows})
        return
    typer.echo(f"{found.total} waiting")
    for i in found.items:
        typer.echo(f"#{i.reply_id}\t@{i.author}\t{i.tier}\t{i.reply_text[:80]}")


def _act(reply_id: int, actor: str | None, action: str, **kw: Any) -> None:
    from bot.moderation import review

    who = _reviewer(actor)
    with checked(), session_scope() as s:
        if action == "approve":
            handoff = review.approve(s, reply_id, who)
        elif action == "reject":
            review.reject(s, reply_id, who, kw["reason"])
            handoff = None
        else:
            handoff = review.regenerate(s, reply_id, who)
    if handoff is not None and action == "approve":
        priority = {handoff.reply_id: handoff.priority} if handoff.priority is not None else None
        _sender().send_post([handoff.reply_id], priority)
    elif handoff is not None:
        priority = {handoff.mention_id: handoff.priority} if handoff.priority is not None else None
        _sender().send_generate([handoff.mention_id], priority)
    typer.echo(f"{action}: reply #{reply_id}")


@review_app.command("approve")
def review_approve(reply_id: int, actor: ActorOpt = None) -> None:
    """Approve a reply (the post worker posts it)."""
    _act(reply_id, actor, "approve")


@review_app.command("reject")
def review_reject(
    reply_id: int,
    reason: Annotated[str, typer.Option(help="Why (kept in the audit log).")],
    actor: ActorOpt = None,
) -> None:
    """Reject a reply with a reason (the user's quota unit goes back)."""
    _act(reply_id, actor, "reject", reason=reason)


@review_app.command("regenerate")
def review_regenerate(reply_id: int, actor: ActorOpt = None) -> None:
    """Throw a reply away and ask the model again."""
    _act(reply_id, actor, "regenerate")


@posting_app.command("status")
def posting_status(as_json: JsonOpt = False) -> None:
    """Whether posting runs or is paused."""
    from bot.moderation.posting import state

    with session_scope() as s:
        current = state(s)
    doc = {
        "paused": current.paused,
        "changed_by": current.changed_by,
        "changed_at": current.changed_at.isoformat() if current.changed_at else None,
        "reason": current.note,  # the --reason it was paused with
    }
    if as_json:
        print_json(doc)
        return
    typer.echo("paused" if current.paused else "posting", nl=False)
    typer.echo(f" (by {current.changed_by}: {current.note})" if current.paused else "")


@posting_app.command("pause")
def posting_pause(
    reason: Annotated[str, typer.Option(help="Why (shown on every dashboard page).")] = "",
    actor: ActorOpt = None,
) -> None:
    """Stop all posting now; approved replies wait."""
    from bot.moderation.posting import pause

    with session_scope() as s:
        pause(s, _actor(actor), reason)
    typer.echo("posting paused")


@posting_app.command("resume")
def posting_resume(actor: ActorOpt = None) -> None:
    """Post again; what waited goes out, most urgent first."""
    from bot.moderation.posting import resume

    with session_scope() as s:
        reply_ids, priorities = resume(s, _actor(actor))
    _sender().send_post(reply_ids, priorities)
    typer.echo(f"posting resumed; {len(reply_ids)} waiting replies sent")
