"""Replies going out: the reply rows (`schema`), the conditional UPDATEs that claim, release
and end mentions and replies (`claims`), the prompt and thread context for a mention
(`prompting`), writing a reply with the model (`generate`), a reply's parts when it goes out
as a thread (`parts`), posting it exactly once within the bot's budget (`post`), re-sending
what got stuck in flight (`sweep`), and what generation cost: tokens per tier, user and day
and the count against a tier's daily token budget (`usage`). `deps` holds what the services
need and the TryLater signal.

Each service runs its own short transactions and never holds one open across a call to the
model or to X. May import: bot.db, bot.platform, bot.mentions, bot.subscribers, the shared
modules, models.
"""
