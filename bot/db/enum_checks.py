"""For migrations: change the values a status column allows.

Statuses are stored by value as VARCHAR with a CHECK constraint (SQLAlchemy's non-native
Enum), so a new status means a new constraint.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


def replace_reply_status_check(old: tuple[str, ...], new: tuple[str, ...]) -> None:
    """Swap the CHECK constraint on replies.status from the `old` values to the `new` ones."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(op.f("ck_replies_reply_status"), "replies", type_="check")
        allowed = ", ".join(f"'{v}'" for v in new)
        op.create_check_constraint(
            op.f("ck_replies_reply_status"), "replies", f"status IN ({allowed})"
        )
        return
    # SQLite cannot alter a constraint: batch mode copies the table with the new type.
    with op.batch_alter_table("replies", recreate="always") as batch:
        batch.alter_column(
            "status", type_=_status_type(new), existing_type=_status_type(old), nullable=False
        )


def _status_type(values: tuple[str, ...]) -> sa.Enum:
    return sa.Enum(
        *values, name="reply_status", native_enum=False, create_constraint=True, length=20
    )
