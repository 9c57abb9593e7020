"""Waits and gaps: when a rate-limited reply may go again, and the part of the mentions
timeline an interrupted poll has not read yet.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 11:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("replies") as batch:
        batch.add_column(sa.Column("wait_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("listener_cursors") as batch:
        batch.add_column(sa.Column("gap_since_id", sa.String(32), nullable=True))
        batch.add_column(sa.Column("gap_until_id", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listener_cursors") as batch:
        batch.drop_column("gap_until_id")
        batch.drop_column("gap_since_id")
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("wait_until")
