"""The audit log and the stats for everyone; accounts and the posting switch for admins."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bot.db.base import utcnow
from bot.errors import OperatorError
from bot.moderation import accounts, audit, posting, stats
from bot.vocab import AuditAction, Role
from bot.web.auth import Admin, Me
from bot.web.deps import Db, committed, deps_of, outcome, page

router = APIRouter()
AUDIT_PAGE = 100


def _day(raw: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(raw).replace(tzinfo=None) if raw else None
    except ValueError:
        return None


@router.get("/audit")
def audit_page(request: Request, me: Me, s: Db) -> Response:
    """Every moderator action, newest first, filterable by moderator, action and date."""
    q = request.query_params
    since, until = _day(q.get("since")), _day(q.get("until"))
    where = audit.AuditFilter(
        actor=q.get("actor") or None,
        action=q.get("action") if q.get("action") in set(AuditAction) else None,
        since=since.replace(tzinfo=utcnow().tzinfo) if since else None,
        until=(until + timedelta(days=1)).replace(tzinfo=utcnow().tzinfo) if until else None,
    )
    raw = q.get("page", "1")
    number = int(raw) if raw.isdigit() else 1
    rows, total = audit.entries(s, where, limit=AUDIT_PAGE, offset=(number - 1) * AUDIT_PAGE)
    actors = audit.actors(s)
    return page(
        request,
        "audit.html",
        rows=rows,
        total=total,
        number=number,
        pages=max(1, -(-total // AUDIT_PAGE)),
        where=where,
        actors=actors,
        actions=list(AuditAction),
        q=q,
    )


@router.get("/stats")
def stats_page(request: Request, me: Me, s: Db) -> Response:
    """The bot and the moderators in figures (server-rendered charts)."""
    now = utcnow()
    latency = stats.latency_by_tier(s, now)
    return page(
        request,
        "stats.html",
        now=now,
        decisions=stats.decisions_per_hour(s, now),
        statuses={status: {"replies": n} for status, n in stats.replies_by_status(s).items()},
        latency=latency,
        latency_groups={t.tier: {"p50": t.p50, "p95": t.p95} for t in latency},
        tokens=stats.tokens_per_tier(s, now),
        depth=stats.queue_depth(s, now),
        moderators=stats.decisions_per_moderator(s, now),
    )


@router.get("/admin/moderators")
def moderators_page(request: Request, admin: Admin, s: Db) -> Response:
    """Dashboard accounts (admins only)."""
    rows = accounts.moderators(s)
    return page(request, "moderators.html", rows=rows, roles=list(Role))


@router.post("/admin/moderators")
def add_moderator(
    request: Request,
    admin: Admin,
    s: Db,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()] = Role.MODERATOR.value,
) -> Response:
    """A new account with a generated password, shown once."""
    password = accounts.generate_password()
    try:
        with committed(s):
            accounts.add_moderator(s, name.strip(), role, password, admin.name)
    except OperatorError as exc:
        return outcome(request, exc.render(), to="/admin/moderators", ok=False)
    return outcome(
        request,
        f"Added {name} ({role}). Their password, shown this once: {password}",
        to="/admin/moderators",
    )


@router.post("/admin/moderators/{name}/remove")
def remove_moderator(request: Request, name: str, admin: Admin, s: Db) -> Response:
    """End an account (its sessions end too)."""
    if name == admin.name:
        return outcome(request, "You cannot remove yourself.", to="/admin/moderators", ok=False)
    try:
        with committed(s):
            accounts.remove_moderator(s, name, admin.name)
    except OperatorError as exc:
        return outcome(request, exc.render(), to="/admin/moderators", ok=False)
    return outcome(request, f"Removed {name}.", to="/admin/moderators")


@router.post("/admin/moderators/{name}/reset-password")
def reset_password(request: Request, name: str, admin: Admin, s: Db) -> Response:
    """A new generated password, shown once; the account's sessions end."""
    password = accounts.generate_password()
    try:
        with committed(s):
            accounts.reset_password(s, name, password, admin.name)
    except OperatorError as exc:
        return outcome(request, exc.render(), to="/admin/moderators", ok=False)
    return outcome(
        request, f"New password for {name}, shown this once: {password}", to="/admin/moderators"
    )


@router.get("/admin/posting")
def posting_page(request: Request, admin: Admin, s: Db) -> Response:
    """The posting kill switch."""
    current = posting.state(s)
    return page(request, "posting.html", state=current)


@router.post("/admin/posting/pause")
def pause(request: Request, admin: Admin, s: Db, reason: Annotated[str, Form()] = "") -> Response:
    """Stop all posting now; approved replies wait."""
    with committed(s):
        posting.pause(s, admin.name, reason)
    return outcome(request, "Posting paused: approved replies wait.", to="/admin/posting")


@router.post("/admin/posting/resume")
def resume(request: Request, admin: Admin, s: Db) -> Response:
    """Post again; what waited goes out, most urgent tier first."""
    with committed(s):
        reply_ids, priorities = posting.resume(s, admin.name)
    deps_of(request).sender.send_post(reply_ids, priorities)
    return outcome(
        request, f"Posting resumed; {len(reply_ids)} waiting replies sent.", to="/admin/posting"
    )
