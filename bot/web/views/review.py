"""The review queue's pages: the list (live), one item, and the actions on it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from bot.moderation import items, review
from bot.moderation.items import ListFilter, Listing
from bot.moderation.review import Reviewer, ReviewRefused
from bot.replies.schema import Reply
from bot.vocab import Flag, ReplyStatus, Tier
from bot.web.deps import (
    DashboardDeps,
    deps_of,
    outcome,
    page,
    reviewer,
    unit_of_work,
)

router = APIRouter()
STREAM_POLL_S = 2.0

Who = Annotated[Reviewer, Depends(reviewer)]


def list_filter(request: Request) -> ListFilter:
    """Filters from the query string (unknown values are ignored, not errors)."""
    q = request.query_params
    tier = q.get("tier") if q.get("tier") in set(Tier) else None
    flag = q.get("flag") if q.get("flag") in set(Flag) else None
    age = q.get("age", "")
    older = float(age) * 60 if age.isdigit() else None
    return ListFilter(tier=tier, flag=flag, older_than_s=older, unreviewed=q.get("all") != "1")


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() else 1


@router.get("/")
def home() -> Response:
    """The queue is the landing page."""
    return RedirectResponse("/queue", status_code=303)


@router.get("/queue")
def queue_page(request: Request, who: Who) -> Response:
    """Replies waiting for review, oldest first."""
    where = list_filter(request)
    with unit_of_work(request) as s:
        listing = items.list_page(s, Listing.QUEUE, where, who.now, _page_number(request))
    return page(
        request,
        "queue.html",
        listing=listing,
        where=where,
        me=who.name,
        now=who.now,
        tiers=list(Tier),
        flags=list(Flag),
        newest=max((i.reply_id for i in listing.items), default=0),
    )


@router.get("/queue/rows")
def queue_rows(request: Request, who: Who) -> Response:
    """Rows newer than `after`, for the open queue page to append (live updates)."""
    after = request.query_params.get("after", "0")
    with unit_of_work(request) as s:
        rows = items.queue_since(
            s, int(after) if after.isdigit() else 0, list_filter(request), who.now
        )
    return page(request, "_queue_rows.html", rows=rows, me=who.name, now=who.now)


def _state(deps: DashboardDeps) -> tuple[int, int]:
    with deps.sessions() as s:
        return items.queue_state(s)


@router.get("/queue/events")
async def queue_events(request: Request, who: Who) -> Response:
    """Server-sent events: the queue's size and newest item whenever they change."""
    deps = deps_of(request)

    async def stream() -> AsyncIterator[dict[str, str]]:
        last: tuple[int, int] | None = None
        while not await request.is_disconnected():
            state = await run_in_threadpool(_state, deps)
            if state != last:
                last = state
                yield {
                    "event": "queue",
                    "data": json.dumps({"count": state[0], "newest": state[1]}),
                }
            await asyncio.sleep(STREAM_POLL_S)

    return EventSourceResponse(stream(), ping=15)


@router.get("/queue/next")
def next_item(request: Request, who: Who) -> Response:
    """The oldest item nobody else holds (after `after` when given), else the queue."""
    after = request.query_params.get("after", "0")
    with unit_of_work(request) as s:
        listing = items.list_page(s, Listing.QUEUE, ListFilter(unreviewed=False), who.now)
    for row in listing.items:
        if row.reply_id != int(after or 0) and not row.held_by_other(who.name, who.now):
            return RedirectResponse(f"/reviews/{row.reply_id}", status_code=303)
    return RedirectResponse("/queue", status_code=303)


@router.get("/reviews/{reply_id}")
def review_page(request: Request, reply_id: int, who: Who) -> Response:
    """One reply in full; opening a pending one claims it for this moderator."""
    deps = deps_of(request)
    with unit_of_work(request) as s:
        status = s.scalar(select(Reply.status).where(Reply.id == reply_id))
        held = review.claim(s, reply_id, who) if status == ReplyStatus.PENDING_REVIEW else None
    with unit_of_work(request) as s:
        item = items.item(s, reply_id, deps.platform, deps.settings.context_posts)
        if item is None:
            return page(request, "error.html", status_code=404, message="No such reply.")
        prev_id, next_id = _neighbours(s, reply_id, who)
    return page(
        request,
        "review.html",
        item=item,
        held=held,
        me=who.name,
        now=who.now,
        prev_id=prev_id,
        next_id=next_id,
    )


