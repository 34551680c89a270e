"""Table tests for redactor.detectors.cards: PANs and track data, with near-misses."""

from __future__ import annotations

import pytest

from redactor import Redactor

REDACTOR = Redactor()

#: Published test card numbers of every network (all Luhn-valid, checked by hand).
TEST_CARDS = [
    pytest.param("4111111111111111", id="visa"),
    pytest.param("4012888888881881", id="visa-2"),
    pytest.param("4222222222222", id="visa-13"),
    pytest.param("4000056655665556", id="visa-debit"),
    pytest.param("4111111111111111110", id="visa-19"),
    pytest.param("5555555555554444", id="mastercard"),
    pytest.param("5105105105105100", id="mastercard-2"),
    pytest.param("2223003122003222", id="mastercard-2series"),
    pytest.param("378282246310005", id="amex"),
    pytest.param("371449635398431", id="amex-2"),
    pytest.param("6011111111111117", id="discover"),
    pytest.param("6011000990139424", id="discover-2"),
    pytest.param("30569309025904", id="diners"),
    pytest.param("38520000023237", id="diners-2"),
    pytest.param("3530111333300000", id="jcb"),
    pytest.param("3566002020360505", id="jcb-2"),
    pytest.param("6200000000000005", id="unionpay"),
    pytest.param("6759649826438453", id="maestro"),
]
CARD_NUMBERS = [p.values[0] for p in TEST_CARDS]

#: How each length is grouped when printed: 4-4-4-4, Amex 4-6-5, Diners 4-6-4, 4-4-4-4-3.
GROUPING = {14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4), 19: (4, 4, 4, 4, 3)}
GROUPED_CARDS = [p for p in TEST_CARDS if len(p.values[0]) in GROUPING]

#: (template, separator) pairs: where a card appears and how its digit groups are joined.
FORMATS = [
    pytest.param("paid with {pan} today", "", id="text"),
    pytest.param("paid with {pan} today", " ", id="text-spaces"),
    pytest.param("paid with {pan} today", "-", id="text-dashes"),
    pytest.param('{"note": "card {pan} declined"}', "", id="json-string"),
    pytest.param('{"ref": "{pan}", "ok": true}', " ", id="json-string-spaces"),
    pytest.param('{"amount": 12, "ref": {pan}}', "", id="json-number"),
    pytest.param("GET /pay?ref={pan}&amount=10", "", id="query"),
    pytest.param("GET /pay?ref={pan}&amount=10", "+", id="query-plus"),
    pytest.param("GET /pay?ref={pan}&amount=10", "%20", id="query-pct20"),
    pytest.param("<Note>{pan}</Note>", "", id="xml"),
    pytest.param("<Ref>{pan}</Ref>", " ", id="xml-spaces"),
    pytest.param("ref={pan} status=ok", "", id="key-value"),
    pytest.param("ref='{pan}'", "", id="single-quoted"),
    pytest.param('ref="{pan}"', "-", id="double-quoted-dashes"),
    pytest.param("(ref: {pan})", "", id="parenthesised"),
]


def masked(pan: str) -> str:
    """The default card mask: first six, stars, last four."""
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def grouped(pan: str, separator: str) -> str:
    """Print ``pan`` in its network's usual groups joined by ``separator``."""
    if not separator:
        return pan
    parts, start = [], 0
    for size in GROUPING[len(pan)]:
        parts.append(pan[start : start + size])
        start += size
    return separator.join(parts)


def render(template: str, pan: str, separator: str) -> tuple[str, str]:
    """Return the line holding the card and the line expected after redaction."""
    line = template.replace("{pan}", grouped(pan, separator))
    replacement = masked(pan)
    if template.endswith("{pan}}"):  # a bare JSON number becomes a JSON string
        replacement = f'"{replacement}"'
    return line, template.replace("{pan}", replacement)


def luhn_broken(pan: str, position: int) -> str:
    """Return ``pan`` with one digit changed, which always breaks the Luhn check."""
    digit = str((int(pan[position]) + 1) % 10)
    return pan[:position] + digit + pan[position + 1 :]


