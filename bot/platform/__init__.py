"""The social platform: what the bot needs from it (`protocol`: the Platform protocol, its
data classes and errors), X's post ids (`snowflake`), the tweepy client for X (`x`), X's
refusals about the account and the gate that stops calling while X refuses pay-per-use
(`refusals`), and the check of the bot's credentials at start-up (`credentials`). The
local X API sandbox that stands in for X is bot.sandbox.

May import: bot.db, bot.settings, the shared modules.
"""
