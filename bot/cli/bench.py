"""`mentionbot bench ...`: run a benchmark with a progress line, then print its figures."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import load_settings

if TYPE_CHECKING:
    from rich.console import Console

    from bot.bench.gating import BenchResult
    from bot.bench.llm import Run
    from bot.bench.pipeline import Config as PipelineConfig
    from bot.settings import Settings
    from models.llm_client import VLLMClient

app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)


@app.command("llm")
def bench_llm(
    concurrency: Annotated[str, typer.Option(help="Comma-separated levels.")] = "1,16,64",
    max_tokens: Annotated[int, typer.Option(help="Tokens each request generates.")] = 64,
    requests: Annotated[
        int | None, typer.Option(help="Requests per level (default 4 x concurrency, min 16).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """The model server alone, on the pipeline's prompts (starts the tiny engine if needed)."""
    from rich.console import Console

    from bot.bench.llm import bench_messages, run_level
    from bot.cli.local_engine import local_engine
    from models.llm_client import VLLMClient

    settings = load_settings()
    levels = [int(c) for c in concurrency.split(",") if c.strip()]
    console = Console(stderr=True)
    with local_engine(settings, console, "bench") as url:
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        with VLLMClient(
            url,
            settings.llm_model,
            api_key=api_key,
            timeout_s=settings.llm_timeout_s,
            max_retries=0,
        ) as client:
            messages = bench_messages(str(settings.persona_path) if settings.persona_path else None)
            run_level(client, 1, 2, 8, messages)  # warm-up, not counted
            runs = _llm_levels(client, levels, requests, max_tokens, messages, console)
    console.print("  ".join(f"c={r.concurrency}: {r.output_tokens_per_s:.0f} tok/s" for r in runs))
    if as_json:
        document = {"model": settings.llm_model, "max_tokens": max_tokens}
        typer.echo(json.dumps({**document, "runs": [r.as_dict() for r in runs]}))


def _llm_levels(
    client: VLLMClient,
    levels: list[int],
    requests: int | None,
    max_tokens: int,
    messages: list[list[dict[str, str]]],
    console: Console,
) -> list[Run]:
    """Each concurrency level in turn, with a progress bar per level."""
    from functools import partial

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.bench.llm import run_level

    runs = []
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    ) as progress:
        for level in levels:
            n = requests or max(16, 4 * level)
            task = progress.add_task(f"concurrency {level}", total=n)
            run = run_level(
                client, level, n, max_tokens, messages, on_done=partial(progress.advance, task)
            )
            runs.append(run)
            progress.update(
                task,
                description=(
                    f"concurrency {level}: {run.output_tokens_per_s:,.0f} tok/s, "
                    f"p50 {run.p50_s:.2f}s"
                ),
            )
    return runs


