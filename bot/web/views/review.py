"""The review queue's pages: the list (live), one item, and the decisions on it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from bot.moderation import items, review
from bot.moderation.items import ListFilter, Listing
from bot.moderation.review import Handoff, Reviewer, ReviewRefused
from bot.vocab import Flag, Tier
from bot.web.auth import Who
from bot.web.deps import DashboardDeps, Db, committed, deps_of, outcome, page

router = APIRouter()
STREAM_POLL_S = 2.0
T = TypeVar("T")


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
def queue_page(request: Request, who: Who, s: Db) -> Response:
    """Replies waiting for review, oldest first."""
    where = list_filter(request)
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
def queue_rows(request: Request, who: Who, s: Db) -> Response:
    """Rows newer than `after`, for the open queue page to append (live updates)."""
    after = request.query_params.get("after", "0")
    rows = items.queue_since(s, int(after) if after.isdigit() else 0, list_filter(request), who.now)
    return page(request, "_queue_rows.html", rows=rows, me=who.name, now=who.now)


def _state(deps: DashboardDeps) -> tuple[int, int]:
    # The stream outlives the request's session (it ends when the view returns): each poll
    # reads in a short session of its own.
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
def next_item(request: Request, who: Who, s: Db) -> Response:
    """The oldest item nobody else holds (after `after` when given), else the queue."""
    after = request.query_params.get("after", "0")
    found = items.next_free(s, who.name, who.now, int(after or 0))
    return RedirectResponse(f"/reviews/{found}" if found is not None else "/queue", status_code=303)


@router.get("/reviews/{reply_id}")
def review_page(request: Request, reply_id: int, who: Who, s: Db) -> Response:
    """One reply in full; opening a pending one claims it for this moderator."""
    deps = deps_of(request)
    with committed(s):
        held = review.claim_if_pending(s, reply_id, who)
    item = items.item(s, reply_id, deps.platform, deps.settings.context_posts)
    if item is None:
        return page(request, "error.html", status_code=404, message="No such reply.")
    prev_id, next_id = items.neighbours(s, reply_id, who.now)
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


def _decide(
    request: Request,
    s: Session,
    reply_id: int,
    act: Callable[[Session], T],
    then: Callable[[T], str],
) -> Response:
    """One decision on one reply, as every review action takes it: `act` runs the service
    in a transaction committed before `then` hands the work on and words the answer; a
    refusal changes nothing and goes back to the item with its reason."""
    try:
        with committed(s):
            done = act(s)
    except ReviewRefused as exc:
        return outcome(request, exc.render(), to=f"/reviews/{reply_id}", ok=False)
    return outcome(request, then(done), to=f"/queue/next?after={reply_id}")


def _post(deps: DashboardDeps, handoff: Handoff) -> None:
    priorities = {handoff.reply_id: handoff.priority} if handoff.priority is not None else None
    deps.sender.send_post([handoff.reply_id], priorities)


@router.post("/reviews/{reply_id}/approve")
def approve(request: Request, reply_id: int, who: Who, s: Db) -> Response:
    """Approve as is: the post worker posts it."""
    deps = deps_of(request)

    def then(handoff: Handoff) -> str:
        _post(deps, handoff)
        return f"Approved reply #{reply_id}; it goes out now."

    return _decide(request, s, reply_id, lambda s: review.approve(s, reply_id, who), then)


@router.post("/reviews/{reply_id}/edit")
def edit(
    request: Request, reply_id: int, who: Who, s: Db, text: Annotated[str, Form()]
) -> Response:
    """Edit and approve: the text is checked against X's length and the output rules."""
    deps = deps_of(request)

    def then(handoff: Handoff) -> str:
        _post(deps, handoff)
        changes = handoff.changes
        changed = f" (the output rules changed: {', '.join(changes)})" if changes else ""
        return f"Edited and approved reply #{reply_id}{changed}."

    return _decide(
        request,
        s,
        reply_id,
        lambda s: review.edit_and_approve(s, reply_id, who, text, deps.reply_rules),
        then,
    )


@router.post("/reviews/{reply_id}/reject")
def reject(
    request: Request, reply_id: int, who: Who, s: Db, reason: Annotated[str, Form()] = ""
) -> Response:
    """Reject with a reason; the user's quota unit goes back."""
    return _decide(
        request,
        s,
        reply_id,
        lambda s: review.reject(s, reply_id, who, reason),
        lambda _: f"Rejected reply #{reply_id}.",
    )


@router.post("/reviews/{reply_id}/regenerate")
def regenerate(request: Request, reply_id: int, who: Who, s: Db) -> Response:
    """Ask the model again; the new reply comes back to the queue."""
    deps = deps_of(request)

    def then(handoff: Handoff) -> str:
        priority = handoff.priority
        priorities = {handoff.mention_id: priority} if priority is not None else None
        deps.sender.send_generate([handoff.mention_id], priorities)
        return f"Reply #{reply_id} thrown away; a new one is being written."

    return _decide(request, s, reply_id, lambda s: review.regenerate(s, reply_id, who), then)


@router.post("/reviews/{reply_id}/release")
def release(request: Request, reply_id: int, who: Who, s: Db) -> Response:
    """Let go of an item without deciding."""
    with committed(s):
        review.release(s, reply_id, who)
    return outcome(request, f"Released reply #{reply_id}.", to="/queue")


@router.post("/reviews/{reply_id}/block")
def block(
    request: Request, reply_id: int, who: Who, s: Db, note: Annotated[str, Form()] = ""
) -> Response:
    """Block the author and reject this reply."""
    return _decide(
        request,
        s,
        reply_id,
        lambda s: review.block_author(s, reply_id, who, note),
        lambda _: f"Blocked the author of reply #{reply_id}.",
    )


@router.post("/reviews/bulk")
async def bulk(request: Request, who: Who, s: Db) -> Response:
    """Approve or reject the selected items."""
    form = await request.form()
    ids = [int(v) for v in form.getlist("reply_ids") if isinstance(v, str) and v.isdigit()]
    action, reason = str(form.get("action", "")), str(form.get("reason", ""))
    return await run_in_threadpool(_bulk, request, s, ids, action, reason, who)


def _bulk(
    request: Request, s: Session, ids: list[int], action: str, reason: str, who: Reviewer
) -> Response:
    deps = deps_of(request)
    try:
        with committed(s):
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
