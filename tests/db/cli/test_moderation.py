"""`mentionbot moderators|review|posting ...` through the real typer app on the test database;
the tasks they hand on go to real Redis (under this run's prefix)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.db.engine import transaction
from bot.mentions.ingest import upsert_author
from bot.moderation import accounts
from bot.moderation.schema import AuditEntry, Moderator
from bot.platform.protocol import Author
from bot.replies.schema import Reply
from bot.vocab import ReplyStatus
from tests.fixtures.cli import Run, result_json
from tests.fixtures.factories.replies import pending_reply
from tests.fixtures.services import KEY_PREFIX, REDIS_URL, RedisKeys

# A prefix of their own: the session's worker (if running) must not take these tasks.
PREFIX = f"{KEY_PREFIX}cli:"


@pytest.fixture()
def queued(cli: Run, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisKeys]:
    """Commands that send tasks send them to Redis keys nobody consumes."""
    monkeypatch.setenv("MENTIONBOT_BROKER_URL", REDIS_URL)
    monkeypatch.setenv("MENTIONBOT_BROKER_KEY_PREFIX", PREFIX)
    keys = RedisKeys(REDIS_URL, PREFIX)
    keys.clear()
    yield keys
    keys.clear()


def _pending(db: sessionmaker[Session], text: str = "an answer") -> int:
    with transaction(db) as s:
        user = upsert_author(s, Author("6001", "asker", "Asker", "Basic"))
        return pending_reply(s, user, text).id


def _signed_in(db: sessionmaker[Session], name: str) -> str:
    """A dashboard session of `name`'s (the token its cookie would carry)."""
    with transaction(db) as s:
        row = s.scalars(select(Moderator).where(Moderator.name == name)).one()
        account = accounts.Account(row.id, row.name, row.role)
        token = accounts.open_session(s, account, utcnow(), 3600)
        assert accounts.session_account(s, token, utcnow()) == account
        return token


def test_moderators_add_list_reset_remove(cli: Run, committed_db: sessionmaker[Session]) -> None:
    added = cli(
        "moderators",
        "add",
        "alice",
        "--role",
        "admin",
        "--password-stdin",
        input="a long enough passphrase\n",
    )
    assert added.exit_code == 0 and "password" not in added.stdout
    made = cli("moderators", "add", "bob")
    assert made.exit_code == 0 and "password: " in made.stdout  # generated, shown once
    assert [m["name"] for m in result_json(cli("moderators", "list", "--json"))] == ["alice", "bob"]
    short = cli("moderators", "add", "carol", "--password-stdin", input="short\n")
    assert short.exit_code == 2 and "--password must be at least 12" in short.stderr
    taken = cli("moderators", "add", "alice", "--password-stdin", input="another long one\n")
    assert taken.exit_code == 2 and "taken" in taken.stderr
    token = _signed_in(committed_db, "bob")
    assert cli("moderators", "reset-password", "bob").exit_code == 0
    with committed_db() as s:
        assert accounts.session_account(s, token, utcnow()) is None  # the reset ended it
    token = _signed_in(committed_db, "bob")
    assert cli("moderators", "remove", "bob").exit_code == 0
    with committed_db() as s:
        bob = s.scalars(select(Moderator).where(Moderator.name == "bob")).one()
        assert bob.removed_at is not None
        assert accounts.session_account(s, token, utcnow()) is None  # so did the removal
    assert [m["name"] for m in result_json(cli("moderators", "list", "--json"))] == ["alice"]
    assert cli("moderators", "remove", "bob").exit_code == 2


def test_review_list_approve_reject(
    cli: Run, committed_db: sessionmaker[Session], queued: RedisKeys
) -> None:
    first, second = _pending(committed_db, "first"), _pending(committed_db, "second")
    listed = result_json(cli("review", "list", "--json"))
    assert listed["total"] == 2 and [i["reply_id"] for i in listed["items"]] == [first, second]
    assert cli("review", "approve", str(first), "--actor", "ops").exit_code == 0
    # The approved reply went to the post queue (a real message in Redis).
    messages = list(queued.client.scan_iter(match=f"{PREFIX}*"))
    assert messages, "no task reached Redis"
    rejected = cli("review", "reject", str(second), "--reason", "off topic", "--actor", "ops")
    assert rejected.exit_code == 0
    again = cli("review", "approve", str(second))
    assert again.exit_code == 2 and "no longer waiting" in again.stderr
    with committed_db() as s:
        statuses = [s.get(Reply, i).status for i in (first, second)]  # type: ignore[union-attr]
        actions = list(s.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert statuses == [ReplyStatus.APPROVED, ReplyStatus.REJECTED]
    assert actions == ["approve", "reject"]


def test_posting_pause_status_resume(cli: Run, queued: RedisKeys) -> None:
    assert json.loads(cli("posting", "status", "--json").stdout)["paused"] is False
    assert cli("posting", "pause", "--reason", "incident", "--actor", "ops").exit_code == 0
    state = result_json(cli("posting", "status", "--json"))
    assert (state["paused"], state["changed_by"], state["reason"]) == (True, "ops", "incident")
    resumed = cli("posting", "resume", "--actor", "ops")
    assert resumed.exit_code == 0 and "resumed" in resumed.stdout
    assert result_json(cli("posting", "status", "--json"))["paused"] is False
