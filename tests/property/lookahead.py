"""What the card and IBAN look-ahead property tests share.

Both look-aheads promise the same thing: after a rejected candidate at ``start``, no
candidate their detector would accept starts before the offset they return. Checking it
needs the detector's pattern, its end function (0: rejected) and the look-ahead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from types import ModuleType

from hypothesis import strategies as st

from redactor import Redactor

EndOf = Callable[[str, int, str], int]


def join_pieces(draw: st.DrawFn, pieces: Sequence[str], usual: str, others: Sequence[str]) -> str:
    """Join ``pieces`` mostly with ``usual``, one time in eight with one of ``others``."""
    text = ""
    for piece in pieces:
        if text:
            text += usual if draw(st.integers(0, 7)) else draw(st.sampled_from(others))
        text += piece
    return text


def assert_look_ahead_skips_nothing(
    string: str,
    pattern: re.Pattern[str],
    end_of: EndOf,
    look_ahead: Callable[[str, int], int],
    asks: Callable[[str], bool] = lambda text: True,
) -> None:
    """At every rejected candidate the resolver would ask about (``asks`` its text), the
    look-ahead moves forward and no offset it passes over holds an accepted candidate."""

    def accepted(position: int) -> bool:
        match = pattern.match(string, position)
        return match is not None and end_of(string, position, match.group()) > 0

    for start in range(len(string)):
        match = pattern.match(string, start)
        if match is None or end_of(string, start, match.group()) or not asks(match.group()):
            continue
        resume = look_ahead(string, start)
        assert resume > start
        skipped = [p for p in range(start + 1, min(resume, len(string))) if accepted(p)]
        assert not skipped, (start, resume, skipped)


def redacted_without_look_ahead(
    redactor: Redactor, module: ModuleType, name: str, string: str
) -> str:
    """``redactor.redact(string)`` with ``module.name`` (a look-ahead) skipping nothing."""
    look_ahead = getattr(module, name)
    setattr(module, name, lambda text, start: 0)
    try:
        return redactor.redact(string)
    finally:
        setattr(module, name, look_ahead)
