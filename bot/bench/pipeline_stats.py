"""The pipeline benchmark's arithmetic: percentiles, a mention's stages, CPU accounting.

Pure functions over plain numbers (no I/O but the /proc readers at the end), so the unit
tests can check every figure the bench prints.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The stages of a mention's life the bench reports, in order. poll_wait (posted on X until
# the listener read it, the page fetch included) and generation (the model's own time) are
# not the pipeline's overhead; neither is the platform's own response time inside x_call.
STAGES = (
    "poll_wait",
    "listener_ingest",
    "queue_wait",
    "claim_prompt",
    "generation",
    "handoff",
    "x_call",
)
NOT_OVERHEAD = ("poll_wait", "generation")


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th quantile (0..1) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float], digits: int = 3) -> dict[str, float | int]:
    """p50/p95/p99 (and the count) of some values, rounded."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        **{f"p{q}": round(percentile(values, q / 100), digits) for q in (50, 95, 99)},
    }


@dataclass(frozen=True)
class Timeline:
    """One mention's moments, in seconds on one clock (epoch), as the rows and logs say."""

    tier: str
    posted: float  # on X (the post id's Snowflake time)
    received: float  # the listener's ingest began (Mention.received_at)
    polled: float | None  # the listener had committed and sent its tasks (its log line)
    generating: float  # the generate worker claimed it (Mention.generating_at)
    reply_created: float  # the reply was stored (Reply.created_at)
    generation_s: float  # from the prompt ready to the reply stored (Reply.generation_s)
    posting: float  # the post worker claimed the reply (Reply.posting_at)
    replied: float  # the X call returned and the reply was marked posted (Reply.posted_at)

    @property
    def latency_s(self) -> float:
        """Mention to reply, as the user sees it (to the moment the reply is posted)."""
        return self.replied - self.posted

    def stages(self) -> dict[str, float]:
        """Each stage's seconds; they add up to latency_s (listener_ingest is 0 when the
        listener's log did not say when it sent, and counted in queue_wait)."""
        sent = self.polled if self.polled is not None else self.received
        generation_began = self.reply_created - self.generation_s
        return {
            "poll_wait": self.received - self.posted,
            "listener_ingest": sent - self.received,
            "queue_wait": self.generating - sent,
            "claim_prompt": generation_began - self.generating,
            "generation": self.generation_s,
            "handoff": self.posting - self.reply_created,
            "x_call": self.replied - self.posting,
        }

    def overhead_s(self, platform_s: float = 0.0) -> float:
        """The pipeline's own time: the latency minus the poll wait, the generation and the
        platform's own response time (`platform_s`, measured apart)."""
        stages = self.stages()
        return self.latency_s - sum(stages[s] for s in NOT_OVERHEAD) - platform_s


def overhead_report(timelines: Sequence[Timeline], platform_s: float) -> dict[str, object]:
    """overhead_p50_ms / overhead_p99_ms and each stage's p50, mean and share of the mean
    overhead (x_call with the platform's own time taken out)."""
    if not timelines:
        return {"overhead_p50_ms": None, "overhead_p99_ms": None, "stages_ms": {}}
    overheads = [t.overhead_s(platform_s) * 1000 for t in timelines]
    per_stage: dict[str, list[float]] = {s: [] for s in STAGES}
    for t in timelines:
        for name, seconds in t.stages().items():
            per_stage[name].append(seconds * 1000)
    per_stage["x_call"] = [v - platform_s * 1000 for v in per_stage["x_call"]]
    mean_overhead = sum(overheads) / len(overheads)
    stages: dict[str, dict[str, float | None]] = {}
    for name, values in per_stage.items():
        mean = sum(values) / len(values)
        share = mean / mean_overhead if name not in NOT_OVERHEAD and mean_overhead else None
        stages[name] = {
            "p50": round(percentile(values, 0.5), 1),
            "mean": round(mean, 1),
            "share": round(share, 3) if share is not None else None,
        }
    return {
        "overhead_p50_ms": round(percentile(overheads, 0.5), 1),
        "overhead_p99_ms": round(percentile(overheads, 0.99), 1),
        "platform_ms": round(platform_s * 1000, 1),
        "stages_ms": stages,
    }


def latency_by_tier(timelines: Iterable[Timeline]) -> dict[str, dict[str, float | int]]:
    """Mention-to-reply p50/p95/p99 in seconds, for all mentions and for each tier."""
    found: dict[str, list[float]] = {"all": []}
    for t in timelines:
        found["all"].append(t.latency_s)
        found.setdefault(t.tier, []).append(t.latency_s)
    return {tier: summary(values) for tier, values in found.items()}


def rate(count: int, first: float, last: float) -> float:
    """count per second between two moments (0 when there is no interval)."""
    return count / (last - first) if last > first else 0.0


# CPU accounting: /proc/<pid>/stat utime + stime, in clock ticks, summed over a group of
# processes (a role's one process, Postgres's backends for the bench's database, vLLM's
# server and engine core).

CpuSnapshot = Mapping[str, Mapping[int, int]]  # group -> pid -> ticks


def cpu_deltas(before: CpuSnapshot, after: CpuSnapshot, hz: int) -> dict[str, float]:
    """CPU seconds each group spent between two snapshots: a process seen in both counts its
    difference, one that appeared meanwhile counts all its ticks (it started inside the
    window), one that ended meanwhile is lost (its last ticks were never read)."""
    out: dict[str, float] = {}
    for group, now in after.items():
        then = before.get(group, {})
        ticks = sum(t - then.get(pid, 0) for pid, t in now.items() if t >= then.get(pid, 0))
        out[group] = ticks / hz
    return out


def per_reply(cpu_s: Mapping[str, float], replies: int, digits: int = 4) -> dict[str, float]:
    """CPU seconds per reply, per group, plus the pipeline's own total (outside vLLM and the
    sandbox, which plays X)."""
    if replies <= 0:
        return {}
    out = {group: round(s / replies, digits) for group, s in cpu_s.items()}
    own = sum(s for g, s in cpu_s.items() if g not in ("vllm", "sandbox"))
    out["pipeline_total"] = round(own / replies, digits)
    return out


def parse_stat(text: str) -> tuple[int, int]:
    """(process group, utime + stime ticks) from a /proc/<pid>/stat line."""
    fields = text.rsplit(")", 1)[1].split()  # after the command, which may hold spaces
    # fields[0] is field 3 (state); pgrp is field 5, utime 14, stime 15.
    return int(fields[2]), int(fields[11]) + int(fields[12])


def process_ticks(pid: int) -> int | None:
    """utime + stime of one process, None if it is gone."""
    try:
        return parse_stat(Path(f"/proc/{pid}/stat").read_text())[1]
    except (OSError, IndexError, ValueError):
        return None


def scan_processes() -> Iterable[tuple[int, int, int, str]]:
    """(pid, pgrp, ticks, cmdline) of every process readable now."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pgrp, ticks = parse_stat(stat.read_text())
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
        yield int(stat.parent.name), pgrp, ticks, cmdline


def machine() -> dict[str, object]:
    """Cores, CPU model and RAM of this machine."""
    model = ""
    ram_gb = 0.0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram_gb = int(line.split()[1]) / 1024 / 1024
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        # platform.processor() runs `uname -p` on Linux: asked only where /proc says nothing.
        "cpu_model": model or platform.processor(),
        "ram_gb": round(ram_gb, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
