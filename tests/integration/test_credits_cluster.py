"""Pay-per-use with the production processes (sandbox, listener, post worker, beat) on their
own database and Redis prefix: the sandbox answers every X call with 402 CreditsDepleted for
a while. The listener stops reading and the post worker stops posting (a probe every
MENTIONBOT_CREDITS_PROBE_S, not a call per poll or per reply), nothing fails meanwhile, and
once the credits are back every mention sent in the window is read and every waiting reply
is posted, once. The replies are seeded approved: no model is needed."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import func, select

from bot.mentions.schema import Mention
from bot.replies.schema import Reply
from bot.vocab import MentionStatus, ReplyStatus
from tests.faults.pipeline.run import BOT_ID, new_run
from tests.fixtures.factories.platform import bot_replies, numbered_mentions
from tests.fixtures.factories.replies import approved_reply
from tests.fixtures.metrics import metric
from tests.fixtures.services import wait_for

pytestmark = [pytest.mark.integration]

WINDOW_S = 12.0  # long enough to tell a probe every PROBE_S from a call per poll
PROBE_S = 2.0
ROLES = ("listener", "post", "beat")
EXHAUSTED = "mentionbot_platform_credits_exhausted"
DEPLETED = "credits_depleted"


def _statuses(url: str, endpoint: str) -> dict[str, int]:
    stats = httpx.get(f"{url}/sandbox/stats", timeout=10).json()
    found: dict[str, int] = stats["statuses"].get(endpoint, {})
    return found


def test_credits_depleted_parks_everything_and_it_all_goes_once_they_are_back(
    redis_clean: object,
) -> None:
    run = new_run(
        "credits",
        "http://127.0.0.1:9",  # nothing generates here
        "tiny-moe",
        sweep_interval_s="1",
        stuck_after_s="3",
        credits_probe_s=str(PROBE_S),
        poll_interval_s="0.5",
    )
    with run.cluster as cluster:
        cluster.start("sandbox")
        fault = {"endpoint": "*", "credits_depleted": True}
        httpx.post(f"{run.url}/sandbox/faults", json=fault, timeout=10).raise_for_status()
        seeded = [
            approved_reply(run.url, run.db, f"answer {i}", author_id=str(840 + i)) for i in range(3)
        ]
        post_log = cluster.log_path("post")
        logged_before = post_log.stat().st_size if post_log.exists() else 0
        # Credits gone at start-up too: users/me gets a 402, and the processes start anyway.
        started = time.monotonic()
        for role in ROLES:
            cluster.start(role, wait=False)
        for role in ROLES:
            cluster.wait_healthy(role)
        sent = numbered_mentions(run.url, 5, first_author=8400, handle="credits")
        reads_before = _statuses(run.url, "mentions").get("402", 0)
        ports = cluster.ports

        def waiting() -> set[tuple[str, str | None, int]]:
            with run.db() as s:
                replies = s.scalars(select(Reply).where(Reply.id.in_([r for r, _ in seeded])))
                return {(r.status, r.reason, r.attempts) for r in replies}

        def parked() -> bool:
            """The listener has probed since the mentions were sent, every reply waits on
            the 402, and both processes say their credits are exhausted."""
            return (
                _statuses(run.url, "mentions").get("402", 0) > reads_before
                and waiting() == {(ReplyStatus.APPROVED, DEPLETED, 0)}
                and metric(ports["listener"], EXHAUSTED, endpoint="mentions", reason=DEPLETED)
                == metric(ports["post"], EXHAUSTED, endpoint="create", reason=DEPLETED)
                == 1
            )

        wait_for(parked, timeout=60, interval=0.5, what="the listener and the poster parked")
        # The window's length is what the probe count is measured against, not a wait for
        # the processes: it runs from their start, so a slow start-up counts in it.
        left = started + WINDOW_S - time.monotonic()
        if left > 0:
            time.sleep(left)

        with run.db() as s:
            assert (
                s.scalar(
                    select(func.count())
                    .select_from(Mention)
                    .where(Mention.platform_post_id.in_(sent))
                )
                == 0
            )
        assert waiting() == {(ReplyStatus.APPROVED, DEPLETED, 0)}
        assert bot_replies(run.url, BOT_ID) == []
        # A probe every PROBE_S per process, not a call per poll (0.5 s) or per reply.
        reads, posts = _statuses(run.url, "mentions"), _statuses(run.url, "create_tweet")
        probes = (time.monotonic() - started) / PROBE_S + 3
        assert set(reads) == {"402"} and 1 <= reads["402"] <= probes, reads
        assert set(posts) == {"402"} and 1 <= posts["402"] <= probes, posts
        assert metric(ports["listener"], EXHAUSTED, endpoint="mentions", reason=DEPLETED) == 1
        assert metric(ports["post"], EXHAUSTED, endpoint="create", reason=DEPLETED) == 1

        httpx.delete(f"{run.url}/sandbox/faults", timeout=10).raise_for_status()

        def all_done() -> bool:
            with run.db() as s:
                read = s.scalar(
                    select(func.count())
                    .select_from(Mention)
                    .where(Mention.platform_post_id.in_(sent))
                )
                posted = s.scalar(
                    select(func.count())
                    .select_from(Reply)
                    .where(Reply.status == ReplyStatus.POSTED)
                )
            return read == len(sent) and posted == len(seeded)

        wait_for(
            all_done, timeout=60, interval=0.5, what="every mention read and every reply posted"
        )
        with run.db() as s:
            mentions = s.scalars(select(Mention).where(Mention.platform_post_id.in_(sent))).all()
            assert {m.status for m in mentions} == {MentionStatus.QUEUED}  # for the model
            assert (
                s.scalar(
                    select(func.count())
                    .select_from(Reply)
                    .where(Reply.status == ReplyStatus.POST_FAILED)
                )
                == 0
            )
        for _, target in seeded:
            assert len(bot_replies(run.url, BOT_ID, target)) == 1
        assert metric(ports["post"], EXHAUSTED, endpoint="create", reason=DEPLETED) == 0
        assert metric(ports["listener"], EXHAUSTED, endpoint="mentions", reason=DEPLETED) == 0
    # Said once when it began and once when it ended, however many replies waited.
    this_run = post_log.read_bytes()[logged_before:].decode(errors="replace")
    create_lines = [line for line in this_run.splitlines() if '"endpoint": "create"' in line]
    assert sum("x.credits_exhausted" in line for line in create_lines) == 1
    assert sum("x.credits_restored" in line for line in create_lines) == 1
