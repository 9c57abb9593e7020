"""Edit chains and quotes: a mention that is a later version of an edited post keeps the
chain's first post id, so the bot answers a chain once; a quote post keeps the id of the
post it quotes, which its answer reads as context.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("edit_root_id", sa.String(length=32), nullable=True))
        batch.create_index(batch.f("ix_mentions_edit_root_id"), ["edit_root_id"])
        batch.add_column(sa.Column("quoted_post_id", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("quoted_post_id")
        batch.drop_index(batch.f("ix_mentions_edit_root_id"))
        batch.drop_column("edit_root_id")
