"""Alembic's environment (`env.py`) and revisions (`versions/`, dated and named by slug).

May import: bot.db and bot.tables (the metadata of every feature's schema).
"""
