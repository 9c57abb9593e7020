"""The database plumbing every feature shares: engines and sessions (`engine`), the typed
declarative base, its naming convention and the UTC datetime type (`base`), the statements
Postgres and SQLite spell differently (`dialect`), the Alembic runner (`migrate`), and
what a migration uses to change the values a status column allows (`enum_checks`).

May import: nothing of the features (their schemas import this package, never the other way
round). The complete metadata, with every feature's tables, is `bot.tables.metadata`.
"""
