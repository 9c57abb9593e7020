"""A local X API v2 sandbox: the endpoints mentionbot uses, in the shapes tweepy 4.17 reads
(checked against recorded real exchanges), with a control API under /sandbox/ to seed
posts, inject faults and read counters.

`records` holds what it keeps and answers with (users, posts, pages, faults, refusals),
`store` the in-memory state, `limits` X's rate limits per endpoint, `text` post text as X
treats it (mentions, the reply's leading handles, well-formed Unicode), `params` parses X's
query parameters, `render` writes X's JSON, `vocabulary` has the names of X's two spec
versions (v2.159's, which tweepy sends, and v2.167's, which xdk sends), `access` checks
credentials and answers X's pay-per-use refusals, `x_api` has the X routes, `control` the
control API, `app` builds the FastAPI app and `server` serves it over real HTTP.

May import: bot.platform.snowflake and third-party packages; nothing of the bot's domain
(database, mentions, subscribers, replies, settings), so it stands in for X anywhere.
"""
