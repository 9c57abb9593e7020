"""Held replies: what the output checks stopped (a reply reproducing the system prompt) is
kept, never posted, for moderators to see.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 11:40:00
"""

from collections.abc import Sequence

from alembic import op

from bot.db.enum_checks import replace_reply_status_check

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATUSES = (
    "pending_review",
    "approved",
    "rejected",
    "posting",
    "posted",
    "post_failed",
    "shadowed",
    "taken_down",
)
NEW_STATUSES = (*OLD_STATUSES, "held")


def upgrade() -> None:
    replace_reply_status_check(OLD_STATUSES, NEW_STATUSES)


def downgrade() -> None:
    # Held replies were never posted: as far as the older schema knows, they were rejected.
    op.execute("UPDATE replies SET status = 'rejected' WHERE status = 'held'")
    replace_reply_status_check(NEW_STATUSES, OLD_STATUSES)
