"""Table test: ordinary log lines pass through every detector byte-identical."""

from __future__ import annotations

import pytest

from redactor import Redactor

REDACTOR = Redactor()

BENIGN_LINES = [
    pytest.param("request_id=req_9k3zhg0zapmdqk status=200", id="request-id"),
    pytest.param("[c1a82eeb-3891-212e] handled in 12ms", id="short-request-id"),
    pytest.param("trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7", id="trace"),
    pytest.param("user 550e8400-e29b-41d4-a716-446655440000 logged in", id="uuid"),
    pytest.param("job 123e4567-e89b-12d3-a456-426614174000 done", id="uuid-2"),
    pytest.param("2026-11-22T07:58:11.086Z INFO started", id="iso-timestamp"),
    pytest.param("2026-11-22 07:58:17,007 - app - WARNING - slow", id="python-timestamp"),
    pytest.param("Sun, 22 Nov 2026 07:58:11 GMT", id="http-date"),
    pytest.param('{"epoch": 1795334291, "epoch_ms": 1795334291086}', id="epochs"),
    pytest.param("client 192.168.100.200:51234 -> 10.0.0.1:443", id="ipv4"),
    pytest.param("peer [2001:db8:85a3::8a2e:370:7334]:8443", id="ipv6"),
    pytest.param("mac 00:1a:2b:3c:4d:5e", id="mac"),
    pytest.param(
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", id="sha256"
    ),
    pytest.param("commit da39a3ee5e6b4b0d3255bfef95601890afd80709", id="sha1"),
    pytest.param('etag W/"5e15153d-120f"', id="etag"),
    pytest.param("version 1.2.3-beta.4+build.20231101", id="semver"),
    pytest.param("python 3.11.7 openssl 3.0.13", id="versions"),
    pytest.param("amount=1234.56 currency=EUR total=1,234,567.89", id="amounts"),
    pytest.param("charged 4111.11 USD", id="amount-card-like"),
    pytest.param('{"level": "info", "msg": "payment authorised", "duration_ms": 2119}', id="json"),
    pytest.param("GET /api/v2/orders?page=2&per_page=50 200 512b", id="access-log"),
    pytest.param("order_id=ord_1234567890 items=3", id="order-id"),
    pytest.param("card_brand=visa last4=1111 exp_month=12", id="card-metadata"),
    pytest.param("password reset email sent to user_id=usr_MRKRKltVIabv", id="password-prose"),
    pytest.param("token refreshed; token_type=Bearer expires_in=3600", id="token-prose"),
    pytest.param("pid=31337 ppid=1 threads=16 rss=524288000", id="process"),
    pytest.param("host=auth-gateway-5ddeb69ef-fnmhf pod=checkout-web-37ae2c8ee-tq204", id="k8s"),
]


class TestBenignLines:
    @pytest.mark.parametrize("line", BENIGN_LINES)
    def test_passes_through_unchanged(self, line):
        """Ids, timestamps, addresses, hashes, versions and amounts are not redacted."""
        assert REDACTOR.redact(line) == line
        assert REDACTOR.scan(line) == []

    def test_counts_unchanged(self):
        """Redacting benign lines records no findings."""
        redactor = Redactor()
        for param in BENIGN_LINES:
            redactor.redact(param.values[0])
        assert redactor.counts() == {}
