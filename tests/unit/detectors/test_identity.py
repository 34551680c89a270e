"""Table tests for redactor.detectors.identity and identity numbers found by key."""

from __future__ import annotations

import pytest

from redactor import Redactor

REDACTOR = Redactor()


class TestSsn:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("ssn 123-45-6789 on file", "ssn ***-**-6789 on file"),
            ('{"note": "SSN 078-05-1120"}', '{"note": "SSN ***-**-1120"}'),
            ("applicant (665-12-3456)", "applicant (***-**-3456)"),
            ("<Note>899-99-9999</Note>", "<Note>***-**-9999</Note>"),
        ],
    )
    def test_dashed_ssn_masked_to_last_four(self, line, expected):
        """A dashed SSN keeps its dashes and last four digits."""
        assert REDACTOR.redact(line) == expected

    def test_scan_kind(self):
        """An SSN is reported as national_id by the national_id.ssn rule."""
        findings = REDACTOR.scan("ssn 123-45-6789")
        assert [(f.kind, f.rule) for f in findings] == [("national_id", "national_id.ssn")]

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("ssn 000-45-6789 on file", id="area-000"),
            pytest.param("ssn 666-45-6789 on file", id="area-666"),
            pytest.param("ssn 912-45-6789 on file", id="area-9xx"),
            pytest.param("ssn 123-00-6789 on file", id="group-00"),
            pytest.param("ssn 123-45-0000 on file", id="serial-0000"),
            pytest.param("call 555-123-4567 now", id="us-phone"),
            pytest.param("date 2026-11-22", id="date"),
            pytest.param("part 1123-45-6789", id="longer-run"),
            pytest.param("uuid 9f0e-123-45-6789", id="dash-glued"),
            pytest.param("order 123456789", id="bare-digits"),
        ],
    )
    def test_near_misses(self, line):
        """Never-issued SSNs and other dashed numbers pass through."""
        assert REDACTOR.redact(line) == line


class TestSpanishId:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("dni 12345678Z ok", "dni *****678Z ok"),
            ("dni 87654321-X ok", "dni *****321-X ok"),
            ("nie X1234567L ok", "nie *****567L ok"),
            ("nie Y-1234567-X ok", "nie *-****567-X ok"),
            ("nie Z7654321H ok", "nie *****321H ok"),
        ],
    )
    def test_valid_check_letter_masked(self, line, expected):
        """DNI and NIE numbers with the right check letter keep their last four."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("dni 12345678A ok", id="dni-wrong-letter"),
            pytest.param("nie X1234567A ok", id="nie-wrong-letter"),
            pytest.param("sku 12345678I ok", id="letter-never-used"),
            pytest.param("ref A12345678Z ok", id="glued-before"),
            pytest.param("ref 12345678ZZ ok", id="glued-after"),
        ],
    )
    def test_near_misses(self, line):
        """Wrong check letters and glued codes pass through."""
        assert REDACTOR.redact(line) == line


class TestIdentityByKey:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("passport=X12345678", "passport=*****5678"),
            ('{"passportNumber": "C01X00T47"}', '{"passportNumber": "*****0T47"}'),
            ("id_number=AB1234567", "id_number=*****4567"),
            ("document_number: P99887766", "document_number: *****7766"),
            ("tax_id=12-3456789", "tax_id=**-***6789"),
            ("SSN=123456789", "SSN=*****6789"),
            ("<NationalId>AB123456C</NationalId>", "<NationalId>*****456C</NationalId>"),
            ("nif=B12345674", "nif=*****5674"),
        ],
    )
    def test_masked_to_last_four(self, line, expected):
        """Document numbers under identity keys keep at most their last four."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize("line", ["passport_country=ES", "id=42", "document_type=passport"])
    def test_near_misses(self, line):
        """Keys about documents that hold no number are left alone."""
        assert REDACTOR.redact(line) == line
