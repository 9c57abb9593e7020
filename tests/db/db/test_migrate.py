"""Alembic revisions go up, down and up again on real Postgres (and on the demo's SQLite)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect

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
