"""How bot/ hands committed work to the queue without importing workers/ (docs/design.md §1).

The composition root (bot.cli) gives the listener, the sweeper and the dashboard a
TaskSender; workers.sender.CelerySender is the real one, which the generate task also uses
to send the post task. Every send of a task goes through it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class TaskSender(Protocol):
    """Sends tasks for rows that are already committed."""

    def send_generate(
        self, mention_ids: Sequence[int], priorities: Mapping[int, int] | None = None
    ) -> None:
        """Queue generation for these committed mentions (0 = most urgent)."""
        ...

    def send_post(
        self, reply_ids: Sequence[int], priorities: Mapping[int, int] | None = None
    ) -> None:
        """Queue posting for these committed, approved replies (0 = most urgent)."""
        ...
