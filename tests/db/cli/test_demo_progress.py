"""The demo's progress display on the demo's SQLite: a read that fails is logged and tried
again, and the demo goes on (a locked database once ended the whole demo from here)."""

from __future__ import annotations

import io
import logging
import threading
import time
from pathlib import Path

import pytest
from rich.console import Console

from bot.cli.demo import Outcome, show_progress
from bot.db import migrate
from bot.db.engine import make_engine, make_session_factory, transaction
from bot.mentions.ingest import upsert_author
from bot.platform.protocol import Author
from bot.vocab import MentionStatus
from tests.fixtures.factories.mentions import add_mention
from tests.fixtures.services import wait_for

POST_ID = "90001"


def test_a_failed_read_is_logged_and_the_display_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.cli.demo")
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    shown: list[list[Outcome]] = []
    console = Console(file=io.StringIO())
    # The tables are not there yet: every read fails (OperationalError) until they are.
    display = threading.Thread(
        target=lambda: shown.append(
            show_progress(sessions, [POST_ID], console, time.monotonic() + 60, True)
        ),
        daemon=True,
    )
    display.start()
    wait_for(
        lambda: any("reading the outcomes failed" in r.getMessage() for r in caplog.records),
        timeout=30,
        what="the failed read to be logged",
    )
    assert display.is_alive()  # the failure did not end it
    migrate.upgrade(url)
    with transaction(sessions) as s:
        author = upsert_author(s, Author("5001", "asker", "Asker", "Basic"))
        add_mention(s, author, POST_ID, status=MentionStatus.IGNORED)
    display.join(timeout=30)
    engine.dispose()
    assert not display.is_alive(), "the display did not see the final mention"
    assert [o.mention.platform_post_id for o in shown[0]] == [POST_ID]
