"""The error every operator-facing service raises for a request its user has to fix."""

from __future__ import annotations

from collections.abc import Callable


class _Fields(dict[str, object]):
    """format_map values: the message's own values, and any other name rendered as a field."""

    def __init__(self, values: dict[str, object], field: Callable[[str], str]) -> None:
        super().__init__(values)
        self.field = field

    def __missing__(self, key: str) -> str:
        return self.field(key)


class OperatorError(ValueError):
    """A request the operator has to fix (unknown user or tier, a past date, ...).

    `message` may name request fields as `{until}`; `values` fill other placeholders
    verbatim (user input is never read as a template).
    """

    def __init__(self, message: str, /, **values: object) -> None:
        self.message = message
        self.values = values
        super().__init__(self.render())

    def render(self, field: Callable[[str], str] = str) -> str:
        """The message with each field named by `field` (plain names by default)."""
        return self.message.format_map(_Fields(self.values, field))
