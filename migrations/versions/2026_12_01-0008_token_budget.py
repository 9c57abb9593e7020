"""Token budgets: the prompt + completion tokens a tier may spend per UTC day (0: no budget),
counted in rate_counters like the quotas.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tier_policies") as batch:
        batch.add_column(
            sa.Column("daily_token_budget", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    # The counters (keys tier:{tier}:tokens) are ordinary rate_counters rows: left as they are.
    with op.batch_alter_table("tier_policies") as batch:
        batch.drop_column("daily_token_budget")
