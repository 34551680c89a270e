"""Tests for redactor.validators.card: Luhn and issuer prefix by length."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor.validators import card_ok, luhn_ok

#: Published test card numbers, one or two per network (all Luhn-valid).
TEST_CARDS = [
    "4111111111111111",  # Visa
    "4012888888881881",  # Visa
    "4222222222222",  # Visa, 13 digits
    "4000056655665556",  # Visa debit
    "4111111111111111110",  # Visa, 19 digits
    "5555555555554444",  # Mastercard
    "5105105105105100",  # Mastercard
    "2223003122003222",  # Mastercard 2-series
    "378282246310005",  # American Express
    "371449635398431",  # American Express
    "6011111111111117",  # Discover
    "6011000990139424",  # Discover
    "30569309025904",  # Diners Club
    "38520000023237",  # Diners Club
    "3530111333300000",  # JCB
    "3566002020360505",  # JCB
    "6200000000000005",  # UnionPay
    "6759649826438453",  # Maestro
]


def luhn_complete(body: str) -> str:
    """Append the Luhn check digit to ``body`` (independent of the code under test)."""
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:  # these digits are doubled once the check digit is appended
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return body + str((10 - total % 10) % 10)


def card_number(prefix: str, length: int) -> str:
    """Return a Luhn-valid number of ``length`` digits starting with ``prefix``."""
    filler = "3141592653589793238"
    return luhn_complete((prefix + filler)[: length - 1])


def single_digit_changes(number: str) -> list[str]:
    """Return every number that differs from ``number`` in exactly one digit."""
    return [
        number[:i] + d + number[i + 1 :]
        for i in range(len(number))
        for d in "0123456789"
        if d != number[i]
    ]


class TestLuhnOk:
    @pytest.mark.parametrize("number", TEST_CARDS)
    def test_accepts_published_test_cards(self, number):
        """Every published test card number passes the Luhn check."""
        assert luhn_ok(number)

    @pytest.mark.parametrize("number", TEST_CARDS)
    def test_rejects_every_single_digit_change(self, number):
        """Changing any one digit of a valid number breaks the checksum."""
        accepted = [changed for changed in single_digit_changes(number) if luhn_ok(changed)]
        assert accepted == []

    @pytest.mark.parametrize("number", ["0", "00", "18", "26", "59", "0000000000000"])
    def test_accepts_short_and_zero_valid_numbers(self, number):
        """Luhn itself has no length rule: any valid digit string passes."""
        assert luhn_ok(number)

    @pytest.mark.parametrize(
        "value",
        ["", "4111 1111 1111 1111", "4111-1111-1111-1111", "411111111111111a", "٤١١١١١١١١١١١١١١١"],
    )
    def test_rejects_empty_separators_and_non_ascii_digits(self, value):
        """Only plain ASCII digits are checked; anything else is rejected."""
        assert not luhn_ok(value)


class TestCardOk:
    @pytest.mark.parametrize("number", TEST_CARDS)
    def test_accepts_published_test_cards(self, number):
        """Every published test card number is a plausible card."""
        assert card_ok(number)

    @pytest.mark.parametrize(
        ("prefix", "length"),
        [
            ("4", 13),
            ("4", 16),
            ("4", 19),
            ("51", 16),
            ("52", 16),
            ("53", 16),
            ("54", 16),
            ("55", 16),
            ("2221", 16),
            ("2500", 16),
            ("2720", 16),
            ("34", 15),
            ("37", 15),
            ("6011", 16),
            ("644", 16),
            ("649", 16),
            ("65", 16),
            ("622126", 16),
            ("300", 14),
            ("305", 14),
            ("36", 14),
            ("38", 14),
            ("3528", 16),
            ("3589", 16),
            ("62", 16),
            ("62", 19),
            ("6759", 16),
            ("50", 12),
            ("58", 19),
        ],
    )
    def test_accepts_issuer_prefix_with_its_length(self, prefix, length):
        """A Luhn-valid number with a known issuer prefix and fitting length is a card."""
        assert card_ok(card_number(prefix, length))

    @pytest.mark.parametrize(
        ("prefix", "length"),
        [
            ("4", 14),
            ("4", 15),
            ("4", 17),
            ("4", 18),
            ("51", 15),
            ("55", 19),
            ("2220", 16),
            ("2721", 16),
            ("34", 16),
            ("37", 14),
            ("35", 15),
            ("3527", 16),
            ("3590", 16),
            ("99", 16),
            ("70", 16),
            ("10", 16),
        ],
    )
    def test_rejects_issuer_prefix_with_wrong_length(self, prefix, length):
        """A Luhn-valid number whose prefix does not fit its length is not a card."""
        assert not card_ok(card_number(prefix, length))

    @pytest.mark.parametrize(
        "number", ["1763824178125", card_number("1", 13), card_number("17", 13)]
    )
    def test_rejects_luhn_valid_epoch_milliseconds(self, number):
        """A 13-digit number starting with 1 is epoch milliseconds, never a card."""
        assert luhn_ok(number)
        assert not card_ok(number)

    @pytest.mark.parametrize("length", [8, 11, 20, 24])
    def test_rejects_lengths_outside_12_to_19(self, length):
        """Card numbers have 12 to 19 digits; Luhn-valid runs of other lengths are not cards."""
        number = card_number("4", length)
        assert luhn_ok(number)
        assert not card_ok(number)

    @pytest.mark.parametrize("number", TEST_CARDS)
    def test_rejects_last_digit_change(self, number):
        """A card number with a wrong check digit is rejected despite a good prefix."""
        changed = number[:-1] + str((int(number[-1]) + 1) % 10)
        assert not card_ok(changed)


@settings(max_examples=3000, deadline=None)
@given(st.text("0123456789", min_size=1, max_size=25))
@example("4111111111111111")
@example("0")
def test_luhn_ok_equals_the_textbook_algorithm(digits: str) -> None:
    """The byte-sum Luhn agrees with doubling every second digit from the right by hand."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    assert luhn_ok(digits) == (total % 10 == 0)
