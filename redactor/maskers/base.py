"""The masker protocol: how a found value is shown in the output.

Every masker must be idempotent (``m(m(v)) == m(v)``) and its output must never be found
again by any detector, so that redacting already-redacted logs changes nothing and masked
values are not re-detected downstream as fresh findings.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Masker"]


class Masker(Protocol):
    """Turns one sensitive value into its safe representation."""

    def __call__(self, value: str) -> str:
        """Return the masked form of ``value``.

        A value is only returned unchanged when it is already in this masker's shape.
        """
        ...
