"""`mentionbot bench pipeline`: the whole pipeline against the bare model server, same prompts.

One run, on a scratch database, a Redis prefix of its own and the production processes
(bot/bench/cluster.py): the sandbox comes up first and gets the threads; every prompt is sent
once to warm vLLM's prefix cache; a bare client sends them all again at `concurrency` (the
baseline, raw_rps); then the listener, the workers and beat start and the same mentions are
posted on the sandbox at once (the pipeline, pipeline_rps, with each process's CPU from
/proc); then a below-capacity phase at half raw_rps gives the pipeline's own overhead by
stage; and with `overload` a phase at that multiple of raw_rps gives each tier's p95.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bot.bench import pipeline_load as load
from bot.bench import pipeline_stats as stats
from bot.bench.cluster import Cluster
from bot.bench.soak import UNLIMITED
from bot.db.engine import SessionFactory, make_engine, make_session_factory
from bot.platform.x import XPlatform
from bot.replies.deps import ReplyDeps
from bot.settings import Settings
from bot.subscribers.tiers import Policy, policies
from bot.vocab import Tier
from models.llm_client import VLLMClient
from models.prompt import load_persona

Progress = Callable[[str], None]
PROBES = 20  # create_reply calls timed alone: the platform's own response time
GROUPS = {"listener": "listener", "post": "post_worker", "beat": "beat", "sandbox": "sandbox"}


@dataclass(frozen=True)
class Config:
    """What one run does (the command's options)."""

    mentions: int = 500
    concurrency: int = 64
    max_tokens: int = 64
    steady_mentions: int = 100
    steady_rate: float | None = None  # half raw_rps unless given
    overload: float | None = None
    overload_mentions: int | None = None  # as many as the burst unless given
    generate_workers: int = 1
    vllm_priority: bool = True
    send_priority: bool = True
    drain_timeout_s: float = 600.0


@dataclass
class Run:
    """The processes and clients of one run."""

    cfg: Config
    cluster: Cluster
    sessions: SessionFactory
    deps: list[ReplyDeps]
    policies: dict[Tier, Policy]
    engine_pids: list[int]
    db_name: str
    progress: Progress


def _env(cfg: Config, settings: Settings, db_url: str, urls: Sequence[str]) -> dict[str, str]:
    return {
        "MENTIONBOT_DATABASE_URL": db_url,
        "MENTIONBOT_BROKER_KEY_PREFIX": f"benchpipe{os.getpid()}:",
        "MENTIONBOT_READ_BUDGET_15M": "0",
        # A poll a second, as in the soak: the listener's default 15 s would be all one sees.
        "MENTIONBOT_POLL_INTERVAL_S": os.environ.get("MENTIONBOT_POLL_INTERVAL_S", "1"),
        "MENTIONBOT_POST_BUDGET_15M": "1000000",
        "MENTIONBOT_LLM_URL": urls[0],
        "MENTIONBOT_LLM_MODEL": settings.llm_model,
        "MENTIONBOT_LLM_MAX_TOKENS": str(cfg.max_tokens),
        "MENTIONBOT_LLM_SEND_PRIORITY": "true" if cfg.send_priority else "false",
        # The listener's "listener.sent" lines say when a page's tasks were sent.
        "MENTIONBOT_LOG_FORMAT": "json",
    }


def _worker_roles(cfg: Config, urls: Sequence[str]) -> dict[str, dict[str, str]]:
    """generate2, generate3, ...: each worker beyond the first on its own server (in turn)."""
    return {
        f"generate{k + 1}": {"MENTIONBOT_LLM_URL": urls[k % len(urls)]}
        for k in range(1, cfg.generate_workers)
    }


def _deps(settings: Settings, urls: Sequence[str]) -> list[ReplyDeps]:
    """One set of the generate service's collaborators per model server, as a worker builds
    them (workers/deps.py), for the bare client."""
    platform = XPlatform.from_settings(settings)
    me = platform.me()
    persona = load_persona(settings.persona_path)
    api_key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    return [
        ReplyDeps(
            sessions=make_session_factory(make_engine(settings.database_url, pool_size=2)),
            platform=platform,
            llm=VLLMClient(
                url, settings.llm_model, api_key=api_key, timeout_s=settings.llm_timeout_s
            ),
            settings=settings,
            bot_user_id=me.platform_id,
            bot_username=me.username,
            persona=persona,
        )
        for url in urls
    ]


def run(
    cfg: Config,
    settings: Settings,
    urls: Sequence[str],
    engine_pids: Sequence[int],
    db: tuple[str, str],
    var: Path,
    progress: Progress,
) -> dict[str, Any]:
    """The whole bench; returns the JSON document the command prints."""
    db_url, db_name = db
    env = _env(cfg, settings, db_url, urls)
    roles = _worker_roles(cfg, urls)
    limits = tuple(f"{name}=1000000" for name in UNLIMITED)
    with Cluster(env, var, name="pipeline", sandbox_limits=limits, role_env=roles) as cluster:
        cluster.start("sandbox")
        bench_settings = settings.model_copy(
            update={
                "database_url": db_url,
                "x_api_url": cluster.sandbox_url,
                "llm_max_tokens": cfg.max_tokens,
                "llm_send_priority": cfg.send_priority,
            }
        )
        sessions = make_session_factory(make_engine(db_url, pool_size=2))
        with sessions() as s:
            tier_policies = policies(s)
        r = Run(
            cfg,
            cluster,
            sessions,
            _deps(bench_settings, urls),
            tier_policies,
            list(engine_pids),
            db_name,
            progress,
        )
        return _phases(r, roles)


def _phases(r: Run, extra_roles: dict[str, dict[str, str]]) -> dict[str, Any]:
    cfg = r.cfg
    main = load.plan(cfg.mentions, phase=1)
    steady = load.plan(cfg.steady_mentions, phase=2)
    overload = (
        load.plan(cfg.overload_mentions or cfg.mentions, phase=3, tiers=load.OVERLOAD_TIERS)
        if cfg.overload
        else []
    )
    url = r.cluster.sandbox_url
    parents = [load.seed_parents(url, (len(p) + 1) // 2) for p in (main, steady, overload)]
    baseline = _baseline(r, main, parents[0])
    platform_s = _probe_platform(r, parents[0][0])
    r.progress(f"platform: create_reply answers in {platform_s * 1000:.1f} ms (median)")
    r.cluster.start_all(("listener", *_generate_roles(extra_roles), "post", "beat"))
    time.sleep(2.0)  # the listener's first poll (nothing to read yet)
    pipeline = _burst(r, main, parents[0])
    raw_rps = baseline["raw_rps"]
    doc: dict[str, Any] = {**baseline, **pipeline}
    doc["ratio"] = round(pipeline["pipeline_rps"] / raw_rps, 3) if raw_rps else None
    steady_rate = cfg.steady_rate or raw_rps / 2
    doc["below_capacity"] = _steady(r, steady, parents[1], steady_rate, platform_s)
    if overload and cfg.overload:
        doc["overload"] = _overload(r, overload, parents[2], raw_rps * cfg.overload)
    doc["config"] = {
        **cfg.__dict__,
        "engines": len(r.deps),
        "model": r.deps[0].settings.llm_model,
        "poll_interval_s": float(os.environ.get("MENTIONBOT_POLL_INTERVAL_S", "1")),
    }
    doc["machine"] = stats.machine()
    return doc


def _generate_roles(extra_roles: dict[str, dict[str, str]]) -> tuple[str, ...]:
    """The generate worker roles: the cluster's own and the extra ones."""
    return ("generate", *sorted(extra_roles))


def _baseline(r: Run, mentions: Sequence[load.Planned], parents: Sequence[str]) -> dict[str, Any]:
    """Warm the prefix cache with every prompt, then time them all at `concurrency` (with the
    bare client's own CPU and the engine's, for comparison with the pipeline's)."""
    import itertools
    import resource

    cfg = r.cfg
    messages = load.prompts(r.deps[0], mentions, parents, r.policies)
    step = max(1, len(mentions) // 5)
    for label in ("warm-up", "baseline"):
        counter = itertools.count(1)  # next() on it is atomic: the threads share it

        def tick(label: str = label, counter: Any = counter) -> None:
            done = next(counter)
            if done % step == 0:
                r.progress(f"{label}: {done} of {len(mentions)} requests")

        before, usage = _cpu(r), resource.getrusage(resource.RUSAGE_SELF)
        wall, errors = load.bare_round(
            r.deps, mentions, messages, r.policies, cfg.concurrency, on_done=tick
        )
    after, usage_after = _cpu(r), resource.getrusage(resource.RUSAGE_SELF)
    client_s = (usage_after.ru_utime + usage_after.ru_stime) - (usage.ru_utime + usage.ru_stime)
    engine_s = stats.cpu_deltas(before, after, os.sysconf("SC_CLK_TCK")).get("vllm")
    ok = len(mentions) - errors
    raw_rps = ok / wall
    r.progress(f"baseline: {raw_rps:.2f} replies/s from the bare client ({errors} errors)")
    return {
        "raw_rps": round(raw_rps, 3),
        "raw_errors": errors,
        "raw_wall_s": round(wall, 2),
        "bare_client_cpu_s_per_reply": round(client_s / ok, 4) if ok else None,
        "engine_cores_baseline": round(engine_s / wall, 2) if engine_s is not None else None,
    }


def _probe_platform(r: Run, parent: str) -> float:
    """The platform's own response time to a reply: the median of a few calls timed alone."""
    platform = r.deps[0].platform
    times = []
    for i in range(PROBES):
        started = time.perf_counter()
        platform.create_reply(f"bench probe {os.getpid()}-{i}", parent)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _wait(r: Run, post_ids: Sequence[str], label: str) -> None:
    """Until every mention of the phase is done (or the drain timeout)."""
    deadline = time.monotonic() + r.cfg.drain_timeout_s
    last_report = 0.0
    while (done := load.settled(r.sessions, post_ids)) < len(post_ids):
        if time.monotonic() > deadline:
            r.progress(f"{label}: timed out with {done} of {len(post_ids)} done")
            return
        if time.monotonic() - last_report > 5:
            r.progress(f"{label}: {done} of {len(post_ids)} done")
            last_report = time.monotonic()
        time.sleep(0.25)


def _poll_times(cluster: Cluster) -> list[float]:
    """When each page the listener stored had been committed and its tasks sent (its JSON
    log lines)."""
    from datetime import datetime

    found = []
    path = cluster.log_path("listener")
    for line in path.read_text(errors="replace").splitlines():
        if '"listener.sent"' not in line:
            continue
        try:
            found.append(datetime.fromisoformat(json.loads(line)["timestamp"]).timestamp())
        except (ValueError, KeyError, TypeError):
            continue
    return sorted(found)


def _collect(
    r: Run, ids: Sequence[str], plan: Sequence[load.Planned], parents: Sequence[str]
) -> load.Collected:
    return load.collect(r.sessions, ids, plan, parents, _poll_times(r.cluster))


_READ_COUNTERS = {
    "mentionbot_listener_polls": "polls",
    "mentionbot_listener_pages": "pages",
    "mentionbot_mentions_fetched": "fetched",
    "mentionbot_mentions_ingested": "ingested",
}


def _read_counts(r: Run) -> dict[str, float]:
    """The listener's timeline reads so far, from its metrics endpoint."""
    from prometheus_client.parser import text_string_to_metric_families

    url = f"http://127.0.0.1:{r.cluster.ports['listener']}/metrics"
    text = httpx.get(url, timeout=10).text
    found = {name: 0.0 for name in _READ_COUNTERS.values()}
    for family in text_string_to_metric_families(text):
        if family.name in _READ_COUNTERS:
            total = sum(s.value for s in family.samples if s.name.endswith("_total"))
            found[_READ_COUNTERS[family.name]] = total
    return found


def _reads(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """What reading the timeline cost over a phase: X bills each page, and a 15-minute
    window allows 300 of them."""
    d = {k: after[k] - before[k] for k in after}
    return {
        "polls": int(d["polls"]),
        "pages": int(d["pages"]),
        "pages_per_poll": round(d["pages"] / d["polls"], 3) if d["polls"] else None,
        "fetched_per_ingested": round(d["fetched"] / d["ingested"], 3) if d["ingested"] else None,
    }


def _burst(r: Run, mentions: Sequence[load.Planned], parents: Sequence[str]) -> dict[str, Any]:
    """All the mentions at once; the pipeline's rate, latency and CPU per reply."""
    reads_before = _read_counts(r)
    before, started = _cpu(r), time.monotonic()
    r.progress(f"pipeline: posting {len(mentions)} mentions at once")
    ids = load.inject(r.cluster.sandbox_url, mentions, parents)
    _wait(r, ids, "pipeline")
    after, window = _cpu(r), time.monotonic() - started
    got = _collect(r, ids, mentions, parents)
    replies = len(got.timelines)
    first = min((t.posted for t in got.timelines), default=0.0)
    last = max((t.replied for t in got.timelines), default=0.0)
    pipeline_rps = stats.rate(replies, first, last)
    cpu = stats.cpu_deltas(before, after, os.sysconf("SC_CLK_TCK"))
    r.progress(f"pipeline: {pipeline_rps:.2f} replies/s, {replies} of {len(mentions)} posted")
    return {
        "pipeline_rps": round(pipeline_rps, 3),
        "pipeline_wall_s": round(last - first, 2),
        "replies": replies,
        "outcomes": got.outcomes,
        "prompt_inputs_identical": got.inputs_identical,
        "prompt_mismatches": got.mismatches,
        "latency_s": stats.latency_by_tier(got.timelines),
        "cpu_s": {g: round(s, 2) for g, s in cpu.items()},
        "cpu_s_per_reply": stats.per_reply(cpu, replies),
        "engine_cores_pipeline": round(cpu["vllm"] / window, 2) if "vllm" in cpu else None,
        "stages_ms_burst": stats.overhead_report(got.timelines, 0.0)["stages_ms"],
        "reads_burst": _reads(reads_before, _read_counts(r)),
    }


def _steady(
    r: Run, mentions: Sequence[load.Planned], parents: Sequence[str], rate: float, platform_s: float
) -> dict[str, Any]:
    """Below capacity: the pipeline's own time per mention, by stage."""
    r.progress(f"below capacity: {len(mentions)} mentions at {rate:.2f}/s")
    reads_before = _read_counts(r)
    ids = load.inject(r.cluster.sandbox_url, mentions, parents, rate=rate)
    _wait(r, ids, "below capacity")
    reads = _reads(reads_before, _read_counts(r))
    got = _collect(r, ids, mentions, parents)
    report = stats.overhead_report(got.timelines, platform_s)
    r.progress(
        f"below capacity: overhead p50 {report['overhead_p50_ms']} ms, "
        f"p99 {report['overhead_p99_ms']} ms"
    )
    return {
        "rate": round(rate, 3),
        "replies": len(got.timelines),
        "outcomes": got.outcomes,
        **report,
        "latency_s": stats.latency_by_tier(got.timelines),
        # Steady state: a poll a second while mentions trickle in (the target is 1.1 pages).
        "reads": reads,
    }


def _overload(
    r: Run, mentions: Sequence[load.Planned], parents: Sequence[str], rate: float
) -> dict[str, Any]:
    """Above capacity: who waits (each tier's p95)."""
    r.progress(f"overload: {len(mentions)} mentions at {rate:.2f}/s")
    ids = load.inject(r.cluster.sandbox_url, mentions, parents, rate=rate)
    _wait(r, ids, "overload")
    got = _collect(r, ids, mentions, parents)
    latency = stats.latency_by_tier(got.timelines)
    p95 = {tier: v.get("p95") for tier, v in latency.items() if tier != "all"}
    first = min((t.posted for t in got.timelines), default=0.0)
    last = max((t.replied for t in got.timelines), default=0.0)
    top, lowest = p95.get("premium_plus"), p95.get("premium")
    share = round(float(top) / float(lowest), 3) if top and lowest else None
    r.progress(f"overload: p95 by tier {p95} (premium_plus / premium {share})")
    return {
        "rate": round(rate, 3),
        "replies": len(got.timelines),
        "outcomes": got.outcomes,
        "pipeline_rps": round(stats.rate(len(got.timelines), first, last), 3),
        "p95_s": p95,
        "premium_plus_p95_over_lowest": share,
        "meets_third": share is not None and share <= 1 / 3,
        "latency_s": latency,
        # Where the first-served tier still waits (p50 per stage).
        "stages_ms_premium_plus": stats.overhead_report(
            [t for t in got.timelines if t.tier == "premium_plus"], 0.0
        )["stages_ms"],
    }


def _cpu(r: Run) -> dict[str, dict[int, int]]:
    """utime + stime of every process the bench measures, by group."""
    by_pid = {}
    for role, proc in r.cluster.procs.items():
        by_pid[proc.pid] = "generate_worker" if role.startswith("generate") else GROUPS[role]
    groups: dict[str, dict[int, int]] = {g: {} for g in (*by_pid.values(), "postgres", "redis")}
    if r.engine_pids:
        groups["vllm"] = {}
    marker = f" {r.db_name} "
    for pid, pgrp, ticks, cmdline in stats.scan_processes():
        if pid in by_pid:
            groups[by_pid[pid]][pid] = ticks
        elif pgrp in r.engine_pids:
            groups["vllm"][pid] = ticks
        elif cmdline.startswith("postgres:") and marker in cmdline:
            groups["postgres"][pid] = ticks
        elif cmdline.startswith("redis-server"):
            groups["redis"][pid] = ticks
    return groups
