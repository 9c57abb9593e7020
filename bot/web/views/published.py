"""Posted replies of post-moderated tiers, shadow tiers' replies and replies the output
checks held back: look, mark reviewed, take down."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from bot.moderation import items, published
from bot.moderation.items import Listing
from bot.moderation.review import Reviewer, ReviewRefused
from bot.vocab import Flag, Tier
from bot.web.auth import Who
from bot.web.deps import Db, committed, deps_of, outcome, page
from bot.web.views.review import list_filter

router = APIRouter()


def _listing(request: Request, s: Session, listing: Listing, who: Reviewer) -> Response:
    where = list_filter(request)
    raw = request.query_params.get("page", "1")
    found = items.list_page(s, listing, where, who.now, int(raw) if raw.isdigit() else 1)
    return page(
        request,
        "published.html",
        listing=found,
        kind=listing.value,
        where=where,
        now=who.now,
        tiers=list(Tier),
        flags=list(Flag),
    )


@router.get("/posted")
def posted_page(request: Request, who: Who, s: Db) -> Response:
    """Post-moderated replies already out, newest first (unreviewed ones unless ?all=1)."""
    return _listing(request, s, Listing.POSTED, who)


@router.get("/shadow")
def shadow_page(request: Request, who: Who, s: Db) -> Response:
    """What shadow tiers would have said, newest first."""
    return _listing(request, s, Listing.SHADOW, who)


@router.get("/held")
def held_page(request: Request, who: Who, s: Db) -> Response:
    """Replies the output checks stopped (they reproduced the system prompt), newest first."""
    return _listing(request, s, Listing.HELD, who)


@router.post("/replies/{reply_id}/reviewed")
def mark_reviewed(request: Request, reply_id: int, who: Who, s: Db) -> Response:
    """Let a posted (shadowed, held) reply stand: a moderator has looked at it."""
    try:
        with committed(s):
            published.mark_reviewed(s, reply_id, who.name)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    return outcome(request, f"Marked reply #{reply_id} reviewed.", to="/posted")


@router.post("/replies/{reply_id}/take-down")
def take_down(
    request: Request, reply_id: int, who: Who, s: Db, reason: Annotated[str, Form()] = ""
) -> Response:
    """Delete a posted reply on the platform and record why."""
    try:
        with committed(s):
            gone = published.take_down(s, deps_of(request).platform, reply_id, who.name, reason)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    note = "" if gone else " (it was already gone on X)"
    return outcome(request, f"Took reply #{reply_id} down{note}.", to="/posted")
