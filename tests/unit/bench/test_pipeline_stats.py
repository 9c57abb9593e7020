"""The pipeline bench's arithmetic: percentiles, a mention's stages, CPU accounting."""

from __future__ import annotations

import pytest

from bot.bench import pipeline_stats as stats
from bot.bench.pipeline_load import MENTIONS_PER_AUTHOR, plan


def _timeline(
    tier: str = "premium", offset: float = 0.0, polled: float | None = 1.05
) -> stats.Timeline:
    # posted 0, read at 1.0, sent at 1.05, claimed 1.10, prompt ready 1.13, stored 1.63
    # (0.5 s generating), post claimed 1.70, posted 1.72.
    return stats.Timeline(
        tier=tier,
        posted=0.0 + offset,
        received=1.0 + offset,
        polled=None if polled is None else polled + offset,
        generating=1.10 + offset,
        reply_created=1.63 + offset,
        generation_s=0.5,
        posting=1.70 + offset,
        replied=1.72 + offset,
    )


def test_percentile_interpolates_between_ranks_like_numpy() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert stats.percentile(values, 0.0) == 1.0
    assert stats.percentile(values, 1.0) == 4.0
    assert stats.percentile(values, 0.5) == pytest.approx(2.5)
    assert stats.percentile(values, 0.99) == pytest.approx(3.97)
    assert stats.percentile([7.0], 0.95) == 7.0
    with pytest.raises(ValueError):
        stats.percentile([], 0.5)


def test_summary_counts_and_rounds() -> None:
    assert stats.summary([]) == {"n": 0}
    out = stats.summary([float(i) for i in range(101)])
    assert out == {"n": 101, "p50": 50.0, "p95": 95.0, "p99": 99.0}


def test_stages_add_up_to_the_latency() -> None:
    t = _timeline()
    stages = t.stages()
    assert list(stages) == list(stats.STAGES)
    assert sum(stages.values()) == pytest.approx(t.latency_s) == pytest.approx(1.72)
    assert stages["poll_wait"] == pytest.approx(1.0)
    assert stages["listener_ingest"] == pytest.approx(0.05)
    assert stages["queue_wait"] == pytest.approx(0.05)
    assert stages["claim_prompt"] == pytest.approx(0.03)
    assert stages["generation"] == pytest.approx(0.5)
    assert stages["handoff"] == pytest.approx(0.07)
    assert stages["x_call"] == pytest.approx(0.02)


def test_without_the_listeners_log_its_time_counts_as_queue_wait() -> None:
    stages = _timeline(polled=None).stages()
    assert stages["listener_ingest"] == 0.0
    assert stages["queue_wait"] == pytest.approx(0.10)


def test_overhead_leaves_out_the_poll_wait_the_generation_and_the_platform() -> None:
    t = _timeline()
    assert t.overhead_s() == pytest.approx(0.22)
    assert t.overhead_s(platform_s=0.01) == pytest.approx(0.21)
    report = stats.overhead_report([t, _timeline(offset=5.0)], platform_s=0.01)
    assert report["overhead_p50_ms"] == pytest.approx(210.0)
    assert report["overhead_p99_ms"] == pytest.approx(210.0)
    stages = report["stages_ms"]
    assert isinstance(stages, dict)
    assert stages["x_call"]["p50"] == pytest.approx(10.0)  # 20 ms minus the platform's 10
    assert stages["poll_wait"]["share"] is None and stages["generation"]["share"] is None
    shares = [v["share"] for v in stages.values() if v["share"] is not None]
    assert sum(shares) == pytest.approx(1.0, abs=0.01)
    assert stats.overhead_report([], 0.0)["overhead_p50_ms"] is None


def test_latency_by_tier_has_every_tier_and_all() -> None:
    out = stats.latency_by_tier([_timeline("premium"), _timeline("premium_plus")])
    assert set(out) == {"all", "premium", "premium_plus"}
    assert out["all"]["n"] == 2 and out["premium"]["p95"] == pytest.approx(1.72)


def test_rate() -> None:
    assert stats.rate(10, 1.0, 3.0) == 5.0
    assert stats.rate(10, 3.0, 3.0) == 0.0


def test_cpu_deltas_per_group() -> None:
    before = {"listener": {10: 100}, "postgres": {20: 50, 21: 70}}
    # 21 ended meanwhile (lost), 22 started meanwhile (all its ticks count).
    after = {"listener": {10: 160}, "postgres": {20: 80, 22: 10}, "redis": {30: 5}}
    assert stats.cpu_deltas(before, after, hz=100) == {
        "listener": 0.6,
        "postgres": 0.4,
        "redis": 0.05,
    }


def test_a_reused_pid_with_fewer_ticks_is_not_a_negative_delta() -> None:
    assert stats.cpu_deltas({"g": {5: 900}}, {"g": {5: 10}}, hz=100) == {"g": 0.0}


def test_per_reply_totals_the_pipeline_without_the_engine_and_the_sandbox() -> None:
    cpu = {"listener": 1.0, "generate_worker": 2.0, "vllm": 50.0, "sandbox": 3.0}
    out = stats.per_reply(cpu, 100)
    assert out["listener"] == 0.01 and out["vllm"] == 0.5
    assert out["pipeline_total"] == 0.03
    assert stats.per_reply(cpu, 0) == {}


def test_parse_stat_reads_pgrp_and_ticks_past_a_command_with_spaces() -> None:
    line = "1234 (python -m (bot)) S 1 1200 1200 0 -1 4194560 10 0 0 0 300 45 0 0 20 0 4 0"
    assert stats.parse_stat(line) == (1200, 345)


def test_machine_says_what_it_ran_on() -> None:
    found = stats.machine()
    assert isinstance(found["cores"], int) and found["cores"] >= 1
    assert {"cpu_model", "ram_gb"} <= set(found)


def test_plan_keeps_every_author_under_its_hourly_quota_in_one_tier() -> None:
    mentions = plan(500, phase=1)
    by_author: dict[str, set[str]] = {}
    counts: dict[str, int] = {}
    for m in mentions:
        by_author.setdefault(m.author_id, set()).add(m.tier)
        counts[m.author_id] = counts.get(m.author_id, 0) + 1
    assert all(len(tiers) == 1 for tiers in by_author.values())
    assert max(counts.values()) <= MENTIONS_PER_AUTHOR
    assert {m.tier for m in mentions} == {"premium_plus", "premium"}
    # another phase, other authors (each phase's quota is its own)
    assert not {m.author_id for m in plan(50, phase=2)} & set(by_author)
    assert mentions[1].threaded and mentions[1].stored_text().startswith("@news_desk @mentionbot")
    assert not mentions[0].threaded and mentions[0].stored_text() == mentions[0].text
