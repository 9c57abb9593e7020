"""Index mentions by conversation: the thread cap and loop checks count by it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 14:50:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.create_index(batch.f("ix_mentions_conversation_id"), ["conversation_id"])


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.drop_index(batch.f("ix_mentions_conversation_id"))
