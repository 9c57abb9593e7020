"""The demo's SQLite, as make_engine opens it: WAL (readers and the one writer do not block
each other at the file level) and a busy timeout (a connection waits for the lock instead
of failing at once), on every connection of the pool."""

from __future__ import annotations

from pathlib import Path

from bot.db.engine import make_engine


def test_every_connection_is_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'demo.db'}")
    # DBAPI connections: a SQLAlchemy one would BEGIN IMMEDIATE, and the second would wait.
    connections = [engine.raw_connection() for _ in range(2)]
    try:
        for conn in connections:
            cursor = conn.cursor()
            assert cursor.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert cursor.execute("PRAGMA busy_timeout").fetchone() == (30_000,)
            cursor.close()
    finally:
        for conn in connections:
            conn.close()
        engine.dispose()
