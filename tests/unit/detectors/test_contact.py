"""Table tests for redactor.detectors.contact: email addresses and phone numbers."""

from __future__ import annotations

import pytest

from redactor import Redactor

REDACTOR = Redactor()


class TestEmail:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("sent to john.doe@example.com ok", "sent to ***@example.com ok"),
            ("from <jane+receipts@mail.example.co.uk>", "from <***@mail.example.co.uk>"),
            ('{"msg": "welcome a_b-c@sub.example.org"}', '{"msg": "welcome ***@sub.example.org"}'),
            ('{"email": "jane.doe@example.com"}', '{"email": "***@example.com"}'),
            ("mailto:john.doe@example.com", "mailto:***@example.com"),
            (
                "GET /signup?email=john.doe%40example.com&plan=pro",
                "GET /signup?email=***%40example.com&plan=pro",
            ),
            ("GET /invite?to=john.doe%40example.com&x=1", "GET /invite?to=***%40example.com&x=1"),
            ("<Contact>ops@example.io</Contact>", "<Contact>***@example.io</Contact>"),
            ("a@example.com, b@example.net", "***@example.com, ***@example.net"),
        ],
    )
    def test_local_part_hidden_domain_kept(self, line, expected):
        """The local part becomes *** and the domain stays, also when %40-encoded."""
        assert REDACTOR.redact(line) == expected

    def test_scan_kind(self):
        """An address in text is reported by the email.address rule."""
        findings = REDACTOR.scan("to john.doe@example.com")
        assert [(f.kind, f.rule, f.preview) for f in findings] == [
            ("email", "email.address", "***@example.com")
        ]

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("installed left-pad@1.3.0", id="npm-version"),
            pytest.param("ping @channel now", id="mention"),
            pytest.param("user@localhost refused", id="no-tld"),
            pytest.param("decorator @app.route('/x')", id="decorator"),
            pytest.param("at 10@2.5 each", id="price"),
            pytest.param("weird name@host.123", id="numeric-tld"),
        ],
    )
    def test_near_misses(self, line):
        """At-signs that are not email addresses pass through."""
        assert REDACTOR.redact(line) == line


class TestPhone:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("call +14155552671 now", "call +*******2671 now"),
            ("call +44 20 7946 0958 now", "call +** ** **** 0958 now"),
            ("call +34 612-345-678 now", "call +** ***-**5-678 now"),
            ('{"note": "sms +4915112345678"}', '{"note": "sms +*********5678"}'),
        ],
    )
    def test_e164_masked_to_last_four(self, line, expected):
        """International numbers keep their layout and last four digits."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            ("phone=4155552671", "phone=******2671"),
            ('{"mobile": "020 7946 0404"}', '{"mobile": "*** **** 0404"}'),
            ("msisdn: 447700900123", "msisdn: ********0123"),
            ('{"phoneNumber": "(415) 555-2671"}', '{"phoneNumber": "(***) ***-2671"}'),
            ("tel=0612345678", "tel=******5678"),
        ],
    )
    def test_by_key_masked_to_last_four(self, line, expected):
        """National numbers under phone keys keep their last four digits."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("score +1234 points", id="short"),
            pytest.param("tz +05:30", id="tz-offset"),
            pytest.param("1+1=2", id="arithmetic"),
            pytest.param("delta +12.5%", id="percent"),
            pytest.param("ip 10.0.0.1 port 8443", id="ip"),
            pytest.param("phone_verified=true", id="phone-flag"),
        ],
    )
    def test_near_misses(self, line):
        """Short signed numbers and offsets pass through."""
        assert REDACTOR.redact(line) == line
