"""A reply that goes out as a thread is one item on the dashboard: every part on one page,
and a moderator's edit is fitted into parts again."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session, sessionmaker

from bot.db.engine import transaction
from bot.mentions.ingest import upsert_author
from bot.platform.protocol import Author
from bot.replies.parts import THREAD_JOIN, parts_of, set_parts
from bot.replies.schema import Reply
from bot.vocab import ReplyStatus
from tests.fixtures.dashboard import SignIn
from tests.fixtures.factories.mentions import add_mention
from tests.fixtures.factories.replies import add_reply

PARTS = ["The short answer first. 1/3", "Then the detail. 2/3", "And the source. 3/3"]


def _pending_thread(db: sessionmaker[Session], author_id: str) -> int:
    with transaction(db) as s:
        user = upsert_author(s, Author(author_id, f"u{author_id}", "U", "Basic"))
        mention = add_mention(s, user, text="@mentionbot explain the whole thing", tier="basic")
        reply = add_reply(
            s,
            mention.id,
            THREAD_JOIN.join(PARTS),
            status=ReplyStatus.PENDING_REVIEW,
            approved_at=None,
        )
        set_parts(s, reply.id, PARTS)
        return reply.id


def test_a_thread_is_one_item_with_every_part(
    sign_in: SignIn, committed_db: sessionmaker[Session]
) -> None:
    reply_id = _pending_thread(committed_db, "6201")
    page = sign_in("bob").get(f"/reviews/{reply_id}").text
    assert "a thread of 3 posts" in page
    quoted = re.search(r'id="reply-text">(.*?)</blockquote>', page, re.S)
    assert quoted is not None and all(part in quoted.group(1) for part in PARTS)


def test_a_moderators_edit_of_one_post_replaces_the_parts(
    sign_in: SignIn, committed_db: sessionmaker[Session]
) -> None:
    reply_id = _pending_thread(committed_db, "6202")
    mod = sign_in("bob")
    mod.get(f"/reviews/{reply_id}")
    done = mod.post(f"/reviews/{reply_id}/edit", data={"text": "Just this, in one post."})
    assert done.status_code in (200, 303), done.text
    with committed_db() as s:
        stored = s.get(Reply, reply_id)
        assert stored is not None and stored.status == ReplyStatus.APPROVED
        assert stored.text == "Just this, in one post."
        assert parts_of(s, reply_id) == []
