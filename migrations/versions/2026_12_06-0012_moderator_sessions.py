"""Moderator sessions kept on the server: signing out, a password reset and a removal end
them. The cookie carries a random token and the table its SHA-256; the session epoch on
moderators, which only a reset or a removal could bump, goes. Sessions from before this
revision carried no token: their moderators sign in again.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "moderator_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("moderator_id", sa.Integer(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["moderator_id"],
            ["moderators.id"],
            name=op.f("fk_moderator_sessions_moderator_id_moderators"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderator_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_moderator_sessions_token_hash")),
    )
    op.create_index(
        op.f("ix_moderator_sessions_moderator_id"), "moderator_sessions", ["moderator_id"]
    )
    with op.batch_alter_table("moderators") as batch:
        batch.drop_column("session_epoch")


def downgrade() -> None:
    with op.batch_alter_table("moderators") as batch:
        batch.add_column(
            sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False)
        )
    op.drop_index(op.f("ix_moderator_sessions_moderator_id"), table_name="moderator_sessions")
    op.drop_table("moderator_sessions")
