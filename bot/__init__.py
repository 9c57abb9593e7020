"""mentionbot: answers mentions of an X bot account with a Mixture-of-Experts model on vLLM.

The flow, one package per step (docs/design.md §1-2):

    `platform`       X through tweepy (or `sandbox`, a local X API v2 that stands in for it)
      → `mentions`   the listener polls, decide() gates, ingest stores with the cursor
      → `replies`    generate with the model, post exactly once, sweep what got stuck
    `subscribers`    tiers, overrides, quotas: who gets an answer and how often
    `moderation`     the moderators' services: review, published replies, accounts, audit
    `web`            the moderator dashboard (FastAPI and Jinja2) on those services
    `db`             engine, sessions, the declarative base, migrations
    `cli`            the `mentionbot` command, the only composition root
    `bench`          benchmarks (not production paths)

Shared modules: `vocab` (every status and reason code), `settings`, `logs`, `metrics`,
`errors` (OperatorError), `sender` (the TaskSender protocol), `tables` (all metadata),
`threaded_server` (an ASGI app on a local port in a daemon thread, for the demo and tests).
Dependencies point one way; the import-linter contracts in pyproject.toml check it.
"""
