"""`mentionbot bench dashboard`: the review queue's server time with many items waiting.

In a scratch database beside the configured one (Postgres; see bench.scratch), `pending`
replies wait for review (some flagged), a bench admin signs in over real HTTP, and the
benchmark reads the queue page (first pages, filtered pages) and approves items, timing
each request by the app's own Server-Timing header: the server's time, not the client's.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import bindparam, text

from bot.bench.scratch import scratch_database
from bot.db.base import UTCDateTime, utcnow
from bot.db.engine import make_engine, make_session_factory, transaction
from bot.moderation.accounts import add_moderator, generate_password
from bot.platform.x import XPlatform
from bot.sender import TaskSender
from bot.settings import Settings
from bot.threaded_server import ThreadedServer
from bot.web.deps import DashboardDeps

TARGET_QUEUE_P95_MS = 300.0
_SEED = (
    text(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :n) "
        "INSERT INTO platform_users (platform_id, username, display_name, subscription_type, "
        "first_seen_at, updated_at) SELECT 'bench-' || n, 'asker' || n, '', 'Basic', :now, :now "
        "FROM g"
    ),
    text(
        "INSERT INTO mentions (platform_post_id, author_id, text, conversation_id, decision, "
        "status, tier, priority, posted_at, received_at, queued_at, answered_at, quota_at) "
        "SELECT 'bench-' || u.id, u.id, '@mentionbot is this claim true? number ' || u.id, "
        "'bench-' || u.id, 'accepted', 'answered', 'basic', 6, :now, :now, :now, :now, :now "
        "FROM platform_users u WHERE u.platform_id LIKE 'bench-%'"
    ),
    text(
        "INSERT INTO replies (mention_id, text, status, model, moderation, created_at) "
        "SELECT m.id, 'A careful answer to question ' || m.id || ', with the facts and a "
        "little context.', 'pending_review', 'bench', 'pre', :now "
        "FROM mentions m WHERE m.platform_post_id LIKE 'bench-%'"
    ),
    text(
        "INSERT INTO reply_flags (reply_id, flag) SELECT id, CASE id % 3 WHEN 0 THEN "
        "'truncated' WHEN 1 THEN 'url_removed' ELSE 'injection_like' END FROM replies "
        "WHERE id % 4 = 0"
    ),
)


@dataclass(frozen=True)
class DashboardFigures:
    """What the benchmark measured (milliseconds of server time)."""

    pending: int
    queue_p50_ms: float
    queue_p95_ms: float
    approve_p50_ms: float
    approve_p95_ms: float
    requests: int

    def as_dict(self) -> dict[str, Any]:
        """The JSON the CLI prints."""
        return {
            "pending": self.pending,
            "queue_p50_ms": round(self.queue_p50_ms, 2),
            "queue_p95_ms": round(self.queue_p95_ms, 2),
            "approve_p50_ms": round(self.approve_p50_ms, 2),
            "approve_p95_ms": round(self.approve_p95_ms, 2),
            "requests": self.requests,
            "target": {"queue_p95_ms": TARGET_QUEUE_P95_MS},
        }


def _server_ms(response: httpx.Response) -> float:
    timing = response.headers.get("server-timing", "")
    return float(timing.split("dur=", 1)[1]) if "dur=" in timing else 0.0


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def _signed_in(url: str, name: str, password: str) -> httpx.Client:
    from bot.web.auth import SESSION_COOKIE

    client = httpx.Client(base_url=url, timeout=30, follow_redirects=False)
    login = client.get("/login").text
    token = login.split('name="csrf-token" content="', 1)[1].split('"', 1)[0]
    client.post("/login", data={"name": name, "password": password, "csrf_token": token})
    if SESSION_COOKIE not in client.cookies:
        raise RuntimeError("the bench could not sign in")
    page = client.get("/queue").text
    client.headers["X-CSRF-Token"] = page.split('name="csrf-token" content="', 1)[1].split('"')[0]
    client.headers["X-Requested-With"] = "fetch"
    return client


def run(
    settings: Settings,
    sender: TaskSender,
    pending: int = 1000,
    reads: int = 200,
    approvals: int = 100,
) -> DashboardFigures:
    """Seed `pending` items in a scratch database, then time queue reads and approvals."""
    from bot.web.app import create_app

    with scratch_database(settings.database_url) as (url, _name):
        engine = make_engine(url)
        try:
            with engine.begin() as conn:
                for statement in _SEED:
                    if ":now" in statement.text:
                        statement = statement.bindparams(bindparam("now", type_=UTCDateTime()))
                    conn.execute(statement, {"n": pending, "now": utcnow()})
            sessions = make_session_factory(engine)
            password = generate_password()
            with transaction(sessions) as s:
                add_moderator(s, "bench", "admin", password, "bench")
            deps = DashboardDeps(sessions, settings, sender, XPlatform.from_settings(settings))
            with ThreadedServer(create_app(deps), health_path="/healthz") as server:
                client = _signed_in(server.url, "bench", password)
                queue = [
                    _server_ms(client.get(path))
                    for i in range(reads)
                    for path in (("/queue", "/queue?page=2", "/queue?flag=truncated")[i % 3],)
                ]
                approve = [
                    _server_ms(client.post(f"/reviews/{reply_id}/approve"))
                    for reply_id in range(1, min(approvals, pending) + 1)
                ]
                client.close()
        finally:
            engine.dispose()
    return DashboardFigures(
        pending=pending,
        queue_p50_ms=statistics.median(queue),
        queue_p95_ms=_p(queue, 0.95),
        approve_p50_ms=statistics.median(approve) if approve else 0.0,
        approve_p95_ms=_p(approve, 0.95),
        requests=len(queue) + len(approve),
    )
