"""Subscribers and tiers: search users, see their record, change their tier; admins edit
tier policies. The same services as `mentionbot subscribers|tiers`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from bot.db.base import utcnow
from bot.errors import OperatorError
from bot.mentions.schema import Mention, PlatformUser
from bot.moderation import audit, notes
from bot.moderation.accounts import Account
from bot.replies.schema import Reply
from bot.subscribers import overrides, service
from bot.subscribers.tiers import policies, set_policy
from bot.vocab import AuditAction, Moderation, OverrideAction, Tier, UnknownTierError
from bot.web.deps import (
    back,
    outcome,
    page,
    require_account,
    require_admin,
    unit_of_work,
)

router = APIRouter()
Me = Annotated[Account, Depends(require_account)]
Admin = Annotated[Account, Depends(require_admin)]
SEARCH_LIMIT = 50


def _label(field: str) -> str:
    return field.replace("_", " ")


@router.get("/subscribers")
def subscribers_page(request: Request, me: Me) -> Response:
    """Users the bot has seen, most recent first, or those whose handle starts with `q`."""
    q = request.query_params.get("q", "").strip().removeprefix("@")
    with unit_of_work(request) as s:
        if q:
            users = list(
                s.scalars(
                    select(PlatformUser)
                    .where(
                        func.lower(PlatformUser.username).startswith(q.lower(), autoescape=True)
                        | (PlatformUser.platform_id == q)
                    )
                    .order_by(PlatformUser.username)
                    .limit(SEARCH_LIMIT)
                )
            )
            found = [service.detail_of(s, u, utcnow()).subscriber for u in users]
        else:
            found = service.list_subscribers(s, limit=SEARCH_LIMIT)
    return page(request, "subscribers.html", found=found, q=q, now=utcnow())


@router.get("/subscribers/{user_id}")
def subscriber_page(request: Request, user_id: int, me: Me) -> Response:
    """One user: tiers, quota use, overrides, notes, their mentions and our replies."""
    now = utcnow()
    with unit_of_work(request) as s:
        user = s.get(PlatformUser, user_id)
        if user is None:
            return page(request, "error.html", status_code=404, message="No such user.")
        detail = service.detail_of(s, user, now)
        recent = list(
            s.execute(
                select(Mention, Reply)
                .outerjoin(Reply, Reply.mention_id == Mention.id)
                .where(Mention.author_id == user_id)
                .order_by(Mention.id.desc())
                .limit(20)
            ).tuples()
        )
        user_notes = notes.notes_for(s, user_id)
    return page(
        request,
        "subscriber.html",
        user=user,
        detail=detail,
        recent=recent,
        notes=user_notes,
        now=now,
        tiers=list(Tier),
    )


def _ref(user_id: int) -> str:
    return f"/subscribers/{user_id}"


def _platform_ref(request: Request, user_id: int) -> str:
    with unit_of_work(request) as s:
        platform_id = s.scalar(select(PlatformUser.platform_id).where(PlatformUser.id == user_id))
    if platform_id is None:
        raise OperatorError("no such user")
    return str(platform_id)


@router.post("/subscribers/{user_id}/override")
def override(
    request: Request,
    user_id: int,
    me: Me,
    action: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    tier: Annotated[str, Form()] = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    """Grant a tier or block, until a date or for good (a note says why)."""
    try:
        kind = OverrideAction(action)
        ref = _platform_ref(request, user_id)
        ends = overrides.parse_until(until or None, None, utcnow())
        with unit_of_work(request) as s:
            overrides.override_user(
                s, ref, kind, tier=tier or None, until=ends, note=note, actor=me.name
            )
            audit.record(
                s,
                me.name,
                AuditAction.GRANT if kind == OverrideAction.GRANT else AuditAction.BLOCK,
                user_id=user_id,
                after=tier or None,
                reason=note,
                detail=ends.isoformat() if ends else "for good",
            )
    except (OperatorError, ValueError) as exc:
        message = exc.render(_label) if isinstance(exc, OperatorError) else str(exc)
        return outcome(request, message, to=_ref(user_id), ok=False)
    return outcome(request, f"{kind.value.title()} recorded.", to=_ref(user_id))


@router.post("/subscribers/{user_id}/end")
def end(request: Request, user_id: int, me: Me, action: Annotated[str, Form()]) -> Response:
    """Revoke active grants, or unblock."""
    try:
        kind = OverrideAction(action)
        ref = _platform_ref(request, user_id)
        with unit_of_work(request) as s:
            _, ended = overrides.end_overrides(s, ref, kind, me.name)
            verb = AuditAction.REVOKE if kind == OverrideAction.GRANT else AuditAction.UNBLOCK
            audit.record(s, me.name, verb, user_id=user_id, detail=f"{ended} ended")
    except (OperatorError, ValueError) as exc:
        return outcome(request, str(exc), to=_ref(user_id), ok=False)
    return outcome(request, f"Ended {ended} active {kind.value}(s).", to=_ref(user_id))


@router.post("/subscribers/{user_id}/notes")
def add_note(request: Request, user_id: int, me: Me, note: Annotated[str, Form()] = "") -> Response:
    """A moderator's note on the account."""
    try:
        with unit_of_work(request) as s:
            if s.get(PlatformUser, user_id) is None:
                raise OperatorError("no such user")
            notes.add_note(s, user_id, me.name, note)
    except OperatorError as exc:
        return outcome(request, exc.render(_label), to=back(request, _ref(user_id)), ok=False)
    return outcome(request, "Note added.", to=back(request, _ref(user_id)))


@router.get("/tiers")
def tiers_page(request: Request, me: Me) -> Response:
    """Every tier's policy; admins can change them."""
    with unit_of_work(request) as s:
        found = policies(s)
    ordered = [found[t.value] for t in reversed(Tier) if t.value in found]
    return page(request, "tiers.html", policies=ordered, modes=list(Moderation))


_INT_FIELDS = (
    "replies_per_hour",
    "replies_per_day",
    "max_output_tokens",
    "priority",
    "daily_token_budget",
)


@router.post("/tiers/{tier}")
async def set_tier(request: Request, tier: str, admin: Admin) -> Response:
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
        with unit_of_work(request) as s:
            before = policies(s).get(tier)
            after = set_policy(s, tier, **changes)
            audit.record(
                s,
                admin.name,
                AuditAction.SET_POLICY,
                before=repr(before) if before else None,
                after=repr(after),
                reason=tier,
            )
    except (ValueError, UnknownTierError) as exc:
        return outcome(request, str(exc), to="/tiers", ok=False)
    return outcome(request, f"Policy of {tier} saved.", to="/tiers")
