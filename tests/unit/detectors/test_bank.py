"""Table tests for redactor.detectors.bank: IBANs, routing numbers and accounts by key."""

from __future__ import annotations

import pytest

from redactor import Redactor
from tests.unit.validators.test_bank import REGISTRY_IBANS

REDACTOR = Redactor()

#: Example IBANs from the SWIFT IBAN registry, shared with the validator tests.
IBANS = REGISTRY_IBANS


def spaced(iban: str) -> str:
    """Print an IBAN in groups of four, as on paper."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


def masked(iban: str) -> str:
    return iban[:2] + "*" * (len(iban) - 6) + iban[-4:]


class TestIban:
    @pytest.mark.parametrize("iban", IBANS)
    @pytest.mark.parametrize(
        "template",
        [
            pytest.param("transfer to {iban} today", id="text"),
            pytest.param('{"beneficiary": "{iban}"}', id="json"),
            pytest.param("GET /payout?dest={iban}&ccy=EUR", id="query"),
            pytest.param("<Dest>{iban}</Dest>", id="xml"),
            pytest.param("({iban})", id="parenthesised"),
        ],
    )
    def test_compact_iban_masked(self, iban, template):
        """A compact IBAN is masked to country code, stars and last four."""
        line = template.replace("{iban}", iban)
        assert REDACTOR.redact(line) == template.replace("{iban}", masked(iban))

    @pytest.mark.parametrize("iban", IBANS)
    def test_spaced_iban_masked(self, iban):
        """An IBAN printed in groups of four is found and masked without spaces."""
        line = f"transfer to {spaced(iban)} today"
        assert REDACTOR.redact(line) == f"transfer to {masked(iban)} today"

    def test_scan_reports_iban(self):
        """scan reports the IBAN's span and masked preview."""
        line = "to DE89 3704 0044 0532 0130 00 now"
        findings = REDACTOR.scan(line)
        assert [(f.kind, f.rule, f.preview) for f in findings] == [
            ("iban", "iban.iban", "DE****************3000")
        ]
        assert line[findings[0].start : findings[0].end] == "DE89 3704 0044 0532 0130 00"

    def test_iban_by_key(self):
        """An IBAN under an iban key is masked the same way."""
        assert REDACTOR.redact('{"iban": "NL91ABNA0417164300"}') == '{"iban": "NL************4300"}'

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("transfer to DE89370400440532013001 today", id="wrong-checksum"),
            pytest.param("transfer to DE88370400440532013000 today", id="wrong-check-digits"),
            pytest.param("transfer to GB28 NWBK 6016 1331 9268 19 today", id="spaced-wrong"),
            pytest.param("transfer to DE8937040044053201300 today", id="too-short"),
            pytest.param("transfer to XX89370400440532013000 today", id="unknown-country"),
            pytest.param("ref XDE89370400440532013000", id="glued-before"),
            pytest.param("ref DE89370400440532013000X", id="glued-after"),
            pytest.param("sku AB12CDEF34567890 ok", id="sku"),
        ],
    )
    def test_near_misses(self, line):
        """IBAN-shaped strings that fail the registry or the checksum pass through."""
        assert REDACTOR.redact(line) == line


class TestAbaRouting:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("routing 021000021", "routing *****0021"),
            ("routing number 011000015.", "routing number *****0015."),
            ("Routing #026009593 ok", "Routing #*****9593 ok"),
            ("ABA 021000021", "ABA *****0021"),
            ("rtn: 026009593", "rtn: *****9593"),
        ],
    )
    def test_routing_number_after_label(self, line, expected):
        """A checksum-valid routing number after 'routing' or 'ABA' keeps its last four."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("routing 021000022", id="bad-checksum"),
            pytest.param("order 021000021 shipped", id="no-label"),
            pytest.param("routing 0210000210", id="ten-digits"),
            pytest.param("rerouting 021000021x", id="glued"),
        ],
    )
    def test_near_misses(self, line):
        """Nine digits without a label or with a bad checksum pass through."""
        assert REDACTOR.redact(line) == line


class TestBankAccountByKey:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("account_number=12345678901", "account_number=*******8901"),
            ('{"accountNumber": "000123456789"}', '{"accountNumber": "********6789"}'),
            ("routing_number=021000021", "routing_number=*****0021"),
            ("bank_account: 98765432", "bank_account: ****5432"),
            ("acct_no=1234", "acct_no=****"),
            ("sort_code=12-34-56", "sort_code=****"),
            (
                "<AccountNumber>12345678901</AccountNumber>",
                "<AccountNumber>*******8901</AccountNumber>",
            ),
            ("bsb=062-000", "bsb=****"),
        ],
    )
    def test_at_most_last_four_shown(self, line, expected):
        """Account numbers, routing numbers and sort codes under their keys show at most 4."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(
        "line", ["account_id=acc_42", "accounting=true", "account_type=checking"]
    )
    def test_near_misses(self, line):
        """Other account keys are left alone."""
        assert REDACTOR.redact(line) == line
