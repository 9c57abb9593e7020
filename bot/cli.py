"""The `mentionbot` command: the composition root that wires bot/, workers/ and models/."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli_operators import subscribers_app, tiers_app
from bot.logs import configure_logging
from bot.settings import Settings, get_settings

app = typer.Typer(
    help="Answer mentions of an X bot account with an MoE model on vLLM.", no_args_is_help=True
)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
model_app = typer.Typer(
    help="The language model: build the tiny MoE, serve it.", no_args_is_help=True
)
bench_app = typer.Typer(help="Benchmarks that print figures.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(bench_app, name="bench")
app.add_typer(model_app, name="model")
app.add_typer(subscribers_app, name="subscribers")
app.add_typer(tiers_app, name="tiers")


def _settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_format, settings.log_level)
    return settings


def _serve_metrics(settings: Settings) -> None:
    """Expose Prometheus metrics (decisions by reason, ...) when a port is configured."""
    if settings.metrics_port:
        from prometheus_client import start_http_server

        start_http_server(settings.metrics_port)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply the migrations to MENTIONBOT_DATABASE_URL."""
    from bot import migrate

    migrate.upgrade(_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: str = "base") -> None:
    """Revert the migrations (to base by default)."""
    from bot import migrate

    migrate.downgrade(_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@app.command()
def sandbox(host: str = "127.0.0.1", port: int = 8400) -> None:
    """Run the local X API v2 sandbox alone."""
    from bot.sandbox.server import main

    _settings()
    main(host, port)


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(_sig: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


@app.command()
def listen(once: Annotated[bool, typer.Option(help="Poll once and exit.")] = False) -> None:
    """Poll the bot's mentions and queue the accepted ones (one process per bot account)."""
    from bot.db import make_engine, make_session_factory
    from bot.gating import GatingRules
    from bot.listener import Listener
    from bot.x_client import XPlatform
    from workers.celery_app import create_app
    from workers.tasks import CelerySender

    settings = _settings()
    platform = XPlatform.from_settings(settings)
    bot_id = settings.bot_user_id or platform.me().platform_id
    listener = Listener(
        platform,
        make_session_factory(make_engine(settings.database_url)),
        CelerySender(create_app(settings)),
        bot_id,
        page_size=settings.mentions_page_size,
        max_pages=settings.max_pages_per_poll,
        overlap_s=settings.since_overlap_s,
        poll_interval_s=settings.poll_interval_s,
        rules=GatingRules.from_settings(settings),
        read_budget_15m=settings.read_budget_15m,
    )
    if once:
        result = listener.poll_once()
        typer.echo(
            json.dumps(
                {"fetched": result.fetched, "new": result.new, "accepted": len(result.accepted)}
            )
        )
        return
    _serve_metrics(settings)
    listener.run(_stop_on_signals())


@app.command()
def worker(
    queues: Annotated[str, typer.Option(help="Comma-separated: generate, post.")] = "generate,post",
    pool: Annotated[str, typer.Option(help="threads, prefork, gevent or solo.")] = "threads",
    concurrency: Annotated[int, typer.Option(help="Tasks in flight per worker.")] = 16,
    loglevel: str = "INFO",
) -> None:
    """Run a Celery worker (use a thread pool for `generate`: it waits on vLLM, not the CPU)."""
    from workers.celery_app import create_app

    settings = _settings()
    _serve_metrics(settings)
    celery = create_app(settings)
    celery.worker_main(
        [
            "worker",
            "-Q",
            queues,
            "-P",
            pool,
            "-c",
            str(concurrency),
            "--loglevel",
            loglevel,
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def beat(schedule: Path = Path("var/celerybeat-schedule")) -> None:
    """Run Celery beat, which schedules the sweeper."""
    from workers.celery_app import create_app

    schedule.parent.mkdir(parents=True, exist_ok=True)
    create_app(_settings()).start(["beat", "--schedule", str(schedule), "--loglevel", "INFO"])


@app.command()
def sweep() -> None:
    """Run the sweeper once, now, and print what it re-sent."""
    from bot.db import make_engine, make_session_factory
    from bot.replies import sweep as run_sweep
    from workers.celery_app import TASK_GENERATE, TASK_POST, create_app

    settings = _settings()
    result = run_sweep(
        make_session_factory(make_engine(settings.database_url)), settings, settings.bot_user_id
    )
    celery = create_app(settings)
    for mention_id in result.generate:
        celery.send_task(TASK_GENERATE, args=[mention_id])
    for reply_id in result.post:
        celery.send_task(TASK_POST, args=[reply_id])
    typer.echo(json.dumps(result.__dict__))


@model_app.command("build-tiny")
def model_build_tiny(
    directory: Annotated[Path | None, typer.Argument(help="Output dir.")] = None,
    seed: int = 0,
) -> None:
    """Build the tiny random Mixtral used by tests and the demo (no download)."""
    from models.tiny_moe import build_tiny_moe

    out = build_tiny_moe(directory or _settings().model_dir, seed=seed)
    typer.echo(str(out))


@model_app.command("serve")
def model_serve(
    profile: Annotated[
        str, typer.Option(help="Model profile; `mentionbot model profiles` lists them.")
    ] = "tiny-moe",
    model: Annotated[
        str | None, typer.Option(help="Checkpoint dir or id instead of the profile's.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Served model name (default MENTIONBOT_LLM_MODEL).")
    ] = None,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Start vLLM's OpenAI server with a profile's arguments; wait until /v1/models answers."""
    from models.profiles import UnknownProfileError, get_profile
    from models.server import ServeConfig, serve_forever

    try:
        chosen = get_profile(profile)
    except UnknownProfileError as exc:
        raise typer.BadParameter(str(exc), param_hint="--profile") from None
    settings = _settings()
    if model is None and chosen.built_locally:
        from models.tiny_moe import build_tiny_moe

        model = str(build_tiny_moe(settings.model_dir))
    code = serve_forever(
        ServeConfig(
            model=model or chosen.checkpoint,
            served_model_name=name or settings.llm_model,
            host=host,
            port=port,
            profile=chosen,
            # One process on the CPU engine; GPU profiles keep vLLM's worker processes.
            single_process=chosen.gpus == 0,
        )
    )
    if code:
        raise typer.Exit(code)


@model_app.command("profiles")
def model_profiles(
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
    markdown: Annotated[bool, typer.Option(help="Print the README's Markdown table.")] = False,
) -> None:
    """List the model profiles: checkpoint, hardware and the vLLM arguments each one uses."""
    from models.profiles import PROFILES, markdown_table

    if as_json:
        typer.echo(json.dumps([p.to_dict() for p in PROFILES.values()], indent=2))
        return
    if markdown:
        typer.echo(markdown_table())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Model profiles (mentionbot model serve --profile NAME)")
    table.add_column("name", no_wrap=True)
    for column in ("checkpoint", "architecture", "gpus", "hardware", "key args", "cpu engine"):
        table.add_column(column, overflow="fold")
    for p in PROFILES.values():
        table.add_row(
            p.name,
            p.checkpoint or "(built locally)",
            p.architecture,
            str(p.gpus) if p.gpus else "CPU",
            p.hardware,
            " ".join(p.key_args()),
            p.cpu_engine,
        )
    Console().print(table)


@app.command()
def demo(
    mentions: Annotated[int, typer.Option(help="Sample mentions to inject.")] = 12,
    exit_when_done: Annotated[bool, typer.Option(help="Exit once all are final.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="End with a JSON summary line.")] = False,
    timeout_s: Annotated[float, typer.Option(help="Give up after this long.")] = 600.0,
    showcase: Annotated[
        bool, typer.Option(help="Also show every tier's outcome (upsell, quota, spam, ...).")
    ] = True,
) -> None:
    """Run the whole pipeline on this machine: engine, sandbox, listener, workers."""
    from bot.demo import run_demo

    summary = run_demo(
        _settings(),
        mentions=mentions,
        exit_when_done=exit_when_done,
        as_json=as_json,
        timeout_s=timeout_s,
        showcase=showcase,
    )
    if summary.get("failed") or summary.get("duplicates_on_platform"):
        raise typer.Exit(1)


@app.command("settings")
def show_settings(markdown: bool = False) -> None:
    """List every setting with its default (secrets are never printed)."""
    fields = Settings.model_fields
    if markdown:
        typer.echo("| variable | default | meaning |\n| --- | --- | --- |")
    for name, info in fields.items():
        default = info.get_default(call_default_factory=True)
        shown = "" if default is None else str(default)
        if "REPO_ROOT" in repr(info) or isinstance(default, Path):
            shown = str(default).replace(str(Path.cwd()), ".")
        if markdown:
            typer.echo(f"| `MENTIONBOT_{name.upper()}` | `{shown}` | {info.description} |")
        else:
            typer.echo(f"MENTIONBOT_{name.upper()}={shown}  # {info.description}")


@bench_app.command("llm")
def bench_llm(
    concurrency: Annotated[str, typer.Option(help="Comma-separated levels.")] = "1,16,64",
    max_tokens: Annotated[int, typer.Option(help="Tokens each request generates.")] = 64,
    requests: Annotated[
        int | None, typer.Option(help="Requests per level (default 4 x concurrency, min 16).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """The model server alone, on the pipeline's prompts (starts the tiny engine if needed)."""
    from functools import partial

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from bot.local_engine import local_engine
    from models.bench import bench_messages, run_level
    from models.llm_client import VLLMClient

    settings = _settings()
    levels = [int(c) for c in concurrency.split(",") if c.strip()]
    console = Console(stderr=True)
    runs = []
    with local_engine(settings, console, "bench") as url:
        api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
        client = VLLMClient(
            url,
            settings.llm_model,
            api_key=api_key,
            timeout_s=settings.llm_timeout_s,
            max_retries=0,
        )
        messages = bench_messages(str(settings.persona_path) if settings.persona_path else None)
        run_level(client, 1, 2, 8, messages)  # warm-up, not counted
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
        ) as progress:
            for level in levels:
                n = requests or max(16, 4 * level)
                task = progress.add_task(f"concurrency {level}", total=n)
                run = run_level(
                    client,
                    level,
                    n,
                    max_tokens,
                    messages,
                    on_done=partial(progress.advance, task),
                )
                runs.append(run.as_dict())
                progress.update(
                    task,
                    description=(
                        f"concurrency {level}: {run.output_tokens_per_s:,.0f} tok/s, "
                        f"p50 {run.p50_s:.2f}s"
                    ),
                )
        client.close()
    table = "  ".join(f"c={r['concurrency']}: {r['output_tokens_per_s']:.0f} tok/s" for r in runs)
    console.print(table)
    if as_json:
        typer.echo(
            json.dumps({"model": settings.llm_model, "max_tokens": max_tokens, "runs": runs})
        )


@bench_app.command("gating")
def bench_gating(
    workers: Annotated[int, typer.Option(help="Worker threads, one connection each.")] = 16,
    seconds: Annotated[float, typer.Option(help="How long to run.")] = 10.0,
    history: Annotated[
        int, typer.Option(help="Old mentions in the tables first (production-like size).")
    ] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="End with one JSON line.")] = False,
) -> None:
    """decide() under load, in a scratch database beside MENTIONBOT_DATABASE_URL (Postgres)."""
    from rich.console import Console

    from bot.gating_bench import BenchError, run_with_progress

    settings = _settings()
    console = Console(stderr=True)
    try:
        result = run_with_progress(
            settings.database_url, workers, seconds, console, history=history
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