@app.command("gating")
def bench_gating(
    workers: Annotated[int, typer.Option(help="Worker threads, one connection each.")] = 16,
    seconds: Annotated[float, typer.Option(help="How long to run.")] = 10.0,
    history: Annotated[
        int, typer.Option(help="Old mentions in the tables first (production-like size).")
    ] = 100_000,
    page: Annotated[
        int, typer.Option(help="Mentions per transaction, as a listener's page (1 to 100).")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """The gate under load, in a scratch database beside MENTIONBOT_DATABASE_URL (Postgres)."""
    from rich.console import Console

    from bot.bench.scratch import BenchError

    settings = load_settings()
    console = Console(stderr=True)
    try:
        result = _gating_with_progress(
            settings.database_url, workers, seconds, console, history=history, page=page
        )
    except BenchError as exc:
        console.print(f"[red]bench gating: {exc}[/red]")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    if result.over_quota or result.counter_mismatch:
        console.print("[red]bench gating: the quota counters do not hold[/red]")
        raise typer.Exit(1)
    if result.errors:
        console.print(f"[red]bench gating: {result.errors} transactions failed[/red]")
        raise typer.Exit(1)


def _gating_with_progress(
    database_url: str,
    workers: int,
    seconds: float,
    console: Console,
    *,
    history: int,
    page: int = 1,
) -> BenchResult:
    """The gating bench with a progress line and a summary on `console` (stderr)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from bot.bench import gating
    from bot.bench.scratch import is_sqlite

    if is_sqlite(database_url):
        console.print(f"[yellow]{gating.SQLITE_NOTE}[/yellow]")
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeRemainingColumn(), console=console
    ) as progress:
        task = progress.add_task("gating: starting", total=seconds)

        def status(message: str) -> None:
            progress.update(task, description=f"gating: {message}")

        def tick(elapsed: float, decisions: int) -> None:
            rate = decisions / elapsed if elapsed else 0.0
            status(f"{decisions:,} decisions, {rate:,.0f}/s")
            progress.update(task, completed=elapsed)

        result = gating.run(
            database_url,
            workers,
            seconds,
            history=history,
            on_progress=tick,
            on_status=status,
            page=page,
        )
        status(f"{result.decisions:,} decisions, {result.decisions_per_s:,.0f}/s")
        progress.update(task, completed=seconds)
    target, p99 = gating.TARGET_DECISIONS_PER_S, gating.TARGET_P99_MS
    meets = result.decisions_per_s >= target and result.p99_ms <= p99
    console.print(
        f"{result.decisions_per_s:,.0f} decisions/s, p50 {result.p50_ms:.1f} ms, "
        f"p99 {result.p99_ms:.1f} ms, over_quota {result.over_quota}, errors {result.errors} "
        f"({'meets' if meets else 'misses'} the target of {target:,}/s with "
        f"p99 <= {p99:.0f} ms; {workers} workers, pages of {page}, {history:,} old mentions)"
    )
    console.print("reasons: " + ", ".join(f"{k} {v:,}" for k, v in sorted(result.reasons.items())))
    return result


@app.command("dashboard")
def bench_dashboard(
    pending: Annotated[int, typer.Option(help="Replies waiting for review.")] = 1000,
    reads: Annotated[int, typer.Option(help="Queue page requests to time.")] = 200,
    approvals: Annotated[int, typer.Option(help="Approvals to time.")] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """The review queue's server time with many items waiting (a scratch Postgres database)."""
    from rich.console import Console

    from bot.bench import dashboard
    from bot.bench.scratch import BenchError
    from workers.celery_app import create_app
    from workers.sender import CelerySender

    settings = load_settings()
    # Approvals hand replies to the queue as in production, under a prefix of their own.
    bench_settings = settings.model_copy(update={"broker_key_prefix": "bench-dashboard:"})
    console = Console(stderr=True)
    try:
        with console.status(f"seeding {pending:,} pending replies, then timing the dashboard"):
            figures = dashboard.run(
                bench_settings,
                CelerySender(create_app(bench_settings)),
                pending=pending,
                reads=reads,
                approvals=approvals,
            )
    except BenchError as exc:
        console.print(f"[red]bench dashboard: {exc}[/red]")
        raise typer.Exit(2) from None
    _forget_bench_tasks(bench_settings.broker_url, "bench-dashboard:")
    meets = figures.queue_p95_ms <= dashboard.TARGET_QUEUE_P95_MS
    console.print(
        f"queue p50 {figures.queue_p50_ms:.1f} ms, p95 {figures.queue_p95_ms:.1f} ms "
        f"({'meets' if meets else 'misses'} the {dashboard.TARGET_QUEUE_P95_MS:.0f} ms target); "
        f"approve p50 {figures.approve_p50_ms:.1f} ms, with {pending:,} pending"
    )
    if as_json:
        typer.echo(json.dumps(figures.as_dict()))


def _forget_bench_tasks(broker_url: str, prefix: str) -> None:
    """Drop the post tasks the benchmark queued (no worker is meant to run them)."""
    if not broker_url.startswith("redis"):
        return
    import redis

    client = redis.Redis.from_url(broker_url)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


@app.command("soak")
def bench_soak(
    rate: Annotated[float, typer.Option(help="Mentions a second.")] = 20.0,
    seconds: Annotated[float, typer.Option(help="How long to send them.")] = 300.0,
    drain_timeout: Annotated[float, typer.Option(help="Longest wait for the drain, s.")] = 600.0,
    max_tokens: Annotated[
        int | None, typer.Option(help="Reply tokens (MENTIONBOT_LLM_MAX_TOKENS for the run).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """The whole pipeline (sandbox, listener, workers, beat) at a steady rate, on a scratch
    Postgres database beside MENTIONBOT_DATABASE_URL and a Redis prefix of its own."""
    from rich.console import Console

    from bot.bench.scratch import BenchError, is_sqlite, scratch_database
    from bot.bench.soak import soak
    from bot.cli.local_engine import local_engine

    settings = load_settings()
    console = Console(stderr=True)
    if is_sqlite(settings.database_url):
        console.print("[red]bench soak: set MENTIONBOT_DATABASE_URL to a Postgres server[/red]")
        raise typer.Exit(2)
    total = int(rate * seconds)
    pids: list[int] = []
    try:
        with (
            local_engine(settings, console, "soak", pids) as url,
            scratch_database(settings.database_url) as (db_url, _),
        ):
            env = {"MENTIONBOT_LLM_URL": url, "MENTIONBOT_LLM_MODEL": settings.llm_model}
            if max_tokens is not None:
                env["MENTIONBOT_LLM_MAX_TOKENS"] = str(max_tokens)
            with console.status(f"soak: 0 of {total} mentions sent") as status:
                result = soak(
                    db_url,
                    env,
                    settings.var_dir / "log",
                    rate=rate,
                    seconds=seconds,
                    drain_timeout_s=drain_timeout,
                    engine_pid=pids[0] if pids else None,
                    on_sent=lambda n: status.update(f"soak: {n} of {total} mentions sent"),
                )
    except BenchError as exc:
        console.print(f"[red]bench soak: {exc}[/red]")
        raise typer.Exit(2) from None
    console.print(
        f"sent {result.sent} in {result.send_s} s; drained in {result.drain_s} s; "
        f"at most {result.in_flight_max} in flight"
    )
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    if not result.drained:
        raise typer.Exit(1)


@app.command("pipeline")
def bench_pipeline(
    mentions: Annotated[int, typer.Option(help="Mentions in the burst (and the baseline).")] = 500,
    concurrency: Annotated[int, typer.Option(help="The bare client's requests in flight.")] = 64,
    max_tokens: Annotated[int, typer.Option(help="Reply tokens (both sides).")] = 64,
    steady_mentions: Annotated[
        int, typer.Option(help="Mentions of the below-capacity phase (at half raw_rps).")
    ] = 100,
    steady_rate: Annotated[
        float | None, typer.Option(help="Its rate, mentions/s (default: half raw_rps).")
    ] = None,
    overload: Annotated[
        float | None, typer.Option(help="Also a phase at this multiple of raw_rps, by tier.")
    ] = None,
    overload_mentions: Annotated[
        int | None, typer.Option(help="Mentions of the overload phase (default: --mentions).")
    ] = None,
    vllm_priority: Annotated[
        bool, typer.Option(help="Start vLLM with --scheduling-policy priority.")
    ] = True,
    send_priority: Annotated[
        bool,
        typer.Option(help="The worker sends the tier's priority to vLLM (off with vLLM's)."),
    ] = True,
    generate_workers: Annotated[int, typer.Option(help="Generate worker processes.")] = 1,
    engines: Annotated[int, typer.Option(help="vLLM servers (worker k uses server k).")] = 1,
    drain_timeout: Annotated[float, typer.Option(help="Longest wait for a phase, s.")] = 600.0,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """The whole pipeline against the bare model server on the same prompts: raw_rps,
    pipeline_rps, latency by tier, overhead by stage, CPU per reply (a scratch Postgres
    database beside MENTIONBOT_DATABASE_URL, a Redis prefix of its own)."""
    from rich.console import Console

    from bot.bench.pipeline import Config
    from bot.bench.scratch import BenchError

    settings = load_settings()
    console = Console(stderr=True)
    _refuse_pipeline(settings, mentions, console)
    cfg = Config(
        mentions=mentions,
        concurrency=concurrency,
        max_tokens=max_tokens,
        steady_mentions=steady_mentions,
        steady_rate=steady_rate,
        overload=overload,
        overload_mentions=overload_mentions,
        generate_workers=generate_workers,
        vllm_priority=vllm_priority,
        # A first-come first-served vLLM refuses a request that carries a priority.
        send_priority=send_priority and vllm_priority,
        drain_timeout_s=drain_timeout,
    )
    try:
        doc = _pipeline(cfg, settings, engines, console)
    except BenchError as exc:
        console.print(f"[red]bench pipeline: {exc}[/red]")
        raise typer.Exit(2) from None
    _forget_bench_tasks(settings.broker_url, "benchpipe")
    console.print(
        f"raw {doc['raw_rps']:.2f}/s, pipeline {doc['pipeline_rps']:.2f}/s, "
        f"ratio {doc['ratio']}; overhead p50 {doc['below_capacity']['overhead_p50_ms']} ms"
    )
    if as_json:
        typer.echo(json.dumps(doc))


def _refuse_pipeline(settings: Settings, mentions: int, console: Console) -> None:
    """Exit with 2, before anything starts, when the run could not measure what it says."""
    from bot.bench.pipeline_load import REACH_BACK
    from bot.bench.scratch import is_sqlite

    if is_sqlite(settings.database_url):
        console.print("[red]bench pipeline: set MENTIONBOT_DATABASE_URL to Postgres[/red]")
        raise typer.Exit(2)
    if mentions > REACH_BACK:
        # Posted at once, the oldest would be out of the timeline's reach before a poll.
        console.print(
            f"[red]bench pipeline: a burst of {mentions} mentions: X's mentions timeline "
            f"reaches back {REACH_BACK} posts (--overload-mentions makes a longer overload)[/red]"
        )
        raise typer.Exit(2)


def _pipeline(cfg: PipelineConfig, settings: Settings, engines: int, console: Console) -> Any:
    """The pipeline bench on `engines` local vLLM servers and a scratch database."""
    from contextlib import ExitStack

    from bot.bench.pipeline import run
    from bot.bench.scratch import scratch_database
    from bot.cli.local_engine import local_engine

    pids: list[int] = []
    with ExitStack() as stack:
        urls = [
            stack.enter_context(
                local_engine(settings, console, f"pipeline{k}", pids, priority=cfg.vllm_priority)
            )
            for k in range(engines)
        ]
        db = stack.enter_context(scratch_database(settings.database_url))
        return run(
            cfg,
            settings,
            urls,
            pids,
            db,
            settings.var_dir / "log",
            lambda line: console.print(f"[dim]{line}[/dim]"),
        )
