"""The dashboard's pages, one module per area, each a FastAPI router of thin views: parse the
request, call bot.moderation's services in the request's transaction, answer with a page or
an outcome. `review` (the queue, one item and the decisions on it), `published` (posted,
shadow and held replies), `subscribers` (users, their overrides and notes, tier policies),
`admin` (the audit log, stats, accounts and the posting switch).

May import: bot.web.deps (what every view shares), bot.moderation's services, the features
below it (bot.replies, bot.mentions, bot.subscribers, bot.platform, bot.db), the shared
modules and models. Views run no queries of their own. Only bot.web.app imports them.
"""
