"""Referenced posts: the posts mentions reply to or quote, kept as the mentions page carried
them expanded, so the generate worker does not fetch them from X again.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "referenced_posts",
        sa.Column("platform_post_id", sa.String(length=32), nullable=False),
        sa.Column("author_id", sa.String(length=32), nullable=True),
        sa.Column("author_username", sa.String(length=64), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("display_start", sa.Integer(), nullable=True),
        sa.Column("in_reply_to_post_id", sa.String(length=32), nullable=True),
        sa.Column(
            "seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("platform_post_id", name=op.f("pk_referenced_posts")),
    )


def downgrade() -> None:
    op.drop_table("referenced_posts")
