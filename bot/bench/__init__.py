"""Benchmarks that print figures: the model server alone (`llm`), decide() under load on real
Postgres (`gating`, in a scratch database from `scratch`). Not a production code path.

May import: everything in bot/ but bot.cli (which renders their results), and models.
"""
