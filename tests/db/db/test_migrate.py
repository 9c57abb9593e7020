"""Alembic revisions go up, down and up again on real Postgres (and on the demo's SQLite)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text

from bot.db import migrate
from bot.db.engine import make_engine
from bot.tables import metadata
from tests.fixtures.db import recreate_database


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def _cycle(url: str) -> None:
    migrate.upgrade(url)
    assert _tables(url) == set(metadata.tables)
    migrate.downgrade(url, "base")
    assert _tables(url) == set()
    migrate.upgrade(url)
    assert _tables(url) == set(metadata.tables)


def test_upgrade_downgrade_upgrade_on_postgres() -> None:
    _cycle(recreate_database("mentionbot_migrations_test"))


def test_upgrade_downgrade_upgrade_on_sqlite(tmp_path: Path) -> None:
    _cycle(f"sqlite:///{tmp_path / 'm.db'}")


def test_schema_matches_the_models(pg_url: str) -> None:
    """Autogenerate against the migrated database finds nothing to change."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = make_engine(pg_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
    finally:
        engine.dispose()
    assert diff == []


# {post id: (status, reason before 0013, decision and reason after it)}
OLD_MENTIONS = {
    "queued": ("queued", "accepted", "accepted", None),
    "generating": ("generating", "accepted", "accepted", None),
    "answered": ("answered", "answered", "accepted", None),
    "upsold": ("answered", "upsell", "upsell", None),
    "ignored": ("ignored", "not_subscribed", "not_subscribed", None),
    "hostile": ("ignored", "too_long", "too_long", None),
    "no_room": ("failed", "too_long", "accepted", "too_long"),
    "failed": ("failed", "llm_rejected", "accepted", "llm_rejected"),
}
# {mention post id: (status, reason before 0013, reason after it)}
OLD_REPLIES = {
    "answered": ("posted", "posted", None),
    "queued": ("posted", "reconciled", "reconciled"),
    "generating": ("taken_down", "taken_down", None),
    "upsold": ("shadowed", "shadow", None),
    "failed": ("post_failed", "target_gone", "target_gone"),
    "no_room": ("approved", "waiting_budget", "waiting_budget"),
}


def _seed_0012(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO platform_users (platform_id, username) VALUES ('1', 'u')")
            )
            for post_id, (status, reason, _, _) in OLD_MENTIONS.items():
                conn.execute(
                    text(
                        "INSERT INTO mentions (platform_post_id, author_id, text, status, reason) "
                        "SELECT :p, id, 'q', :s, :r FROM platform_users"
                    ),
                    {"p": post_id, "s": status, "r": reason},
                )
            for post_id, (status, reason, _) in OLD_REPLIES.items():
                conn.execute(
                    text(
                        "INSERT INTO replies (mention_id, text, status, reason, model) "
                        "SELECT id, 'a', :s, :r, 'm' FROM mentions WHERE platform_post_id = :p"
                    ),
                    {"p": post_id, "s": status, "r": reason},
                )
    finally:
        engine.dispose()


def _read(url: str, decision: bool) -> tuple[dict[str, tuple[Any, ...]], dict[str, Any]]:
    """{post id: (decision, reason) or (reason,)} of the mentions, {post id: reason} of the
    replies."""
    mentions = (
        "SELECT platform_post_id, decision, reason FROM mentions"
        if decision
        else "SELECT platform_post_id, reason FROM mentions"
    )
    replies = (
        "SELECT m.platform_post_id, r.reason FROM replies r JOIN mentions m ON m.id = r.mention_id"
    )
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return (
                {row[0]: tuple(row[1:]) for row in conn.execute(text(mentions))},
                {post_id: reason for post_id, reason in conn.execute(text(replies)).tuples()},
            )
    finally:
        engine.dispose()


def _backfill(url: str) -> None:
    migrate.upgrade(url, "0012")
    _seed_0012(url)
    migrate.upgrade(url, "0013")
    mentions, replies = _read(url, decision=True)
    assert mentions == {p: (d, r) for p, (_, _, d, r) in OLD_MENTIONS.items()}
    assert replies == {p: r for p, (_, _, r) in OLD_REPLIES.items()}
    # And back: the old codes again, as the code before 0013 wrote them.
    migrate.downgrade(url, "0012")
    mentions, replies = _read(url, decision=False)
    assert mentions == {p: (r,) for p, (_, r, _, _) in OLD_MENTIONS.items()}
    assert replies == {p: r for p, (_, r, _) in OLD_REPLIES.items()}


def test_0013_backfills_decisions_and_drops_status_copies_on_postgres() -> None:
    _backfill(recreate_database(f"mentionbot_backfill_{os.getpid()}"))


def test_0013_backfills_decisions_and_drops_status_copies_on_sqlite(tmp_path: Path) -> None:
    _backfill(f"sqlite:///{tmp_path / 'b.db'}")
