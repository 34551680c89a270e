"""Tests for redactor.validators.identity: US SSN structure, Spanish DNI/NIF and NIE."""

from __future__ import annotations

import pytest

from redactor.validators import nie_ok, nif_ok, ssn_ok

DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


class TestSsnOk:
    @pytest.mark.parametrize("digits", ["123456789", "078051120", "665123456", "899999999"])
    def test_accepts_issuable_numbers(self, digits):
        """Numbers outside the never-issued areas, groups and serials pass."""
        assert ssn_ok(digits)

    @pytest.mark.parametrize("area", ["000", "666", "900", "912", "999"])
    def test_rejects_never_issued_areas(self, area):
        """Areas 000, 666 and 900-999 are never issued."""
        assert not ssn_ok(area + "456789")

    def test_rejects_group_00(self):
        """Group 00 is never issued."""
        assert not ssn_ok("123006789")

    def test_rejects_serial_0000(self):
        """Serial 0000 is never issued."""
        assert not ssn_ok("123450000")

    @pytest.mark.parametrize("value", ["", "12345678", "1234567890", "123-45-6789", "12345678x"])
    def test_rejects_wrong_length_and_non_digits(self, value):
        """Only the nine bare digits are accepted."""
        assert not ssn_ok(value)


class TestNifOk:
    @pytest.mark.parametrize("value", ["12345678Z", "00000000T", "87654321X", "99999999R"])
    def test_accepts_correct_check_letter(self, value):
        """Eight digits followed by their mod-23 letter are a valid DNI."""
        assert nif_ok(value)

    @pytest.mark.parametrize("value", ["12345678Z", "00000000T", "87654321X"])
    def test_rejects_every_other_letter(self, value):
        """Only one check letter fits a given number."""
        accepted = [c for c in DNI_LETTERS if nif_ok(value[:8] + c)]
        assert accepted == [value[8]]

    @pytest.mark.parametrize("value", ["12345678z", "1234567Z", "123456789Z", "1234567AZ", ""])
    def test_rejects_malformed_values(self, value):
        """Lower-case letters, wrong digit counts and letters among digits are rejected."""
        assert not nif_ok(value)


class TestNieOk:
    @pytest.mark.parametrize("value", ["X1234567L", "Y1234567X", "Z7654321H", "X0000000T"])
    def test_accepts_correct_check_letter(self, value):
        """X/Y/Z stand for 0/1/2 in the mod-23 check."""
        assert nie_ok(value)

    @pytest.mark.parametrize("value", ["X1234567L", "Y1234567X", "Z7654321H"])
    def test_rejects_every_other_letter(self, value):
        """Only one check letter fits a given NIE."""
        accepted = [c for c in DNI_LETTERS if nie_ok(value[:8] + c)]
        assert accepted == [value[8]]

    @pytest.mark.parametrize("value", ["W1234567L", "x1234567L", "12345678Z", "X123456L", ""])
    def test_rejects_other_leading_letters_and_lengths(self, value):
        """An NIE starts with upper-case X, Y or Z and has nine characters."""
        assert not nie_ok(value)
