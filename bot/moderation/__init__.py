"""Moderators keeping the bot in line: dashboard accounts and sign-in (`accounts`), the
append-only audit log (`audit`), the review queue for pre-moderated tiers (`review`),
posted and shadow replies (`published`), the posting kill switch (`posting`), notes on
accounts (`notes`), the dashboard's charts (`stats`), and their web pages (`views_*`: thin
routers over these services, which `mentionbot review|moderators|posting` use too).

May import: bot.replies, bot.mentions, bot.subscribers, bot.platform, bot.db, the shared
modules, models. The web app (bot.web) builds on this package, never the other way round:
views find their templates and collaborators on `request.app.state`.
"""
