"""A post worker SIGKILLed between two parts of a thread: X has the part it was posting,
the database does not; after a restart and the sweeper's re-send, each part is on X
exactly once, each in reply to the one before.

The production processes (sandbox, post worker, beat) on their own database and Redis
prefix; the sandbox stores each post at once and answers 4 s later, and the kill lands in
that window of the second part: the worker is frozen (SIGSTOP) once part 2 is on X, the
state is read again, and only then is it killed."""

from __future__ import annotations

import httpx
import pytest

from bot.replies.parts import THREAD_JOIN, parts_of, set_parts
from bot.replies.schema import Reply
from bot.vocab import ReplyStatus
from tests.faults.pipeline.run import BOT_ID, kill_in_state, new_run
from tests.fixtures.factories.platform import sandbox_posts
from tests.fixtures.factories.replies import approved_reply
from tests.fixtures.services import wait_for

pytestmark = [pytest.mark.integration]

PARTS = ["The short answer first. 1/3", "Then the detail. 2/3", "And the source. 3/3"]


def test_a_post_worker_killed_between_parts_leaves_one_copy_of_each(
    redis_clean: object,
) -> None:
    # Nothing here generates: an address nothing listens on stands for the model server.
    run = new_run(
        "threadcrash",
        "http://127.0.0.1:9",
        "tiny-moe",
        thread_max_posts="3",
        sweep_interval_s="1",
        stuck_after_s="6",
    )
    with run.cluster as cluster:
        cluster.start_all(("sandbox", "post", "beat"))
        hold = {"endpoint": "create_tweet", "hold_ms": 4000}
        httpx.post(f"{run.url}/sandbox/faults", json=hold, timeout=10).raise_for_status()
        reply_id, target = approved_reply(run.url, run.db, text=THREAD_JOIN.join(PARTS))
        with run.db.begin() as s:
            set_parts(s, reply_id, PARTS)

        def second_part_on_x_unrecorded() -> bool:
            with run.db() as s:
                known = [p.platform_post_id for p in parts_of(s, reply_id)]
            on_x = sandbox_posts(run.url, author_id=BOT_ID)
            return known[0] is not None and known[1] is None and len(on_x) == 2

        # The sweeper sends the approved reply (stuck_after_s), the worker posts part 1.
        kill_in_state(cluster, "post", second_part_on_x_unrecorded, "part 2 on X, not recorded")
        httpx.delete(f"{run.url}/sandbox/faults", timeout=10).raise_for_status()
        cluster.start("post")

        def posted() -> bool:
            with run.db() as s:
                reply = s.get(Reply, reply_id)
                return reply is not None and reply.status == ReplyStatus.POSTED

        wait_for(posted, timeout=90, interval=0.5, what="the thread posted after the restart")
        on_x = sandbox_posts(run.url, author_id=BOT_ID)
        with run.db() as s:
            recorded = [p.platform_post_id for p in parts_of(s, reply_id)]
            reply = s.get(Reply, reply_id)
            assert reply is not None and reply.platform_post_id == recorded[0]
    assert len(on_x) == 3, [p["text"] for p in on_x]
    by_parent = {p["in_reply_to"]: p for p in on_x}
    chain, parent = [], target
    while parent in by_parent:
        chain.append(by_parent[parent])
        parent = by_parent[parent]["id"]
    assert [p["text"] for p in chain] == PARTS
    assert [p["id"] for p in chain] == recorded
