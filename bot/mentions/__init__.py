"""Mentions coming in: who mentioned the bot (`schema`: platform users, mentions, the
listener's cursor), storing them with their decision (`ingest`), deciding who gets an answer
(`gating`: decide()), what a whole page's decisions read and take in a few set-based
statements (`page`), and polling the platform for them (`listener`).

May import: bot.db, bot.platform, bot.subscribers (tiers and quotas), the shared modules
(bot.vocab, bot.settings, bot.logs, bot.metrics, bot.sender), models. One exception: ingest
writes the upsell as the mention's reply (bot.replies.schema) in the listener's transaction.
"""
