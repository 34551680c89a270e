"""What a scan reports: enough to locate and audit a finding, never the raw value."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Finding"]


@dataclass(frozen=True, slots=True)
class Finding:
    """One sensitive value found in a string.

    Attributes:
        kind: the family it belongs to (``card``, ``secret``, ...), used for counters.
        rule: the detector that fired (``card.pan``, ``secret.jwt``, ``key``), so users
            can tell which rule matched without seeing what it matched.
        start: offset of the first character that is replaced.
        end: offset one past the last replaced character.
        preview: the masked form that replaces it; safe to print.
    """

    kind: str
    rule: str
    start: int
    end: int
    preview: str
