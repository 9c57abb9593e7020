"""Subscriber tiers, operator overrides, rate counters; tier defaults modelled on @grok.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# {username} makes each upsell unique: X refuses a second post with the same text.
UPSELL = (
    "Thanks for the mention, {username}! Answers are for Premium subscribers: subscribe to "
    "get replies from this account."
)


def upgrade() -> None:
    policies = op.create_table(
        "tier_policies",
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("replies_per_hour", sa.Integer(), nullable=False),
        sa.Column("replies_per_day", sa.Integer(), nullable=False),
        sa.Column("max_output_tokens", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("moderation", sa.String(8), nullable=False),
        sa.Column("upsell_text", sa.Text(), nullable=True),
        sa.Column("upsell_every_days", sa.Integer(), server_default="30", nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("tier", name=op.f("pk_tier_policies")),
    )
    op.create_table(
        "tier_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(8), nullable=False),
        sa.Column("tier", sa.String(20), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("actor", sa.String(64), server_default="operator", nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["platform_users.id"],
            name=op.f("fk_tier_overrides_user_id_platform_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tier_overrides")),
    )
    with op.batch_alter_table("tier_overrides") as batch:
        batch.create_index(batch.f("ix_tier_overrides_user_id"), ["user_id"], unique=False)
    op.create_table(
        "rate_counters",
        sa.Column("key", sa.String(80), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", "window_start", name=op.f("pk_rate_counters")),
    )
    with op.batch_alter_table("platform_users") as batch:
        batch.add_column(sa.Column("last_upsell_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("cooldown_until", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("tier", sa.String(20), nullable=True))
        batch.add_column(sa.Column("priority", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("quota_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("replies") as batch:
        batch.add_column(
            sa.Column("moderation", sa.String(8), server_default="auto", nullable=False)
        )
    # Modelled on @grok: paying tiers answered within a quota, the rest offered an upsell.
    op.bulk_insert(
        policies,
        [
            {
                "tier": "premium_plus",
                "answered": True,
                "replies_per_hour": 50,
                "replies_per_day": 300,
                "max_output_tokens": 256,
                "priority": 0,
                "moderation": "post",
                "upsell_text": None,
                "upsell_every_days": 30,
            },
            {
                "tier": "premium",
                "answered": True,
                "replies_per_hour": 10,
                "replies_per_day": 50,
                "max_output_tokens": 160,
                "priority": 3,
                "moderation": "post",
                "upsell_text": None,
                "upsell_every_days": 30,
            },
            {
                "tier": "basic",
                "answered": False,
                "replies_per_hour": 0,
                "replies_per_day": 0,
                "max_output_tokens": 96,
                "priority": 6,
                "moderation": "pre",
                "upsell_text": UPSELL,
                "upsell_every_days": 30,
            },
            {
                "tier": "none",
                "answered": False,
                "replies_per_hour": 0,
                "replies_per_day": 0,
                "max_output_tokens": 96,
                "priority": 9,
                "moderation": "pre",
                "upsell_text": UPSELL,
                "upsell_every_days": 30,
            },
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("replies") as batch:
        batch.drop_column("moderation")
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("quota_at")
        batch.drop_column("priority")
        batch.drop_column("tier")
    with op.batch_alter_table("platform_users") as batch:
        batch.drop_column("cooldown_until")
        batch.drop_column("last_upsell_at")
    op.drop_table("rate_counters")
    with op.batch_alter_table("tier_overrides") as batch:
        batch.drop_index(batch.f("ix_tier_overrides_user_id"))
    op.drop_table("tier_overrides")
    op.drop_table("tier_policies")
