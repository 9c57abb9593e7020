"""What generation cost the operator: the count against a tier's daily token budget that the
generate worker keeps."""

from __future__ import annotations

from bot.db.base import utcnow
from bot.db.engine import SessionFactory, transaction
from bot.subscribers import quotas
from bot.subscribers.tiers import Policy
from models.llm_client import Completion


def charge_tokens(sessions: SessionFactory, policy: Policy, completion: Completion) -> None:
    """Count a generation's tokens against its tier's day, right after the model answered:
    spent is spent, whether the reply is then stored, held, or the mention fails.

    Nothing at all (no transaction, no query) for a tier without a budget, so a budget set
    during a day counts from then on. Atomic under concurrent workers (one upsert adds), but
    a budget can be overshot: every mention accepted before it ran out is still generated.
    """
    if policy.daily_token_budget <= 0:
        return
    with transaction(sessions) as s:
        quotas.add_tier_tokens(
            s, policy.tier, completion.prompt_tokens + completion.completion_tokens, utcnow()
        )
