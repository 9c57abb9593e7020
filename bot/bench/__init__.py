"""Benchmarks that print figures: the model server alone (`llm`), decide() under load on real
Postgres (`gating`, in a scratch database from `scratch`), the review queue's server time
(`dashboard`), the whole pipeline against the bare model server (`pipeline`, with its
mentions in `pipeline_load` and its arithmetic in `pipeline_stats`) and a steady rate for
minutes (`soak`), both on the production processes started as an operator starts them
(`cluster`). Not a production code path.

May import: everything in bot/ but bot.cli (which renders their results), and models.
"""
