"""`mentionbot demo`: the whole pipeline on one machine, on embedded defaults.

Real components throughout: the CPU vLLM engine serving an upcycled SmolLM2 MoE (``--model
smol``, the default) or the tiny random MoE (``--model tiny``), the X API sandbox over
HTTP through tweepy, the listener, Celery workers. Only the storage defaults change: a SQLite
file and Celery's in-memory transport with the workers inside this process, unless
MENTIONBOT_DATABASE_URL / MENTIONBOT_BROKER_URL are set.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import sys
import threading
import time
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import connect_x, load_settings
from bot.settings import Settings
from bot.vocab import MentionStatus, ReplyStatus

if TYPE_CHECKING:
    from rich.console import Console

    from bot.db.engine import SessionFactory
    from bot.mentions.schema import Mention
    from bot.platform.protocol import Author
    from bot.replies.schema import Reply
    from bot.sender import TaskSender

FINAL_REPLY = (ReplyStatus.POSTED, ReplyStatus.POST_FAILED, ReplyStatus.REJECTED)
X_CREDENTIALS = (
    "x_bearer_token",
    "x_consumer_key",
    "x_consumer_secret",
    "x_access_token",
    "x_access_token_secret",
)
log = logging.getLogger(__name__)
# --model: the locally built profiles the demo can serve.
DEMO_MODELS = {"smol": "smol-moe", "tiny": "tiny-moe"}


@dataclass(frozen=True)
class Outcome:
    """A mention the demo injected, with its reply if it has one."""

    mention: Mention
    reply: Reply | None

    @property
    def final(self) -> bool:
        """Nothing more will happen to it (without a moderator)."""
        m = self.mention
        if m.status in (MentionStatus.IGNORED, MentionStatus.FAILED):
            return True
        return m.status == MentionStatus.ANSWERED and (
            self.reply is not None and self.reply.status in FINAL_REPLY
        )

    @property
    def waiting_review(self) -> bool:
        """Its reply waits for a moderator on the dashboard."""
        return self.reply is not None and self.reply.status == ReplyStatus.PENDING_REVIEW


def demo(
    mentions: Annotated[int, typer.Option(help="Sample mentions to inject.")] = 12,
    exit_when_done: Annotated[bool, typer.Option(help="Exit once all are final.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="End with a JSON summary line.")] = False,
    timeout_s: Annotated[float, typer.Option(help="Give up after this long.")] = 600.0,
    showcase: Annotated[
        bool, typer.Option(help="Also show every tier's outcome (upsell, quota, spam, ...).")
    ] = True,
    model: Annotated[
        str,
        typer.Option(
            help="smol: SmolLM2-135M upcycled to a MoE (real, often wrong sentences); "
            "tiny: the random MoE (noise, faster). Ignored with MENTIONBOT_LLM_URL."
        ),
    ] = "smol",
) -> None:
    """Run the whole pipeline on this machine: engine, sandbox, listener, workers."""
    if model not in DEMO_MODELS:
        raise typer.BadParameter(f"choose one of {', '.join(DEMO_MODELS)}", param_hint="--model")
    settings = load_settings()
    if "MENTIONBOT_LLM_URL" not in os.environ:
        # The served name is the profile's, so the replies and the JSON say which model spoke.
        profile = DEMO_MODELS[model]
        settings = settings.model_copy(update={"model_profile": profile, "llm_model": profile})
    summary = run_demo(
        settings,
        mentions=mentions,
        exit_when_done=exit_when_done,
        as_json=as_json,
        timeout_s=timeout_s,
        showcase=showcase,
    )
    if summary.get("failed") or summary.get("duplicates_on_platform"):
        raise typer.Exit(1)


def _demo_settings(settings: Settings, sandbox_url: str, llm_url: str) -> Settings:
    """The demo's services, fast polling, and SQLite and the in-memory broker unless the
    operator configured real ones."""
    run_dir = settings.var_dir / "demo"
    run_dir.mkdir(parents=True, exist_ok=True)
    overrides: dict[str, Any] = {
        "x_api_url": sandbox_url,
        # The demo's own sandbox: sign with the keys it accepts, never the operator's X keys.
        **dict.fromkeys(X_CREDENTIALS),
        "llm_url": llm_url,
        "bot_user_id": None,
        "poll_interval_s": 0.5,
        "since_overlap_s": 5.0,
    }
    if "MENTIONBOT_DATABASE_URL" not in os.environ:
        overrides["database_url"] = f"sqlite:///{run_dir / f'demo-{int(time.time())}.db'}"
    if "MENTIONBOT_BROKER_URL" not in os.environ:
        overrides["broker_url"] = "memory://"
    return settings.model_copy(update=overrides)


def _quiet_logs() -> None:
    if "MENTIONBOT_LOG_LEVEL" not in os.environ:
        # The progress bar and the table tell the story; per-mention log lines would bury it.
        logging.getLogger().setLevel(logging.WARNING)


def run_demo(
    settings: Settings,
    *,
    mentions: int = 12,
    exit_when_done: bool = True,
    as_json: bool = False,
    timeout_s: float = 600.0,
    showcase: bool = True,
) -> dict[str, Any]:
    """Run the demo and return its summary (also printed)."""
    from rich.console import Console

    from bot.cli.demo_samples import (
        block_showcase_user,
        duplicates_on_platform,
        inject,
        inject_showcase,
        pre_moderate_basic,
    )
    from bot.cli.local_engine import local_engine
    from bot.db import migrate
    from bot.db.engine import make_engine, make_session_factory
    from bot.sandbox.server import SandboxServer

    console = Console(stderr=True)
    started = time.perf_counter()
    _quiet_logs()
    with ExitStack() as stack:
        sandbox = stack.enter_context(SandboxServer())
        llm_url = stack.enter_context(local_engine(settings, console, "demo"))
        settings = _demo_settings(settings, sandbox.url, llm_url)
        migrate.upgrade(settings.database_url)
        sessions = make_session_factory(make_engine(settings.database_url))
        if showcase:
            block_showcase_user(sessions)
            pre_moderate_basic(sessions)
        me, sender = _start_pipeline(stack, settings, sessions)
        dashboard_url = _start_dashboard(stack, settings, sessions, sender, console)
        post_ids = inject(sandbox.url, me.username, mentions)
        showcase_ids = inject_showcase(sandbox.url, me.username) if showcase else []
        every = _wait(sessions, post_ids + showcase_ids, console, timeout_s, exit_when_done)
        total_posts, dups = duplicates_on_platform(sandbox.url, me.platform_id)

    main_ids = set(post_ids)
    rows = [o for o in every if o.mention.platform_post_id in main_ids]
    summary = {
        **_summarise(rows, len(post_ids), dups, time.perf_counter() - started),
        # Every tier's and rule's outcome, over everything the demo injected.
        "outcomes": dict(Counter(f"{o.mention.tier or '-'}:{o.mention.outcome}" for o in every)),
        "llm_url": llm_url if "MENTIONBOT_LLM_URL" in os.environ else "local cpu engine",
        "model": settings.llm_model,
        "model_profile": settings.model_profile,
        "replies_on_platform": total_posts,
        "pending_review": sum(1 for o in every if o.waiting_review),
        "dashboard_url": dashboard_url,
    }
    _print(every, summary, console, settings.model_profile)
    if as_json:
        sys.stdout.write(json.dumps(summary) + "\n")
    return summary


def _start_pipeline(
    stack: ExitStack, settings: Settings, sessions: SessionFactory
) -> tuple[Author, TaskSender]:
    """Celery workers in this process and the listener in a thread; returns the bot account
    and the sender the dashboard hands approved replies to."""
    from celery.contrib.testing.worker import start_worker

    from bot.mentions.gating import GatingRules
    from bot.mentions.listener import Listener
    from workers.celery_app import create_app
    from workers.names import GENERATE_QUEUE, POST_QUEUE
    from workers.sender import CelerySender

    platform, checked = connect_x(settings)
    me = checked or platform.me()
    settings = settings.model_copy(update={"bot_user_id": me.platform_id})
    celery = create_app(settings)
    stack.enter_context(
        start_worker(
            celery,
            pool="threads",
            concurrency=16,
            perform_ping_check=False,
            queues=[GENERATE_QUEUE, POST_QUEUE],
            shutdown_timeout=30,
        )
    )
    listener = Listener(
        platform,
        sessions,
        CelerySender(celery),
        me.platform_id,
        page_size=100,
        poll_interval_s=settings.poll_interval_s,
        overlap_s=settings.since_overlap_s,
        overlap_every_s=settings.since_overlap_every_s,
        rules=GatingRules.from_settings(settings),
    )
    stop = threading.Event()
    thread = threading.Thread(target=listener.run, args=(stop,), name="listener", daemon=True)
    thread.start()
    stack.callback(thread.join, 10)
    stack.callback(stop.set)
    return me, CelerySender(celery)


DEMO_MODERATOR = "demo"


def _start_dashboard(
    stack: ExitStack,
    settings: Settings,
    sessions: SessionFactory,
    sender: TaskSender,
    console: Console,
) -> str:
    """The moderator dashboard in a thread, with a demo admin whose password is made now."""
    from bot.cli.dashboard import build_dashboard
    from bot.db.engine import transaction
    from bot.moderation.accounts import add_moderator, generate_password
    from bot.threaded_server import ThreadedServer

    password = generate_password()
    with transaction(sessions) as s:
        add_moderator(s, DEMO_MODERATOR, "admin", password, "demo")
    app = build_dashboard(settings, sessions, sender)
    server = stack.enter_context(
        ThreadedServer(app, port=_dashboard_port(), health_path="/healthz")
    )
    console.print(
        f"[bold]dashboard:[/bold] {server.url}  sign in as [bold]{DEMO_MODERATOR}[/bold] "
        f"with password [bold]{password}[/bold] (made for this run)"
    )
    return server.url


def _dashboard_port() -> int:
    """8080 when it is free (easy to remember), else any free port."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", 8080))
        except OSError:
            return 0
    return 8080


