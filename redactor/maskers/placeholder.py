"""Maskers that drop the value entirely: sensitive authentication data and secrets."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["REDACTED", "Placeholder"]

#: The default text that replaces removed values. Brackets keep it out of every detector's
#: value class, so a second pass leaves it alone.
REDACTED = "[REDACTED]"


@dataclass(frozen=True, slots=True)
class Placeholder:
    """Replace the whole value with fixed text (``[REDACTED]`` or e.g. ``[card]``).

    PCI DSS forbids keeping CVV, PIN and track data even partially, so this is the only
    shape those kinds accept besides a custom placeholder text.
    """

    text: str = REDACTED

    def __call__(self, value: str) -> str:
        """Return the placeholder text whatever the value."""
        return self.text
