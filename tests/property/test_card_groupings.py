"""Every grouping of a card number that the detector accepts is also flagged first.

The card detector accepts 12 to 19 digits in groups of four or more (the last group may
be shorter) joined by one kind of separator. The pre-filter's card triggers must be
found in every such text, or the line is never scanned and the number passes raw: a
4-5-4 grouping once slipped through this way.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from redactor import Redactor
from redactor.validators.card import LENGTHS_BY_PREFIX, card_ok
from tests.property.strategies import cards, luhn_complete

BACKENDS = {name: Redactor(backend=name) for name in ("python", "hyperscan")}
#: What may stand before a card: words, keys, JSON, and the escapes that count as a boundary.
BEFORE = ("card ", "pan=", '{"n": "', "(", "x%20", "q=%2B", "a\\n", "é", "")
SEPARATORS = (" ", "-", "+", "%20", "%2D", "%2b")


@st.composite
def any_length_cards(draw: st.DrawFn) -> str:
    """A number the card validator accepts, of any length it accepts (12 to 19)."""
    length = draw(st.sampled_from(sorted(frozenset().union(*LENGTHS_BY_PREFIX))))
    prefixes = [p for p, lengths in enumerate(LENGTHS_BY_PREFIX) if length in lengths]
    prefix = f"{draw(st.sampled_from(prefixes)):04d}"
    body = draw(st.text("0123456789", min_size=length - 5, max_size=length - 5))
    digits = luhn_complete(prefix + body)
    assert card_ok(digits)
    return digits


@st.composite
def grouped_cards(draw: st.DrawFn) -> tuple[str, str]:
    """A card number and a grouping of it: groups of 4+ digits, the last one 1+."""
    digits = draw(cards | any_length_cards())
    sizes: list[int] = []
    left = len(digits)
    while left:
        if left < 4 or (draw(st.booleans()) and sizes):
            sizes.append(left)  # the last group: any length
            break
        # Mostly short groups: the shapes that matter are groups of four to seven.
        size = draw(st.integers(4, min(left, 7)) | st.integers(4, left))
        sizes.append(size)
        left -= size
    sep = draw(st.sampled_from(SEPARATORS))
    parts, at = [], 0
    for size in sizes:
        parts.append(digits[at : at + size])
        at += size
    return digits, sep.join(parts)


class TestCardGroupings:
    @settings(max_examples=300)
    @given(grouped_cards(), st.sampled_from(BEFORE))
    def test_flagged_and_masked_on_every_backend(self, card: tuple[str, str], before: str) -> None:
        """The written number is flagged by the pre-filter and does not survive."""
        digits, written = card
        text = f"{before}{written} end"
        for name, redactor in BACKENDS.items():
            assert redactor._scanner.subset(text), (name, written)
            out = redactor.redact(text)
            assert written not in out, (name, written)
            assert digits not in out.replace(" ", "").replace("-", ""), (name, written)

    def test_four_five_four(self) -> None:
        """The grouping that once slipped through is masked (a published 13-digit Visa)."""
        for redactor in BACKENDS.values():
            assert redactor.redact("card 4222-22222-2222 ok") == "card 422222***2222 ok"