def _load(sessions: SessionFactory, post_ids: list[str]) -> list[Outcome]:
    from sqlalchemy import select

    from bot.db.engine import transaction
    from bot.mentions.schema import Mention
    from bot.replies.schema import Reply

    with transaction(sessions) as s:
        rows = s.execute(
            select(Mention, Reply)
            .outerjoin(Reply, Reply.mention_id == Mention.id)
            .where(Mention.platform_post_id.in_(post_ids))
            .order_by(Mention.id)
        ).tuples()
        return [Outcome(m, r) for m, r in rows]


def _wait(
    sessions: SessionFactory,
    post_ids: list[str],
    console: Console,
    timeout_s: float,
    exit_when_done: bool,
) -> list[Outcome]:
    """Show progress until every mention is final (or waits for a moderator, with
    --exit-when-done), or until the time is up or Ctrl-C (the dashboard stays up till then)."""
    deadline = time.monotonic() + timeout_s
    try:
        return show_progress(sessions, post_ids, console, deadline, exit_when_done)
    except KeyboardInterrupt:  # Ctrl-C ends a demo kept running for the dashboard
        return _load(sessions, post_ids)


def _read(sessions: SessionFactory, post_ids: list[str], last: list[Outcome]) -> list[Outcome]:
    """The outcomes now; if the read fails (the database busy past its timeout, say), the
    last ones: the display only watches, so it tries again rather than end the demo."""
    from sqlalchemy.exc import OperationalError

    try:
        return _load(sessions, post_ids)
    except OperationalError as exc:
        log.warning("demo progress: reading the outcomes failed, trying again: %s", exc)
        return last


