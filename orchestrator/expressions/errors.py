"""Error type shared by every expression, timer, DMN and script check."""

from __future__ import annotations


class ExpressionError(ValueError):
    """An expression, script or table cell is unsupported, unsafe or failed to evaluate."""

    def __init__(self, message: str, *, expression: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expression = expression

    def __str__(self) -> str:
        return self.message