class TestPan:
    @pytest.mark.parametrize(("template", "separator"), FORMATS[:1] + FORMATS[3:4] + FORMATS[5:7])
    @pytest.mark.parametrize("pan", TEST_CARDS)
    def test_contiguous_card_of_every_network(self, pan, template, separator):
        """Contiguous test cards of every network are masked to first 6 and last 4."""
        line, expected = render(template, pan, separator)
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(("template", "separator"), FORMATS)
    @pytest.mark.parametrize("pan", GROUPED_CARDS)
    def test_card_in_every_format(self, pan, template, separator):
        """Cards are found in text, JSON, URLs, XML and key=value, grouped or not."""
        line, expected = render(template, pan, separator)
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(("template", "separator"), FORMATS)
    def test_scan_reports_card_without_the_value(self, template, separator):
        """scan reports one card.pan finding whose preview is the mask, not the PAN."""
        line, _ = render(template, "5555555555554444", separator)
        findings = REDACTOR.scan(line)
        assert [(f.kind, f.rule, f.preview) for f in findings] == [
            ("card", "card.pan", "555555******4444")
        ]
        span = line[findings[0].start : findings[0].end]
        assert span == grouped("5555555555554444", separator)

    def test_amex_four_six_five(self):
        """An Amex printed 4-6-5 is masked as one 15-digit PAN."""
        assert REDACTOR.redact("amex 3782 822463 10005 ok") == "amex 378282*****0005 ok"
        assert REDACTOR.redact("amex 3714-496353-98431 ok") == "amex 371449*****8431 ok"

    def test_several_cards_in_one_line(self):
        """Every card on a line is masked."""
        line = "a=4111111111111111 b=5555 5555 5555 4444 c=378282246310005"
        expected = "a=411111******1111 b=555555******4444 c=378282*****0005"
        assert REDACTOR.redact(line) == expected

    def test_trailing_group_is_not_swallowed(self):
        """A fifth group after a 16-digit card (an expiry year) stays visible."""
        assert REDACTOR.redact("4111 1111 1111 1111 2028") == "411111******1111 2028"

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("pan=4111111111111111", "pan=411111******1111"),
            ('{"cardNumber": "4111 1111 1111 1111"}', '{"cardNumber": "411111******1111"}'),
            ("card_number: 5555-5555-5555-4444", "card_number: 555555******4444"),
            (
                "<CardNumber>5555 5555 5555 4444</CardNumber>",
                "<CardNumber>555555******4444</CardNumber>",
            ),
        ],
    )
    def test_card_under_card_key(self, line, expected):
        """A card under a card-number key is masked the same way."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize("pan", CARD_NUMBERS)
    def test_idempotent(self, pan):
        """Redacting a redacted line changes nothing."""
        once = REDACTOR.redact(f"card {pan} ok")
        assert REDACTOR.redact(once) == once


#: Lines with long digit runs that are not card numbers: they must pass through unchanged.
NEAR_MISSES = [
    pytest.param("abc4111111111111111", id="glued-letters-before"),
    pytest.param("4111111111111111abc", id="glued-letters-after"),
    pytest.param("id=ord4111111111111111", id="glued-in-value"),
    pytest.param("41111111111111111111", id="20-digit-run"),
    pytest.param("411111111111111111111111", id="24-digit-run"),
    pytest.param("0004111111111111111", id="zero-padded-run"),
    pytest.param("ts=1763824178123 done", id="epoch-ms"),
    pytest.param("ts=1763824178125 done", id="epoch-ms-luhn-valid"),
    pytest.param('{"ts": 1763824178125}', id="epoch-ms-json"),
    pytest.param("epoch_us=1763824178123456", id="epoch-us"),
    pytest.param("req 550e8400-e29b-41d4-a716-446655440000", id="uuid"),
    pytest.param("req 123e4567-e89b-12d3-a456-426614174000", id="uuid-2"),
    pytest.param("req 550e8400-e29b-41d4-a716-600000000007", id="uuid-decimal-node"),
    pytest.param("at 2026-11-22T07:58:11.086123Z", id="iso-timestamp"),
    pytest.param("at 20261122075811123", id="compact-timestamp"),
    pytest.param("order_id=1234567890123456", id="order-id"),
    pytest.param("order 4111111111111112 shipped", id="order-id-visa-like"),
    pytest.param("ip 192.168.100.200 port 8443", id="ipv4"),
    pytest.param("ip 2001:db8:85a3::8a2e:370:7334", id="ipv6"),
    pytest.param("version 4.111.1111.1111", id="version"),
    pytest.param("amount=4111111111111.11", id="amount"),
    pytest.param("total 4,111,111,111,111,111.00 USD", id="amount-thousands"),
    pytest.param("phone 44 20 7946 0958 x", id="grouped-small-numbers"),
    pytest.param("4111 1111-1111 1111", id="mixed-separators"),
]


class TestPanNearMisses:
    @pytest.mark.parametrize("line", NEAR_MISSES)
    def test_not_a_card(self, line):
        """Long digit runs that are not card numbers pass through byte-identical."""
        assert REDACTOR.redact(line) == line
        assert REDACTOR.scan(line) == []

    @pytest.mark.parametrize("pan", CARD_NUMBERS)
    @pytest.mark.parametrize("position", [-1, 0, 5])
    def test_luhn_breaking_change(self, pan, position):
        """A test card with one digit changed is not a card."""
        line = f"ref {luhn_broken(pan, position)} ok"
        assert REDACTOR.redact(line) == line


class TestTrack:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            (
                "swipe %B4111111111111111^DOE/JOHN^2812101123456789? ok",
                "swipe [REDACTED] ok",
            ),
            ("swipe B4111111111111111^DOE/JOHN^28121011234? ok", "swipe [REDACTED] ok"),
            (
                "swipe %B5555555555554444^SAMPLE/ALEX A^3112101000000000000000? ok",
                "swipe [REDACTED] ok",
            ),
            ("swipe ;4111111111111111=28121011234567890? ok", "swipe [REDACTED] ok"),
            ("swipe ;5555555555554444=3112101? ok", "swipe [REDACTED] ok"),
            ("swipe 4111111111111111=281210112345 ok", "swipe [REDACTED] ok"),
            (
                '{"track2": ";4111111111111111=28121011234567890?"}',
                '{"track2": "[REDACTED]"}',
            ),
            (
                "track_1=%B4111111111111111^DOE/JOHN^2812101123456789?",
                "track_1=[REDACTED]",
            ),
        ],
    )
    def test_track_data_removed_whole(self, line, expected):
        """Track 1 and track 2 data are removed whole, sentinels included."""
        assert REDACTOR.redact(line) == expected
        assert "4111" not in REDACTOR.redact(line)
        assert "5555" not in REDACTOR.redact(line)

    def test_track_scan_kind(self):
        """Track data is reported as kind track, not card."""
        findings = REDACTOR.scan("x %B4111111111111111^DOE/JOHN^2812101123456789? y")
        assert [(f.kind, f.rule) for f in findings] == [("track", "track.track1")]

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("ref 4111111111111112=2812101 ok", id="no-sentinel-bad-luhn"),
            pytest.param("q=1234567890123=2812101 ok", id="equation"),
            pytest.param("name^DOE/JOHN^ value", id="carets-without-pan"),
        ],
    )
    def test_not_track_data(self, line):
        """Lines that only resemble track data pass through."""
        assert REDACTOR.redact(line) == line