def show_progress(
    sessions: SessionFactory,
    post_ids: list[str],
    console: Console,
    deadline: float,
    exit_when_done: bool,
) -> list[Outcome]:
    """A progress bar until every mention is final (or waits for a moderator, with
    `exit_when_done`) or the deadline passes; returns the outcomes last read."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("answering mentions", total=len(post_ids))
        rows: list[Outcome] = []
        while True:
            rows = _read(sessions, post_ids, rows)
            done = sum(1 for o in rows if o.final)
            counts = Counter(o.mention.status.value for o in rows)
            progress.update(
                task,
                completed=done,
                description=(
                    "answering mentions " + " ".join(f"{k}={v}" for k, v in sorted(counts.items()))
                ),
            )
            if exit_when_done and done + sum(o.waiting_review for o in rows) == len(post_ids):
                return rows
            if time.monotonic() > deadline:
                return rows
            time.sleep(0.25)


def _summarise(rows: list[Outcome], injected: int, dups: int, wall_s: float) -> dict[str, Any]:
    latencies = [
        (o.reply.posted_at - o.mention.posted_at).total_seconds()
        for o in rows
        if o.reply is not None and o.reply.posted_at is not None and o.mention.posted_at
    ]
    statuses = Counter(o.mention.status for o in rows)
    replies = Counter(o.reply.status for o in rows if o.reply is not None)
    return {
        "mentions": injected,
        "seen": len(rows),
        "answered": statuses[MentionStatus.ANSWERED],
        "posted": replies[ReplyStatus.POSTED],
        "ignored": statuses[MentionStatus.IGNORED],
        "failed": statuses[MentionStatus.FAILED] + replies[ReplyStatus.POST_FAILED],
        "duplicates_on_platform": dups,
        "p50_mention_to_reply_s": round(statistics.median(latencies), 3) if latencies else None,
        "max_mention_to_reply_s": round(max(latencies), 3) if latencies else None,
        "wall_s": round(wall_s, 1),
    }


_REPLY_NOTE = {
    "tiny-moe": "tiny random MoE: noise by design",
    "smol-moe": "smol-moe, 135M parameters: real sentences, often wrong",
}


def _print(rows: list[Outcome], summary: dict[str, Any], console: Console, profile: str) -> None:
    from rich.console import Console
    from rich.table import Table

    out = Console(file=sys.stdout, width=max(120, console.width))
    table = Table(title="mentions and replies", show_lines=True)
    table.add_column("from")
    table.add_column("tier")
    table.add_column("mention", max_width=44)
    table.add_column("outcome")
    table.add_column(f"reply ({_REPLY_NOTE.get(profile, profile)})", max_width=56)
    for o in rows:
        m, reply = o.mention, o.reply
        outcome = f"{m.outcome}: {reply.status.value}" if reply else m.outcome
        table.add_row(
            f"@{m.author.username}", m.tier or "-", m.text, outcome, reply.text if reply else ""
        )
    out.print(table)
    out.print(" ".join(f"{k}={v}" for k, v in summary.items()))
