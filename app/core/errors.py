"""Errors as values: a machine-readable `code` and a sentence a person can act on.

The layers below the web raise these; the web layer alone decides which HTTP status each code gets.
"""

from __future__ import annotations


class DigitPadError(Exception):
    """A request DigitPad cannot carry out, named by `code` (e.g. `invalid_image`)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


class EmptyDrawing(DigitPadError):
    """The drawing holds no digit to read."""

    def __init__(self, reason: str) -> None:
        super().__init__("empty_drawing", f"{reason} Draw a digit with a thicker or larger stroke and try again.")


class UnknownModel(DigitPadError):
    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(
            "unknown_model",
            f"There is no model called {name!r}; the models here are: {', '.join(sorted(known)) or 'none'}.",
        )
