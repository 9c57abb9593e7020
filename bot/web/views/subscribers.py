"""Subscribers and tiers: search users, see their record, change their tier; admins edit
tier policies. The same services as `mentionbot subscribers|tiers`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from bot.db.base import utcnow
from bot.errors import OperatorError
from bot.moderation import audit, notes, users
from bot.subscribers import overrides, service
from bot.subscribers.tiers import policies, set_policy
from bot.vocab import AuditAction, Moderation, OverrideAction, Tier, UnknownTierError, parse_tier
from bot.web.auth import Admin, Me
from bot.web.deps import Db, back, committed, outcome, page

router = APIRouter()
SEARCH_LIMIT = 50


def _label(field: str) -> str:
    return field.replace("_", " ")


@router.get("/subscribers")
def subscribers_page(request: Request, me: Me, s: Db) -> Response:
    """Users the bot has seen, most recent first, or those whose handle starts with `q`."""
    q = request.query_params.get("q", "").strip().removeprefix("@")
    if q:
        matches = users.find_users(s, q, SEARCH_LIMIT)
        found = [service.detail_of(s, u, utcnow()).subscriber for u in matches]
    else:
        found = service.list_subscribers(s, limit=SEARCH_LIMIT)
    return page(request, "subscribers.html", found=found, q=q, now=utcnow())


@router.get("/subscribers/{user_id}")
def subscriber_page(request: Request, user_id: int, me: Me, s: Db) -> Response:
    """One user: tiers, quota use, overrides, notes, their mentions and our replies."""
    now = utcnow()
    user = users.user_by_id(s, user_id)
    if user is None:
        return page(request, "error.html", status_code=404, message="No such user.")
    return page(
        request,
        "subscriber.html",
        user=user,
        detail=service.detail_of(s, user, now),
        recent=users.recent_exchanges(s, user_id),
        notes=notes.notes_for(s, user_id),
        now=now,
        tiers=list(Tier),
    )


def _ref(user_id: int) -> str:
    return f"/subscribers/{user_id}"


@router.post("/subscribers/{user_id}/override")
def override(
    request: Request,
    user_id: int,
    me: Me,
    s: Db,
    action: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    tier: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    """Grant a tier or block, until a date or for good (a note says why)."""
    try:
        kind = OverrideAction(action)
        with committed(s):
            ref = users.platform_id_of(s, user_id)
            ends = overrides.parse_until(until or None, None, utcnow())
            overrides.override_user(
                s, ref, kind, tier=tier or None, until=ends, note=note, actor=me.name
            )
            audit.record(
                s,
                me.name,
                AuditAction.GRANT if kind == OverrideAction.GRANT else AuditAction.BLOCK,
                user_id=user_id,
                after=tier or None,
                note=note,
                detail=ends.isoformat() if ends else "for good",
            )
    except (OperatorError, ValueError) as exc:
        message = exc.render(_label) if isinstance(exc, OperatorError) else str(exc)
        return outcome(request, message, to=_ref(user_id), ok=False)
    return outcome(request, f"{kind.value.title()} recorded.", to=_ref(user_id))


@router.post("/subscribers/{user_id}/end")
def end(request: Request, user_id: int, me: Me, s: Db, action: Annotated[str, Form()]) -> Response:
    """Revoke active grants, or unblock."""
    try:
        kind = OverrideAction(action)
        with committed(s):
            ref = users.platform_id_of(s, user_id)
            _, ended = overrides.end_overrides(s, ref, kind, me.name)
            verb = AuditAction.REVOKE if kind == OverrideAction.GRANT else AuditAction.UNBLOCK
            audit.record(s, me.name, verb, user_id=user_id, detail=f"{ended} ended")
    except (OperatorError, ValueError) as exc:
        return outcome(request, str(exc), to=_ref(user_id), ok=False)
    return outcome(request, f"Ended {ended} active {kind.value}(s).", to=_ref(user_id))


@router.post("/subscribers/{user_id}/notes")
def add_note(
    request: Request, user_id: int, me: Me, s: Db, note: Annotated[str, Form()] = ""
) -> Response:
    """A moderator's note on the account."""
    try:
        with committed(s):
            users.known_user(s, user_id)
            notes.add_note(s, user_id, me.name, note)
    except OperatorError as exc:
        return outcome(request, exc.render(_label), to=back(request, _ref(user_id)), ok=False)
    return outcome(request, "Note added.", to=back(request, _ref(user_id)))


@router.get("/tiers")
def tiers_page(request: Request, me: Me, s: Db) -> Response:
    """Every tier's policy; admins can change them."""
    found = policies(s)
    ordered = [found[t] for t in reversed(Tier) if t in found]
    return page(request, "tiers.html", policies=ordered, modes=list(Moderation))


_INT_FIELDS = (
    "replies_per_hour",
    "replies_per_day",
    "max_output_tokens",
    "priority",
    "daily_token_budget",
)


@router.post("/tiers/{tier}")
async def set_tier(request: Request, tier: str, admin: Admin, s: Db) -> Response:
    """Change a tier's policy (admins only); every value is checked before any is set."""
    form = await request.form()
    changes: dict[str, object] = {"answered": form.get("answered") == "on"}
    try:
        for name in _INT_FIELDS:
            raw = str(form.get(name, "")).strip()
            if raw:
                changes[name] = int(raw)
        changes["moderation"] = str(form.get("moderation", ""))
        upsell = str(form.get("upsell_text", "")).strip()
        changes["upsell_text"] = upsell or None
        with committed(s):
            before = policies(s).get(parse_tier(tier))
            after = set_policy(s, tier, **changes)
            audit.record(
                s,
                admin.name,
                AuditAction.SET_POLICY,
                before=repr(before) if before else None,
                after=repr(after),
                note=tier,
            )
    except (ValueError, UnknownTierError) as exc:
        return outcome(request, str(exc), to="/tiers", ok=False)
    return outcome(request, f"Policy of {tier} saved.", to="/tiers")
