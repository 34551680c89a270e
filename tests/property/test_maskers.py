"""Maskers reveal no more than allowed, and masking twice equals masking once."""

from __future__ import annotations

import re
import string

from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor.maskers import REDACTED, EmailMask, IbanMask, LastFour, PanMask, Placeholder
from tests.property.strategies import formatted_pans

SETTINGS = settings(max_examples=300, deadline=None)

_PAN_LIKE = st.builds(
    lambda digits, sep, size: sep.join(digits[i : i + size] for i in range(0, len(digits), size)),
    st.text(string.digits, min_size=12, max_size=19),
    st.sampled_from(("", " ", "-")),
    st.sampled_from((3, 4, 5, 6, 19)),
)
#: Anything a masker may be handed: card-like numbers, masked forms, text of any script.
_VALUES = st.one_of(
    _PAN_LIKE,
    formatted_pans().map(lambda pan: pan.written),
    st.text(alphabet=st.sampled_from("0123456789*- "), max_size=24),
    st.text(string.ascii_letters + string.digits + "*-_ .@", max_size=30),
    st.text(max_size=30),
)
_PAN_MASKS = st.sampled_from((PanMask(6, 4), PanMask(8, 4), PanMask(0, 4), PanMask(6, 0)))


def leading_digits(text: str) -> int:
    """Return how many digits ``text`` shows before its first star."""
    head = text.split("*", 1)[0] if "*" in text else text
    return sum(c.isdigit() for c in head)


def trailing_digits(text: str) -> int:
    """Return how many digits ``text`` shows after its last star."""
    tail = text.rsplit("*", 1)[1] if "*" in text else text
    return sum(c.isdigit() for c in tail)


class TestPanMask:
    """PanMask shows at most first 6 (8 for 16+ digit PANs with BIN8) and last 4."""

    @SETTINGS
    @given(_PAN_MASKS, _PAN_LIKE)
    def test_pan_like_values_reveal_at_most_allowed(self, mask: PanMask, value: str) -> None:
        """A 12-19 digit value shows no more leading and trailing digits than configured."""
        digits = re.sub(r"\D", "", value)
        first = mask.first if len(digits) >= 16 else min(mask.first, 6)
        out = mask(value)
        assert leading_digits(out) <= first
        assert trailing_digits(out) <= mask.last
        assert sum(c.isdigit() for c in out) <= first + mask.last
        assert len(out) == len(digits)

    @SETTINGS
    @given(_PAN_MASKS, _VALUES)
    @example(PanMask(0, 4), "411111******1111")
    @example(PanMask(6, 4), "41111111****1111")
    def test_any_value_reveals_at_most_allowed(self, mask: PanMask, value: str) -> None:
        """Whatever the value, at most ``first`` leading and 4 trailing digits show."""
        out = mask(value)
        assert leading_digits(out) <= mask.first
        assert trailing_digits(out) <= 4
        assert sum(c.isdigit() for c in out) <= mask.first + 4

    @SETTINGS
    @given(_PAN_MASKS, _VALUES)
    @example(PanMask(6, 4), "1234 5678 90")
    def test_idempotent(self, mask: PanMask, value: str) -> None:
        """Masking a masked value changes nothing."""
        once = mask(value)
        assert mask(once) == once

    @SETTINGS
    @given(formatted_pans())
    def test_default_display(self, pan: object) -> None:
        """A card number in any formatting shows as first 6, stars, last 4."""
        digits = pan.digits
        assert PanMask()(pan.written) == digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


class TestLastFour:
    """LastFour shows at most the last four letters or digits."""

    @SETTINGS
    @given(_VALUES)
    def test_reveals_at_most_four_alphanumerics(self, value: str) -> None:
        """No more than four letters or digits are visible, and they are the last four."""
        out = LastFour()(value)
        visible = "".join(c for c in out if c.isalnum())
        assert len(visible) <= 4
        assert "".join(c for c in value if c.isalnum()).endswith(visible)

    @SETTINGS
    @given(_VALUES)
    def test_idempotent(self, value: str) -> None:
        """Masking a masked value changes nothing."""
        once = LastFour()(value)
        assert LastFour()(once) == once


class TestOtherMaskers:
    """IBAN, email and placeholder maskers."""

    @SETTINGS
    @given(_VALUES)
    def test_iban_mask_reveals_country_and_last_four(self, value: str) -> None:
        """IbanMask shows at most two letters and four more alphanumerics."""
        out = IbanMask()(value)
        assert sum(c.isalnum() for c in out) <= 6
        assert IbanMask()(out) == out

    @SETTINGS
    @given(_VALUES)
    def test_email_mask_hides_local_part(self, value: str) -> None:
        """EmailMask shows only ``***`` and the value's own ``@domain``; it is idempotent."""
        out = EmailMask()(value)
        shown = out.removeprefix("***")
        assert out.startswith("***")
        assert shown == "" or (shown.startswith(("@", "%40")) and value.endswith(shown))
        assert EmailMask()(out) == out

    @SETTINGS
    @given(_VALUES, st.sampled_from((REDACTED, "[card]", "[REDACTED:pin]")))
    def test_placeholder_shows_nothing(self, value: str, text: str) -> None:
        """Placeholder returns its text whatever the value."""
        assert Placeholder(text)(value) == text
