"""Tests for redactor.validators.bank: IBAN mod-97 and ABA routing checksums."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor.validators import aba_routing_ok, iban_ok
from redactor.validators.bank import IBAN_LENGTHS

#: Example IBANs from the SWIFT IBAN registry (each checked by hand against mod-97).
REGISTRY_IBANS = [
    "DE89370400440532013000",
    "GB29NWBK60161331926819",
    "FR1420041010050500013M02606",
    "ES9121000418450200051332",
    "NL91ABNA0417164300",
    "IT60X0542811101000000123456",
    "BE68539007547034",
    "CH9300762011623852957",
    "AT611904300234573201",
    "PL61109010140000071219812874",
    "SE4550000000058398257466",
    "NO9386011117947",
    "DK5000400440116243",
    "FI2112345600000785",
    "PT50000201231234567890154",
    "IE29AIBK93115212345678",
    "LU280019400644750000",
    "GR1601101250000000012300695",
    "SA0380000000608010167519",
    "AE070331234567890123456",
    "BR1800360305000010009795493C1",
]

VALID_ROUTING = ["021000021", "011000015", "026009593"]


def aba_complete(body: str) -> str:
    """Append the 3-7-1 check digit to eight digits (independent of the code under test)."""
    total = sum(w * int(c) for w, c in zip((3, 7, 1, 3, 7, 1, 3, 7), body, strict=True))
    return body + str((10 - total % 10) % 10)


class TestIbanOk:
    @pytest.mark.parametrize("iban", REGISTRY_IBANS)
    def test_accepts_registry_examples(self, iban):
        """Every registry example IBAN is valid."""
        assert iban_ok(iban)

    @pytest.mark.parametrize("iban", REGISTRY_IBANS)
    def test_rejects_every_other_check_digit_pair(self, iban):
        """Exactly one pair of check digits makes an IBAN valid."""
        accepted = [f"{n:02d}" for n in range(100) if iban_ok(iban[:2] + f"{n:02d}" + iban[4:])]
        assert accepted == [iban[2:4]]

    @pytest.mark.parametrize("iban", REGISTRY_IBANS)
    def test_rejects_single_digit_changes_in_the_account_part(self, iban):
        """Changing any one digit after the check digits breaks mod-97."""
        accepted = [
            iban[:i] + d + iban[i + 1 :]
            for i in range(4, len(iban))
            if iban[i].isdigit()
            for d in "0123456789"
            if d != iban[i] and iban_ok(iban[:i] + d + iban[i + 1 :])
        ]
        assert accepted == []

    @pytest.mark.parametrize("iban", REGISTRY_IBANS)
    def test_rejects_wrong_lengths(self, iban):
        """An IBAN one character short or long for its country is rejected."""
        assert not iban_ok(iban[:-1])
        assert not iban_ok(iban + "0")

    @pytest.mark.parametrize(
        "iban",
        ["XX89370400440532013000", "ZZ29NWBK60161331926819", "US64SVBKUS6S3300958879", "QQ00"],
    )
    def test_rejects_unknown_countries(self, iban):
        """Country codes that are not in the registry are rejected."""
        assert not iban_ok(iban)

    @pytest.mark.parametrize(
        "iban",
        [
            "",
            "DE",
            "DE89 3704 0044 0532 0130 00",
            "de89370400440532013000",
            "DEAB370400440532013000",
            "DE89370400440532013-00",
            "DE8937040044053201300０",
        ],
    )
    def test_rejects_malformed_input(self, iban):
        """Spaces, lower case, letter check digits and non-ASCII characters are rejected."""
        assert not iban_ok(iban)


class TestAbaRoutingOk:
    @pytest.mark.parametrize("number", VALID_ROUTING)
    def test_accepts_known_routing_numbers(self, number):
        """Published Federal Reserve routing numbers pass."""
        assert aba_routing_ok(number)

    @pytest.mark.parametrize("number", VALID_ROUTING)
    def test_rejects_every_single_digit_change(self, number):
        """Changing any one digit of a routing number fails the 3-7-1 checksum."""
        accepted = [
            number[:i] + d + number[i + 1 :]
            for i in range(9)
            for d in "0123456789"
            if d != number[i] and aba_routing_ok(number[:i] + d + number[i + 1 :])
        ]
        assert accepted == []

    @pytest.mark.parametrize("head", ["00", "05", "12", "21", "32", "61", "72", "80"])
    def test_accepts_assigned_prefixes(self, head):
        """Checksum-valid numbers in the Federal Reserve's assigned ranges pass."""
        assert aba_routing_ok(aba_complete(head + "123456"))

    @pytest.mark.parametrize("head", ["13", "20", "33", "50", "60", "73", "79", "81", "99"])
    def test_rejects_unassigned_prefixes(self, head):
        """Checksum-valid numbers outside the assigned prefix ranges are rejected."""
        assert not aba_routing_ok(aba_complete(head + "123456"))

    @pytest.mark.parametrize(
        "value", ["", "02100002", "0210000210", "02100002a", "021 000 021", "０21000021"]
    )
    def test_rejects_wrong_length_and_non_digits(self, value):
        """A routing number is exactly nine ASCII digits."""
        assert not aba_routing_ok(value)


def _iban_ok_by_the_letter(iban: str) -> bool:
    """ISO 7064 mod 97-10 one character at a time, as the standard describes it."""
    if not iban.isascii() or not iban.isalnum() or not iban[2:4].isdigit():
        return False
    if len(iban) != IBAN_LENGTHS.get(iban[:2], -1):
        return False
    remainder = 0
    for char in iban[4:] + iban[:4]:
        if char.isdigit():
            remainder = (remainder * 10 + int(char)) % 97
        elif "A" <= char <= "Z":
            remainder = (remainder * 100 + ord(char) - 55) % 97
        else:
            return False
    return remainder == 1


@st.composite
def _ibans(draw: st.DrawFn) -> str:
    """Registry-length candidates, about half with check digits that make them valid."""
    country = draw(st.sampled_from(["DE", "GB", "FR", "NO", "LC", "MT", "de", "XX"]))
    length = IBAN_LENGTHS.get(country.upper(), 22) + draw(st.sampled_from([0, 0, 0, -1, 1]))
    bban = draw(
        st.text("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=length - 4, max_size=length - 4)
    )
    if draw(st.booleans()):
        value = 0
        for char in bban + country.upper() + "00":
            value = value * (10 if char.isdigit() else 100) + int(char, 36)
        check = f"{98 - value % 97:02d}"
    else:
        check = draw(st.text("0123456789", min_size=2, max_size=2))
    iban = country + check + bban
    if draw(st.integers(0, 9)) == 0:
        iban = iban.lower() if draw(st.booleans()) else iban[:-3] + " " + iban[-2:]
    return iban


@settings(max_examples=2000, deadline=None)
@given(_ibans())
@example("DE89370400440532013000")
@example("de89370400440532013000")
def test_iban_ok_equals_the_checksum_by_the_letter(iban: str) -> None:
    """The whole-number checksum agrees with the per-character one on any input."""
    assert iban_ok(iban) == _iban_ok_by_the_letter(iban)
