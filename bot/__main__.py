"""`python -m bot` runs the mentionbot CLI."""

from bot.cli import app

app()
