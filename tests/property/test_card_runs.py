"""Long runs of digit groups: the look-ahead that skips rejected windows is exact.

A run such as ``1234-1234-1234-...`` (near misses, every window failing Luhn) would cost
one scan step per group; after a rejected candidate the card resolver reads the run
ahead and tells the engine where the next card may start. That shortcut must never
skip a card: the runs here mix group lengths, separators (plain, percent-encoded,
doubled), real test cards, UUID-shaped groups and letters, and the results are
compared with trying every offset one by one.
"""

from __future__ import annotations

from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor import Redactor
from redactor.detectors import cards
from redactor.detectors.cards import _PAN, _next_pan_start, _pan_end
from tests.property.lookahead import (
    assert_look_ahead_skips_nothing,
    join_pieces,
    redacted_without_look_ahead,
)

#: Published test card numbers, 13 to 19 digits.
TEST_CARDS = (
    "4111111111111111",
    "5555555555554444",
    "378282246310005",
    "6011111111111117",
    "4222222222222",
    "3530111333300000",
    "6200000000000005",
    "4000056655665556",
    "6759649826438453",
    "4917610000000000003",
)
SEPARATORS = (" ", "-", "+", " ", "-", "%20", "%2D", "%2b", "--", "  ", "x", "é", "/", "\n")


def _split(digits: str, cuts: list[int]) -> list[str]:
    points = sorted({c % len(digits) for c in cuts} - {0})
    return [digits[a:b] for a, b in zip([0, *points], [*points, len(digits)], strict=True)]


@st.composite
def runs(draw: st.DrawFn) -> str:
    """A run of digit groups with mostly one separator, sometimes holding cards."""
    sep = draw(st.sampled_from(SEPARATORS[:5]))
    pieces: list[str] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            card = draw(st.sampled_from(TEST_CARDS))
            pieces.extend(_split(card, draw(st.lists(st.integers(0, 30), max_size=4))))
        elif kind == 1:
            pieces.append(draw(st.sampled_from(["12345678", "1234", "123456789012"])))
        else:
            pieces.append(
                draw(st.text("0123456789", min_size=1, max_size=draw(st.integers(1, 20))))
            )
    text = join_pieces(draw, pieces, sep, SEPARATORS)
    left = draw(st.sampled_from(["", " ", "x", "%2D", "-", "id="]))
    right = draw(st.sampled_from(["", " ", "x", "%2D1", "-", "é", ".", "0"]))
    return left + text + right


@settings(max_examples=600, deadline=None)
@given(runs())
@example("1234-1234-1234-1234-4111-1111-1111-1111")
@example("4111 1111 1111 111 4111 1111 1111 1111")
@example("1234-12345678-1234-1234-1234-123456789012-4111-1111-1111-1111")
@example("1-" * 30 + "4111-1111-1111-1111")
@example("1234-" * 80 + "4111-1111-1111-1111")
@example("1234-1234-1234%2D4111-1111-1111-1111")
def test_no_card_starts_before_the_offset_the_look_ahead_returns(string: str) -> None:
    """Every offset between a rejected candidate and the returned one holds no card."""
    # Where the resolver asks: a rejected candidate that has plain separators.
    assert_look_ahead_skips_nothing(
        string,
        _PAN,
        _pan_end,
        _next_pan_start,
        asks=lambda text: "%" not in text and not text.isdigit(),
    )


REDACTOR = Redactor()


@settings(max_examples=300, deadline=None)
@given(st.lists(runs(), min_size=1, max_size=3).map(" ; ".join))
@example("1234-1234-1234-1234-1234-4111-1111-1111-1111-1234")
def test_redaction_is_the_same_without_the_look_ahead(string: str) -> None:
    """The engine's output with the skip equals its output trying every offset."""
    slow = redacted_without_look_ahead(REDACTOR, cards, "_next_pan_start", string)
    assert REDACTOR.redact(string) == slow
