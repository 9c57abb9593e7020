"""Every feature's tables in one metadata: what Alembic compares and what tests truncate.

Importing the schemas here, rather than in bot.db, keeps bot.db free of the features (their
schemas import bot.db, never the reverse).
"""

from __future__ import annotations

from bot.db.base import Base
from bot.mentions import schema as mentions_schema
from bot.moderation import schema as moderation_schema
from bot.replies import schema as replies_schema
from bot.subscribers import schema as subscribers_schema

SCHEMAS = (mentions_schema, subscribers_schema, replies_schema, moderation_schema)
metadata = Base.metadata
