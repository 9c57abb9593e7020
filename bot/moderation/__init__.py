"""Moderators keeping the bot in line, as services: dashboard accounts, sign-in and the
sessions signed in (`accounts`), the append-only audit log (`audit`), the review queue's
listings and items (`items`), the decisions on pending replies (`review`), posted, shadow
and held replies (`published`), the posting kill switch (`posting`), notes on accounts
(`notes`), platform users as moderators look them up (`users`), the dashboard's figures
(`stats`) and the tables (`schema`). The dashboard (bot.web) and `mentionbot
review|moderators|posting` call them alike.

May import: bot.replies, bot.mentions, bot.subscribers, bot.platform, bot.db, the shared
modules, models. Nothing of FastAPI or Starlette (an import contract says so): the web app
(bot.web) builds on this package, never the other way round.
"""
