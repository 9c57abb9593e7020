"""Dialect helpers for the few statements Postgres and SQLite spell differently."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_for(session: Session, table: Any) -> Any:
    """An INSERT that supports on_conflict_* on the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"unsupported database dialect: {name}")


def hour_bucket(session: Session, column: Any) -> Any:
    """An expression truncating a timestamp column to its UTC hour, as text ("YYYY-MM-DD HH")."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return func.to_char(
            func.date_trunc("hour", func.timezone("UTC", column)), "YYYY-MM-DD HH24"
        )
    if name == "sqlite":
        return func.strftime("%Y-%m-%d %H", column)
    raise NotImplementedError(f"unsupported database dialect: {name}")


def day_bucket(session: Session, column: Any) -> Any:
    """An expression truncating a timestamp column to its UTC day, as text ("YYYY-MM-DD")."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    if name == "sqlite":
        return func.strftime("%Y-%m-%d", column)
    raise NotImplementedError(f"unsupported database dialect: {name}")
