"""mentionbot: answers mentions of an X bot account with a Mixture-of-Experts model on vLLM.

The flow, one package per step (docs/design.md §1-2):

    platform (X, or the sandbox)
      → mentions     the listener polls, decide() gates, ingest stores with the cursor
      → replies      generate with the model, post exactly once, sweep what got stuck
    subscribers      tiers, overrides, quotas: who gets an answer and how often
    db               engine, sessions, the declarative base, migrations
    cli              the `mentionbot` command, the only composition root
    bench            benchmarks (not production paths)

Shared modules: `vocab` (every status and reason code), `settings`, `logs`, `metrics`,
`errors` (OperatorError), `sender` (the TaskSender protocol), `tables` (all metadata).
Dependencies point one way; the import-linter contracts in pyproject.toml check it.
"""