def _neighbours(s: Session, reply_id: int, who: Reviewer) -> tuple[int | None, int | None]:
    """The previous and next items in queue order (for k and j)."""
    listing = items.list_page(s, Listing.QUEUE, ListFilter(unreviewed=False), who.now)
    ids = [i.reply_id for i in listing.items]
    if reply_id not in ids:
        return None, ids[0] if ids else None
    at = ids.index(reply_id)
    return (ids[at - 1] if at > 0 else None), (ids[at + 1] if at + 1 < len(ids) else None)


def _after(reply_id: int) -> str:
    return f"/queue/next?after={reply_id}"


@router.post("/reviews/{reply_id}/approve")
def approve(request: Request, reply_id: int, who: Who) -> Response:
    """Approve as is: the post worker posts it."""
    deps = deps_of(request)
    try:
        with unit_of_work(request) as s:
            handoff = review.approve(s, reply_id, who)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    _post(deps, handoff)
    return outcome(request, f"Approved reply #{reply_id}; it goes out now.", to=_after(reply_id))


def _post(deps: DashboardDeps, handoff: review.Handoff) -> None:
    priorities = {handoff.reply_id: handoff.priority} if handoff.priority is not None else None
    deps.sender.send_post([handoff.reply_id], priorities)


@router.post("/reviews/{reply_id}/edit")
def edit(request: Request, reply_id: int, who: Who, text: Annotated[str, Form()]) -> Response:
    """Edit and approve: the text is checked against X's length and the output rules."""
    deps = deps_of(request)
    try:
        with unit_of_work(request) as s:
            handoff = review.edit_and_approve(s, reply_id, who, text, deps.reply_rules)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    _post(deps, handoff)
    changed = (
        f" (the output rules changed: {', '.join(handoff.changes)})" if handoff.changes else ""
    )
    return outcome(request, f"Edited and approved reply #{reply_id}{changed}.", to=_after(reply_id))


@router.post("/reviews/{reply_id}/reject")
def reject(
    request: Request, reply_id: int, who: Who, reason: Annotated[str, Form()] = ""
) -> Response:
    """Reject with a reason; the user's quota unit goes back."""
    try:
        with unit_of_work(request) as s:
            review.reject(s, reply_id, who, reason)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    return outcome(request, f"Rejected reply #{reply_id}.", to=_after(reply_id))


@router.post("/reviews/{reply_id}/regenerate")
def regenerate(request: Request, reply_id: int, who: Who) -> Response:
    """Ask the model again; the new reply comes back to the queue."""
    deps = deps_of(request)
    try:
        with unit_of_work(request) as s:
            handoff = review.regenerate(s, reply_id, who)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    priorities = {handoff.mention_id: handoff.priority} if handoff.priority is not None else None
    deps.sender.send_generate([handoff.mention_id], priorities)
    return outcome(
        request, f"Reply #{reply_id} thrown away; a new one is being written.", to=_after(reply_id)
    )


@router.post("/reviews/{reply_id}/release")
def release(request: Request, reply_id: int, who: Who) -> Response:
    """Let go of an item without deciding."""
    with unit_of_work(request) as s:
        review.release(s, reply_id, who)
    return outcome(request, f"Released reply #{reply_id}.", to="/queue")


@router.post("/reviews/{reply_id}/block")
def block(request: Request, reply_id: int, who: Who, note: Annotated[str, Form()] = "") -> Response:
    """Block the author and reject this reply."""
    try:
        with unit_of_work(request) as s:
            review.block_author(s, reply_id, who, note)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    return outcome(request, f"Blocked the author of reply #{reply_id}.", to=_after(reply_id))


@router.post("/reviews/bulk")
async def bulk(request: Request, who: Who) -> Response:
    """Approve or reject the selected items."""
    form = await request.form()
    ids = [int(v) for v in form.getlist("reply_ids") if isinstance(v, str) and v.isdigit()]
    action, reason = str(form.get("action", "")), str(form.get("reason", ""))
    return await run_in_threadpool(_bulk, request, ids, action, reason, who)


def _bulk(request: Request, ids: list[int], action: str, reason: str, who: Reviewer) -> Response:
    deps = deps_of(request)
    try:
        with unit_of_work(request) as s:
            result = review.bulk(s, ids, action, who, reason)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to="/queue", ok=False)
    if action == "approve":
        for handoff in result.done:
            _post(deps, handoff)
    verb = "Approved" if action == "approve" else "Rejected"
    message = f"{verb} {len(result.done)} replies."
    if result.refused:
        message += f" {len(result.refused)} left alone: " + "; ".join(
            f"#{rid}: {why}" for rid, why in sorted(result.refused.items())
        )
    return outcome(request, message, to="/queue", ok=not result.refused or bool(result.done))
