"""Who the bot answers and how often: tier policies, operator overrides and rate counters
(`schema`), a user's effective tier and each tier's policy (`tiers`), atomic fixed-window
counters for quotas and budgets (`quotas`), what operators ask (`service`) and the grants and
blocks they make (`overrides`), both used by `mentionbot subscribers|tiers` and the dashboard.

May import: bot.db, the shared modules (bot.vocab, bot.settings), models (the X length of an
upsell text). One exception: `service` lists platform users with their mention counts
(bot.mentions.schema), the operator's view across both features, and `overrides` returns the
platform user it changed.
"""
