"""The listener's decision in a column of its own, reasons without copies of statuses, and
the vocabulary's columns checked against their enums.

A mention's `reason` held the listener's decision until the mention was answered, when
"answered" overwrote it; the stats and the thread cap had to undo that. Now:
- `mentions.decision` holds what the listener decided, stored once. Existing rows get it
  from their reason: an ignored mention's reason and an upsell were the decision; every other
  mention (queued, generating, answered, failed) was accepted first.
- `mentions.reason` says why a mention failed, and nothing else (an ignored mention's why is
  its decision): it is cleared on every mention that did not fail.
- `replies.reason` loses the copies of statuses: "posted", "taken_down" and "shadow" become
  NULL (the status says it); "reconciled", "thread_cut", the waits and the failures stay.
- Decisions, reasons, moderation modes, tiers and override actions are stored by value with
  a CHECK of the values their enum allows (bot.db.base.enum_column), widths unchanged.
  `mentions.tier` is left unchecked: it may hold "blocked", which is not a tier.

The downgrade writes the old codes back (an answered mention's reason is "answered" again,
the others get their decision; posted, taken-down and shadowed replies get their status).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 12:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The values as of this revision (a migration must not follow bot.vocab as it changes).
DECISIONS = (
    "accepted",
    "own_post",
    "repost",
    "edited_after_reply",
    "replies_restricted",
    "unknown_author",
    "empty",
    "too_long",
    "blocked",
    "spam",
    "loop",
    "not_subscribed",
    "upsell",
    "thread_cap",
    "token_budget",
    "quota_hour",
    "quota_day",
)
REASONS = (
    "llm_rejected",
    "empty_output",
    "refusal",
    "persona_leak",
    "unknown_tier",
    "too_long",
    "reconciled",
    "thread_cut",
    "waiting_budget",
    "posting_paused",
    "rate_limited",
    "credits_depleted",
    "usage_capped",
    "duplicate_content",
    "platform_refused",
    "target_gone",
    "replies_restricted",
    "moderator_rejected",
    "review_expired",
    "too_old",
    "stuck",
    "retries_exhausted",
    "internal_error",
)
MODERATION = ("pre", "post", "auto", "shadow")
TIERS = ("none", "basic", "premium", "premium_plus")
OVERRIDE_ACTIONS = ("grant", "block")

# (table, constraint name as the models' naming convention makes it, column, values)
CHECKS = (
    ("mentions", "ck_mentions_mention_decision", "decision", DECISIONS),
    ("mentions", "ck_mentions_mention_reason", "reason", REASONS),
    ("replies", "ck_replies_reply_reason", "reason", REASONS),
    ("replies", "ck_replies_moderation", "moderation", MODERATION),
    ("tier_policies", "ck_tier_policies_tier", "tier", TIERS),
    ("tier_policies", "ck_tier_policies_moderation", "moderation", MODERATION),
    ("tier_overrides", "ck_tier_overrides_override_action", "action", OVERRIDE_ACTIONS),
    ("tier_overrides", "ck_tier_overrides_tier", "tier", TIERS),
)


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    with op.batch_alter_table("mentions") as batch:
        batch.add_column(sa.Column("decision", sa.String(length=20), nullable=True))
    op.execute(
        "UPDATE mentions SET decision = CASE"
        " WHEN status = 'ignored' OR (status = 'answered' AND reason = 'upsell') THEN reason"
        " ELSE 'accepted' END"
    )
    op.execute("UPDATE mentions SET reason = NULL WHERE status <> 'failed'")
    op.execute(
        "UPDATE replies SET reason = NULL WHERE reason IN ('posted', 'taken_down', 'shadow')"
    )
    with op.batch_alter_table("mentions") as batch:
        batch.alter_column("decision", existing_type=sa.String(length=20), nullable=False)
    for table in ("mentions", "replies", "tier_policies", "tier_overrides"):
        with op.batch_alter_table(table) as batch:
            for name, column, values in ((n, c, v) for t, n, c, v in CHECKS if t == table):
                batch.create_check_constraint(op.f(name), f"{column} IN ({_listed(values)})")


def downgrade() -> None:
    for table in ("tier_overrides", "tier_policies", "replies", "mentions"):
        with op.batch_alter_table(table) as batch:
            for name in (n for t, n, _, _ in CHECKS if t == table):
                batch.drop_constraint(op.f(name), type_="check")
    # The old code wrote these over any reason, except "posted" (reconciled kept its own).
    op.execute("UPDATE replies SET reason = 'posted' WHERE status = 'posted' AND reason IS NULL")
    op.execute("UPDATE replies SET reason = 'taken_down' WHERE status = 'taken_down'")
    op.execute("UPDATE replies SET reason = 'shadow' WHERE status = 'shadowed'")
    op.execute(
        "UPDATE mentions SET reason = CASE"
        " WHEN status = 'failed' THEN reason"
        " WHEN status = 'answered' AND decision = 'accepted' THEN 'answered'"
        " ELSE decision END"
    )
    with op.batch_alter_table("mentions") as batch:
        batch.drop_column("decision")
