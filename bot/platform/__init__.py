"""The social platform: what the bot needs from it (`protocol`: the Platform protocol, its
data classes and errors), X's post ids (`snowflake`), the tweepy client for X (`x`), and a
local X API v2 sandbox that speaks the same HTTP (`sandbox/`).

May import: bot.db, bot.settings. The sandbox imports nothing of the bot's domain (only
`snowflake`), so it can stand in for X in any test.
"""
