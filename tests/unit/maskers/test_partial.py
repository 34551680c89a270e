"""Tests for redactor.maskers.partial: bounded partial masks."""

from __future__ import annotations

import pytest

from redactor.maskers import EmailMask, IbanMask, LastFour, PanMask


class TestPanMask:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("4111111111111111", "411111******1111"),
            ("4111 1111 1111 1111", "411111******1111"),
            ("4111-1111-1111-1111", "411111******1111"),
            ("3782 822463 10005", "378282*****0005"),
            ("4222222222222", "422222***2222"),
            ("30569309025904", "305693****5904"),
            ("4111111111111111110", "411111*********1110"),
        ],
    )
    def test_shows_first_six_and_last_four_without_separators(self, value, expected):
        """The default mask keeps the BIN and last four and drops spaces and dashes."""
        assert PanMask()(value) == expected

    @pytest.mark.parametrize(
        "value", ["4111+1111+1111+1111", "4111%201111%201111%201111", "4111%2B1111%2B1111%2B1111"]
    )
    def test_drops_url_encoded_separators(self, value):
        """Separators the card detector accepts in query strings are dropped like spaces."""
        assert PanMask()(value) == "411111******1111"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("4111111111111111", "41111111****1111"),
            ("4111 1111 1111 1111", "41111111****1111"),
            ("4111111111111111110", "41111111*******1110"),
        ],
    )
    def test_bin8_for_pans_of_sixteen_digits_or_more(self, value, expected):
        """With first=8 a PAN of 16+ digits shows its eight-digit BIN."""
        assert PanMask(first=8)(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("378282246310005", "378282*****0005"),
            ("4222222222222", "422222***2222"),
            ("30569309025904", "305693****5904"),
        ],
    )
    def test_bin8_falls_back_to_six_digits_for_short_pans(self, value, expected):
        """PANs under 16 digits never show more than six leading digits."""
        assert PanMask(first=8)(value) == expected

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("4111111111111111", "************1111"),
            ("3782-822463-10005", "***********0005"),
        ],
    )
    def test_last4_mode_hides_the_bin(self, value, expected):
        """With first=0 only the last four digits remain."""
        assert PanMask(first=0)(value) == expected

    def test_last_zero_hides_the_tail(self):
        """With last=0 the last four digits are hidden too."""
        assert PanMask(first=6, last=0)("4111111111111111") == "411111**********"

    @pytest.mark.parametrize(
        "mask", [PanMask(), PanMask(first=8), PanMask(first=0), PanMask(first=6, last=0)]
    )
    @pytest.mark.parametrize(
        "value", ["4111111111111111", "4111 1111 1111 1111", "378282246310005", "4222222222222"]
    )
    def test_idempotent_on_its_own_output(self, mask, value):
        """Masking an already masked PAN returns it unchanged."""
        once = mask(value)
        assert mask(once) == once

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("12345678901", "*******8901"),
            ("AB12-3456-7890", "****-****-7890"),
            ("1234567", "****"),
            ("12345678901234567890", "****************7890"),
        ],
    )
    def test_non_pan_values_keep_at_most_last_four(self, value, expected):
        """Values that are not 12-19 digit PANs fall back to a last-four mask."""
        assert PanMask()(value) == expected

    @pytest.mark.parametrize(
        "value", ["4111111111111111", "5555 5555 5555 4444", "378282246310005"]
    )
    def test_never_reveals_the_middle_digits(self, value):
        """The digits between BIN and last four never appear in the output."""
        digits = value.replace(" ", "")
        masked = PanMask()(value)
        assert masked[:6] == digits[:6]
        assert masked[-4:] == digits[-4:]
        assert set(masked[6:-4]) == {"*"}


class TestLastFour:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("12345678901", "*******8901"),
            ("123-45-6789", "***-**-6789"),
            ("020 7946 0404", "*** **** 0404"),
            ("GB29NWBK60161331926819", "******************6819"),
            ("12345678", "****5678"),
        ],
    )
    def test_keeps_separators_and_last_four(self, value, expected):
        """Letters and digits but the last four are starred; separators stay."""
        assert LastFour()(value) == expected

    @pytest.mark.parametrize("value", ["", "1", "1234", "12-34-56", "1234567", "ab cd"])
    def test_hides_short_values_entirely(self, value):
        """Values with fewer than eight letters or digits become four stars."""
        assert LastFour()(value) == "****"

    @pytest.mark.parametrize("value", ["12345678901", "123-45-6789", "1234", "+44 20 7946 0958"])
    def test_idempotent(self, value):
        """Masking the mask changes nothing."""
        once = LastFour()(value)
        assert LastFour()(once) == once


class TestIbanMask:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("DE89370400440532013000", "DE****************3000"),
            ("DE89 3704 0044 0532 0130 00", "DE****************3000"),
            ("GB29 NWBK 6016 1331 9268 19", "GB****************6819"),
            ("NO9386011117947", "NO*********7947"),
            ("de89370400440532013000", "DE****************3000"),
        ],
    )
    def test_shows_country_and_last_four(self, value, expected):
        """An IBAN becomes its country code, stars and last four, without spaces."""
        assert IbanMask()(value) == expected

    @pytest.mark.parametrize("value", ["DE89370400440532013000", "GB29 NWBK 6016 1331 9268 19"])
    def test_hides_check_digits_and_bank_code(self, value):
        """Check digits and the account part never appear in the output."""
        masked = IbanMask()(value)
        assert set(masked[2:-4]) == {"*"}

    @pytest.mark.parametrize("value", ["DE89370400440532013000", "FR1420041010050500013M02606"])
    def test_idempotent(self, value):
        """Masking a masked IBAN returns it unchanged."""
        once = IbanMask()(value)
        assert IbanMask()(once) == once

    @pytest.mark.parametrize(
        ("value", "expected"), [("12345678901", "*******8901"), ("DE89", "****")]
    )
    def test_non_iban_values_keep_at_most_last_four(self, value, expected):
        """Values not shaped like an IBAN fall back to a last-four mask."""
        assert IbanMask()(value) == expected


class TestEmailMask:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("john.doe@example.com", "***@example.com"),
            ("jane+tag@mail.example.co.uk", "***@mail.example.co.uk"),
            ("a@b.io", "***@b.io"),
            ("john.doe%40example.com", "***%40example.com"),
        ],
    )
    def test_keeps_domain_only(self, value, expected):
        """The local part becomes three stars; the domain stays (also after %40)."""
        assert EmailMask()(value) == expected

    @pytest.mark.parametrize("value", ["not-an-email", "john@", ""])
    def test_values_without_domain_become_stars(self, value):
        """A value with no usable domain is hidden whole."""
        assert EmailMask()(value) == "***"

    @pytest.mark.parametrize("value", ["john.doe@example.com", "john.doe%40example.com"])
    def test_idempotent(self, value):
        """Masking a masked address returns it unchanged."""
        once = EmailMask()(value)
        assert EmailMask()(once) == once
