"""Alembic environment: the URL comes from the caller's config or from mentionbot's settings."""

from __future__ import annotations

from alembic import context
from sqlalchemy import pool

from bot.db.engine import make_engine
from bot.settings import get_settings
from bot.tables import metadata

config = context.config
target_metadata = metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_migrations_offline() -> None:
    """Emit SQL without a connection (`alembic upgrade head --sql`)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Apply migrations over a live connection, batch mode so SQLite can alter tables."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(
            connection=connection, target_metadata=target_metadata, render_as_batch=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url(), poolclass=pool.NullPool)
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # A batch migration copies a table, drops the old one and renames the copy: with
            # foreign keys on, the drop fails once other rows point at the table (the copy
            # keeps every id, nothing dangles). Off for this connection only (never pooled),
            # on the driver's connection: the pragma is a no-op inside a transaction.
            dbapi = conn.connection.dbapi_connection
            assert dbapi is not None
            dbapi.execute("PRAGMA foreign_keys=OFF")
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
