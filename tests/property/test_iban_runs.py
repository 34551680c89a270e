"""Runs of capital-and-digit groups: the IBAN look-ahead never skips an IBAN.

After a rejected IBAN candidate the resolver walks the groups ahead ("DE00 AB12 DE00
...") and tells the engine where the next IBAN may start. The runs here mix valid IBANs
(printed in groups of four or compact), near misses, lower case and other separators;
the look-ahead is checked against trying every offset, and redaction with it against
redaction without it.
"""

from __future__ import annotations

import re

from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor import Redactor
from redactor.detectors import bank
from redactor.detectors.bank import _IBAN, _iban_end, _next_iban_start
from redactor.validators.bank import IBAN_LENGTHS
from tests.property.lookahead import (
    assert_look_ahead_skips_nothing,
    join_pieces,
    redacted_without_look_ahead,
)

#: Valid IBANs from the registry's examples.
IBANS = (
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
    "FR1420041010050500013M02606",
    "NO9386011117947",
    "MT84MALT011000012345MTLCAST001S",
)
SEPARATORS = (" ", " ", " ", "  ", "-", ",", "\n")


def _grouped(iban: str, size: int) -> list[str]:
    return [iban[i : i + size] for i in range(0, len(iban), size)]


@st.composite
def runs(draw: st.DrawFn) -> str:
    """Groups of capitals and digits, mostly single-spaced, sometimes holding IBANs."""
    pieces: list[str] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.integers(0, 7))
        if kind == 0:
            iban = draw(st.sampled_from(IBANS))
            pieces.extend(_grouped(iban, draw(st.sampled_from([4, 4, 40, 3]))))
        elif kind == 1:
            country = draw(st.sampled_from(sorted(IBAN_LENGTHS)))
            pieces.append(country + draw(st.text("0123456789", min_size=2, max_size=2)))
        else:
            alphabet = draw(st.sampled_from(["ABDEGR0123456789", "0123456789", "ABCDabc12"]))
            pieces.append(draw(st.text(alphabet, min_size=1, max_size=8)))
    text = join_pieces(draw, pieces, " ", SEPARATORS)
    left = draw(st.sampled_from(["", " ", "x", "\\n", "iban="]))
    right = draw(st.sampled_from(["", " ", "x", "0", ".", "é"]))
    return left + text + right


@settings(max_examples=600, deadline=None)
@given(runs())
@example("DE00 AB12 DE00 AB12 DE89 3704 0044 0532 0130 00")
@example("AB12 " * 70 + "DE89 3704 0044 0532 0130 00")
def test_no_iban_starts_before_the_offset_the_look_ahead_returns(string: str) -> None:
    """Every offset between a rejected candidate and the returned one holds no IBAN."""
    assert_look_ahead_skips_nothing(string, _IBAN, _iban_end, _next_iban_start)


def _iban_end_by_characters(string: str, start: int, text: str) -> int:
    """The resolver as first written: count characters that are not spaces one by one."""
    from redactor.validators import iban_ok

    length = IBAN_LENGTHS.get(text[:2])
    if length is None:
        return 0
    taken = end = 0
    for end, char in enumerate(text, start=1):  # noqa: B007
        if char != " ":
            taken += 1
            if taken == length:
                break
    if taken != length:
        return 0
    following = string[start + end : start + end + 1]
    if following.isalnum() or not iban_ok(text[:end].replace(" ", "")):
        return 0
    return start + end


@settings(max_examples=400, deadline=None)
@given(runs())
def test_iban_end_equals_counting_characters(string: str) -> None:
    """The count-the-spaces arithmetic finds the same end as walking the characters."""
    for start in range(len(string)):
        match = _IBAN.match(string, start)
        if match is not None:
            text = match.group()
            assert _iban_end(string, start, text) == _iban_end_by_characters(string, start, text)


REDACTOR = Redactor()


@settings(max_examples=300, deadline=None)
@given(st.lists(runs(), min_size=1, max_size=3).map(" ; ".join))
def test_redaction_is_the_same_without_the_look_ahead(string: str) -> None:
    """The engine's output with the skip equals its output trying every offset."""
    slow = redacted_without_look_ahead(REDACTOR, bank, "_next_iban_start", string)
    assert REDACTOR.redact(string) == slow


_GROUP = re.compile(r"[A-Z0-9]+ (?=[A-Z0-9])")


def _next_iban_start_group_by_group(string: str, start: int) -> int:
    """The look-ahead as first written: one regex match and one resolution per group."""
    at = start
    for _ in range(bank._WINDOW):
        step = _GROUP.match(string, at)
        if step is None:
            break
        at = step.end()
        if string[at : at + 2] in IBAN_LENGTHS:
            match = _IBAN.match(string, at)
            if match is not None and _iban_end(string, at, match.group()):
                return at
    return at + 1


@settings(max_examples=600, deadline=None)
@given(runs())
@example("AB12 " * 70 + "DE89 3704 0044 0532 0130 00")
@example("DE00 " + "AB12 " * 62 + "DE89 3704 0044 0532 0130 00x")
def test_look_ahead_equals_resolving_group_by_group(string: str) -> None:
    """Running lengths over the groups give the offset the per-group resolution gives."""
    for start in range(len(string)):
        match = _IBAN.match(string, start)
        if match is not None and not _iban_end(string, start, match.group()):
            expected = _next_iban_start_group_by_group(string, start)
            assert _next_iban_start(string, start) == expected, start
