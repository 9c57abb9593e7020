"""Posted replies of post-moderated tiers, shadow tiers' replies and replies the output
checks held back: look, mark reviewed, take down."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from bot.moderation import items, published
from bot.moderation.items import Listing
from bot.moderation.review import Reviewer, ReviewRefused
from bot.vocab import Flag, Tier
from bot.web.deps import deps_of, outcome, page, reviewer, unit_of_work
from bot.web.views.review import list_filter

router = APIRouter()
Who = Annotated[Reviewer, Depends(reviewer)]


def _listing(request: Request, listing: Listing, who: Reviewer) -> Response:
    where = list_filter(request)
    raw = request.query_params.get("page", "1")
    with unit_of_work(request) as s:
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
def posted_page(request: Request, who: Who) -> Response:
    """Post-moderated replies already out, newest first (unreviewed ones unless ?all=1)."""
    return _listing(request, Listing.POSTED, who)


@router.get("/shadow")
def shadow_page(request: Request, who: Who) -> Response:
    """What shadow tiers would have said, newest first."""
    return _listing(request, Listing.SHADOW, who)


@router.get("/held")
def held_page(request: Request, who: Who) -> Response:
    """Replies the output checks stopped (they reproduced the system prompt), newest first."""
    return _listing(request, Listing.HELD, who)


@router.post("/replies/{reply_id}/reviewed")
def mark_reviewed(request: Request, reply_id: int, who: Who) -> Response:
    """Let a posted (shadowed, held) reply stand: a moderator has looked at it."""
    try:
        with unit_of_work(request) as s:
            published.mark_reviewed(s, reply_id, who.name)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    return outcome(request, f"Marked reply #{reply_id} reviewed.", to="/posted")


@router.post("/replies/{reply_id}/take-down")
def take_down(
    request: Request, reply_id: int, who: Who, reason: Annotated[str, Form()] = ""
) -> Response:
    """Delete a posted reply on the platform and record why."""
    deps = deps_of(request)
    try:
        gone = published.take_down(deps.sessions, deps.platform, reply_id, who.name, reason)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    note = "" if gone else " (it was already gone on X)"
    return outcome(request, f"Took reply #{reply_id} down{note}.", to="/posted")
