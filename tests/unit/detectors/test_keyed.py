"""Table tests for redactor.detectors.keyed: values found by the key in front of them."""

from __future__ import annotations

import pytest

from redactor import Redactor

REDACTOR = Redactor()


class TestKeyValue:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            pytest.param("cvv=123", "cvv=[REDACTED]", id="equals"),
            pytest.param("cvv=123 amount=10.00", "cvv=[REDACTED] amount=10.00", id="equals-more"),
            pytest.param('{"cvc": "123"}', '{"cvc": "[REDACTED]"}', id="json-string"),
            pytest.param('{"cvv":123,"x":1}', '{"cvv":"[REDACTED]","x":1}', id="json-number"),
            pytest.param("securityCode: 123", "securityCode: [REDACTED]", id="camel-colon"),
            pytest.param("card-verification=123", "card-verification=[REDACTED]", id="kebab"),
            pytest.param("CVV2: 456", "CVV2: [REDACTED]", id="upper"),
            pytest.param(
                "GET /pay?cvv2=123&amount=5", "GET /pay?cvv2=[REDACTED]&amount=5", id="query"
            ),
            pytest.param(
                "card_security_code='9876'", "card_security_code='[REDACTED]'", id="quoted"
            ),
            pytest.param("cvc => 321", "cvc => [REDACTED]", id="fat-arrow"),
            pytest.param("cvv_1=123", "cvv_1=[REDACTED]", id="trailing-counter"),
            pytest.param("params[cvv]=123&x=1", "params[cvv]=[REDACTED]&x=1", id="bracket-key"),
            pytest.param("body=cvv%3D123", "body=cvv%3D[REDACTED]", id="url-encoded-equals"),
            pytest.param(
                '{"log": "{\\"cvv\\": \\"123\\"}"}',
                '{"log": "{\\"cvv\\": \\"[REDACTED]\\"}"}',
                id="escaped-json",
            ),
        ],
    )
    def test_cvv_in_every_syntax(self, line, expected):
        """A CVV is removed whole whatever the key spelling and separator."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            pytest.param("pin=1234", "pin=[REDACTED]", id="equals"),
            pytest.param("PIN: 1234", "PIN: [REDACTED]", id="upper"),
            pytest.param("pin_block=0412AC89ABCDEF67", "pin_block=[REDACTED]", id="pin-block"),
            pytest.param(
                '{"pinBlock": "0412AC89ABCDEF67"}', '{"pinBlock": "[REDACTED]"}', id="json"
            ),
            pytest.param("pinCode=9876;", "pinCode=[REDACTED];", id="camel"),
        ],
    )
    def test_pin_in_every_syntax(self, line, expected):
        """A PIN or PIN block is removed whole."""
        assert REDACTOR.redact(line) == expected

    def test_scan_reports_kind_of_the_key(self):
        """A keyed hit carries the kind of its key and the key.value rule."""
        findings = REDACTOR.scan("cvv=123 pin=4321")
        assert [(f.kind, f.rule, f.preview) for f in findings] == [
            ("cvv", "key.value", "[REDACTED]"),
            ("pin", "key.value", "[REDACTED]"),
        ]

    def test_existing_placeholder_kept(self):
        """An already redacted value stays as it is."""
        assert REDACTOR.redact("cvv=[REDACTED]") == "cvv=[REDACTED]"

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("token_type=Bearer", id="token-type"),
            pytest.param("request_id=4a41f013-b8a0-562d", id="request-id"),
            pytest.param("shipping=express", id="shipping"),
            pytest.param("card=visa", id="bare-card"),
            pytest.param("card_brand=mastercard", id="card-brand"),
            pytest.param("trace_cid=abc123", id="short-term-suffix"),
            pytest.param("bypass=true", id="pass-inside-word"),
            pytest.param("spinner=on", id="pin-inside-word"),
            pytest.param("cvv check passed", id="no-separator"),
            pytest.param("pin: {", id="object-value"),
        ],
    )
    def test_non_sensitive_keys_untouched(self, line):
        """Keys that are not sensitive, or only contain a sensitive word, are left alone."""
        assert REDACTOR.redact(line) == line


class TestKeyXml:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            pytest.param("<cvv>123</cvv>", "<cvv>[REDACTED]</cvv>", id="cvv"),
            pytest.param("<CVV2>123</CVV2>", "<CVV2>[REDACTED]</CVV2>", id="upper"),
            pytest.param(
                '<ns:SecurityCode type="x">123</ns:SecurityCode>',
                '<ns:SecurityCode type="x">[REDACTED]</ns:SecurityCode>',
                id="namespace-attribute",
            ),
            pytest.param(
                "<PinBlock>0412AC89ABCDEF67</PinBlock>", "<PinBlock>[REDACTED]</PinBlock>", id="pin"
            ),
            pytest.param(
                "<password2>hunter2</password2>", "<password2>[REDACTED]</password2>", id="counter"
            ),
        ],
    )
    def test_element_text_removed(self, line, expected):
        """The text of an element named after a sensitive key is masked."""
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(
        "line", ["<amount>123</amount>", "<card>visa</card>", "<tokenType>Bearer</tokenType>"]
    )
    def test_other_elements_untouched(self, line):
        """Elements with ordinary names pass through."""
        assert REDACTOR.redact(line) == line


class TestKeyAfterAWordThatExtendsIt:
    def test_key_found_when_a_longer_term_reads_across_the_word_before(self):
        """'0x api_key=' holds the term api_key although x_api_key reads across '0x '."""
        for backend in ("python", "hyperscan"):
            redactor = Redactor(backend=backend)
            assert redactor.redact("ref 0x api_key=s3cr3t ok") == "ref 0x api_key=[REDACTED] ok"
