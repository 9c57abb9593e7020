"""`mentionbot bench pipeline` refuses, before starting anything, a burst X could not show."""

from __future__ import annotations

from tests.fixtures.cli import Run


def test_a_burst_beyond_the_timelines_reach_is_refused(cli: Run) -> None:
    result = cli("bench", "pipeline", "--mentions", "801", "--json")
    assert result.exit_code == 2
    assert "reaches back 800" in " ".join(result.output.split())
