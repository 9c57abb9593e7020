"""A migrated, empty database beside the configured one, for benchmarks that write rows."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.engine import URL, make_url

from bot.db import migrate
from bot.db.base import UTCDateTime, utcnow

_SEED_USERS = text(
    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :authors) "
    "INSERT INTO platform_users (platform_id, username, display_name, subscription_type, "
    "first_seen_at, updated_at) "
    "SELECT 'hist-' || n, 'hist' || n, '', 'Premium', :old, :old FROM g"
).bindparams(bindparam("old", type_=UTCDateTime()))
_SEED_MENTIONS = text(
    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :mentions) "
    "INSERT INTO mentions (platform_post_id, author_id, text, conversation_id, decision, "
    "status, tier, priority, posted_at, received_at, queued_at, answered_at) "
    "SELECT 'hist-' || g.n, u.id, 'an old question', 'hist-conv-' || (g.n / 3), 'accepted', "
    "'answered', 'premium', 3, :old, :old, :old, :old "
    "FROM g JOIN platform_users u ON u.platform_id = 'hist-' || (g.n % :authors + 1)"
).bindparams(bindparam("old", type_=UTCDateTime()))


class BenchError(RuntimeError):
    """The benchmark cannot run against this database."""


def is_sqlite(url: str) -> bool:
    """Whether a URL points at SQLite (the benchmark's targets are for Postgres)."""
    return make_url(url).get_backend_name() == "sqlite"


@contextmanager
def scratch_database(url: str) -> Iterator[tuple[str, str]]:
    """A migrated, empty database beside the configured one; (url, name), dropped after."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        directory = tempfile.mkdtemp(prefix="mentionbot-bench-")
        path = Path(directory) / "bench.db"
        try:
            scratch = f"sqlite:///{path}"
            migrate.upgrade(scratch)
            yield scratch, str(path)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if backend != "postgresql":
        raise BenchError(f"unsupported database {backend!r}: the benchmark needs Postgres")
    name = f"mentionbot_bench_{os.getpid()}"
    admin = _admin_conninfo(parsed)
    statement = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(statement)  # a leftover of a killed run that had the same pid
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise BenchError(
            f"cannot create the scratch database {name}: the role needs CREATEDB ({exc})"
        ) from None
    try:
        scratch = parsed.set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(scratch)
        yield scratch, name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(statement)


def _admin_conninfo(parsed: URL) -> str:
    """A libpq URL to run CREATE/DROP DATABASE from: the configured database if it exists
    (it need not be migrated), else the server's `postgres` maintenance database."""
    for database in (parsed.database, "postgres"):
        conninfo = parsed.set(drivername="postgresql", database=database).render_as_string(
            hide_password=False
        )
        try:
            psycopg.connect(conninfo, connect_timeout=10).close()
        except psycopg.OperationalError as exc:
            last = exc
            continue
        return conninfo
    raise BenchError(f"cannot reach the Postgres server of the configured URL: {last}")


def seed_history(engine: Engine, mentions: int, authors: int = 2_000) -> None:
    """Mentions answered days ago, so the tables are the size they are in production (the
    per-conversation and per-author counts must stay cheap as the history grows)."""
    if mentions <= 0:
        return
    params = {"authors": authors, "mentions": mentions, "old": utcnow() - timedelta(days=3)}
    with engine.begin() as conn:
        conn.execute(_SEED_USERS, params)
        conn.execute(_SEED_MENTIONS, params)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
