"""Table tests for redactor.detectors.secrets and secrets found by key, with near-misses.

Every credential here is generated from a seeded random source in the vendor's shape;
none is a real key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string

import pytest

from redactor import Redactor

REDACTOR = Redactor()
RNG = random.Random(20261122)
ALNUM = string.ascii_letters + string.digits
UPPER_DIGITS = string.ascii_uppercase + string.digits


def generated(length: int, alphabet: str = ALNUM) -> str:
    """Return a random string of ``length`` characters drawn from ``alphabet``."""
    return "".join(RNG.choice(alphabet) for _ in range(length))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def generated_jwt() -> str:
    """Return a structurally valid JWT with a random subject and signature."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": generated(12), "iat": 1763824178}).encode())
    return f"{header}.{payload}.{b64url(RNG.randbytes(32))}"


def generated_pem() -> tuple[str, str]:
    """Return a private key block and its base64 body."""
    body = base64.b64encode(RNG.randbytes(300)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    block = f"-----BEGIN RSA PRIVATE KEY-----\n{lines}\n-----END RSA PRIVATE KEY-----"
    return block, lines


#: (prefix kept, secret body) in each vendor's published shape.
VENDOR_KEYS = [
    pytest.param("sk_live_", generated(24), id="stripe-live"),
    pytest.param("sk_test_", generated(24), id="stripe-test"),
    pytest.param("rk_live_", generated(24), id="stripe-restricted"),
    pytest.param("whsec_", generated(32), id="stripe-webhook"),
    pytest.param("AKIA", generated(16, UPPER_DIGITS), id="aws-access-key-id"),
    pytest.param("ASIA", generated(16, UPPER_DIGITS), id="aws-session-key-id"),
    pytest.param("ghp_", generated(36), id="github-pat-classic"),
    pytest.param("gho_", generated(36), id="github-oauth"),
    pytest.param("github_pat_", generated(22) + "_" + generated(59), id="github-pat-fine"),
    pytest.param("glpat-", generated(20), id="gitlab"),
    pytest.param(
        "xoxb-",
        f"{generated(12, string.digits)}-{generated(12, string.digits)}-{generated(24)}",
        id="slack-bot",
    ),
    pytest.param("AIza", generated(35, ALNUM + "_-"), id="google-api-key"),
    pytest.param("npm_", generated(36), id="npm"),
    pytest.param("shpat_", generated(32, "0123456789abcdef"), id="shopify"),
]


class TestVendorKeys:
    @pytest.mark.parametrize(("prefix", "body"), VENDOR_KEYS)
    @pytest.mark.parametrize(
        "template",
        [
            pytest.param("using {key} for charge", id="text"),
            pytest.param('{"config": "{key}"}', id="json"),
            pytest.param("GET /hook?k={key}&x=1", id="query"),
            pytest.param("<Value>{key}</Value>", id="xml"),
        ],
    )
    def test_body_removed_prefix_kept(self, prefix, body, template):
        """The secret body is removed and the vendor's public prefix stays readable."""
        line = template.replace("{key}", prefix + body)
        expected = template.replace("{key}", prefix + "[REDACTED]")
        assert REDACTOR.redact(line) == expected

    @pytest.mark.parametrize(("prefix", "body"), VENDOR_KEYS)
    def test_scan_reports_secret_without_the_value(self, prefix, body):
        """scan reports one secret finding whose preview does not contain the body."""
        findings = REDACTOR.scan(f"key {prefix}{body} end")
        assert [f.kind for f in findings] == ["secret"]
        assert findings[0].rule.startswith("secret.")
        assert body not in findings[0].preview

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("sk_live_x", id="stripe-too-short"),
            pytest.param("prefix sk_live_ then nothing", id="stripe-prefix-only"),
            pytest.param("AKIAEXAMPLE", id="aws-too-short"),
            pytest.param("task_live_abcdefghijklmnop", id="stripe-glued"),
            pytest.param("ghp_short", id="github-too-short"),
            pytest.param("see glpat-docs for help", id="gitlab-word"),
        ],
    )
    def test_near_misses(self, line):
        """Prefixes without a full-length body pass through."""
        assert REDACTOR.redact(line) == line


class TestJwt:
    @pytest.mark.parametrize(
        "template",
        [
            pytest.param("session {jwt} accepted", id="text"),
            pytest.param('{"msg": "got {jwt}"}', id="json"),
            pytest.param("GET /cb?state=ok&t={jwt}&x=1", id="query"),
        ],
    )
    def test_removed_whole(self, template):
        """A JWT is removed whole: header, payload and signature."""
        jwt = generated_jwt()
        assert REDACTOR.redact(template.replace("{jwt}", jwt)) == template.replace(
            "{jwt}", "[REDACTED]"
        )

    def test_scan_rule(self):
        """A bare JWT is reported by the secret.jwt rule."""
        findings = REDACTOR.scan(f"x {generated_jwt()} y")
        assert [(f.kind, f.rule) for f in findings] == [("secret", "secret.jwt")]

    @pytest.mark.parametrize("line", ["eyJhbGciOi", "header eyJ0eXAi.only", "keyJson.eyJ"])
    def test_near_misses(self, line):
        """Fragments that start like a JWT but are not one pass through."""
        assert REDACTOR.redact(line) == line


class TestPrivateKey:
    def test_block_body_removed(self):
        """The body and END line of a private key block are removed."""
        block, body = generated_pem()
        out = REDACTOR.redact(f"loaded {block} ok")
        assert out == "loaded -----BEGIN RSA PRIVATE KEY-----[REDACTED] ok"
        assert body.splitlines()[0] not in out

    def test_escaped_newlines_in_json(self):
        """A key block with JSON-escaped newlines loses its body and END line."""
        block, _ = generated_pem()
        line = json.dumps({"msg": block})
        assert REDACTOR.redact(line) == '{"msg": "-----BEGIN RSA PRIVATE KEY-----[REDACTED]"}'

    @pytest.mark.parametrize(
        "line",
        [
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEF\n-----END PUBLIC KEY-----",
            "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIEAgAA\n-----END CERTIFICATE-----",
        ],
    )
    def test_public_material_untouched(self, line):
        """Public keys and certificates are not secrets."""
        assert REDACTOR.redact(line) == line


class TestBearer:
    @pytest.mark.parametrize(
        "template",
        [
            pytest.param("Authorization: Bearer {token}", id="header"),
            pytest.param("authorization=Bearer {token}", id="key-value"),
            pytest.param('{"Authorization": "Bearer {token}"}', id="json"),
            pytest.param("sent header Bearer {token} upstream", id="free-text"),
        ],
    )
    def test_token_removed_scheme_kept(self, template):
        """The word Bearer stays and the token after it is removed."""
        token = generated(40)
        out = REDACTOR.redact(template.replace("{token}", token))
        assert out == template.replace("{token}", "[REDACTED]")

    def test_basic_credentials_removed(self):
        """Basic credentials after the Basic scheme are removed."""
        credentials = base64.b64encode(f"svc:{generated(16)}".encode()).decode()
        out = REDACTOR.redact(f"Authorization: Basic {credentials}")
        assert out == "Authorization: Basic [REDACTED]"

    @pytest.mark.parametrize(
        "line",
        [
            pytest.param("token_type: Bearer", id="token-type"),
            pytest.param('{"token_type": "Bearer", "expires_in": 3600}', id="token-type-json"),
            pytest.param("bearer authentication failed for client", id="prose"),
            pytest.param("Bearer realm=api", id="challenge"),
            pytest.param("User authenticated", id="authenticated"),
            pytest.param("token expired", id="token-expired"),
            pytest.param("refreshing token for user 42", id="token-prose"),
            pytest.param("auth ok after 3 retries", id="auth-prose"),
        ],
    )
    def test_near_misses(self, line):
        """Prose about tokens and token types passes through."""
        assert REDACTOR.redact(line) == line


#: Keys whose value is a secret whatever its shape.
SECRET_KEYS = [
    "x-api-key",
    "X-Api-Key",
    "api_key",
    "apiKey",
    "token",
    "access_token",
    "accessToken",
    "refresh_token",
    "client_secret",
    "secret",
    "private_key",
    "stripeApiKey",
    "session_id",
]


class TestSecretKeys:
    @pytest.mark.parametrize("key", SECRET_KEYS)
    @pytest.mark.parametrize(
        "template",
        [
            pytest.param("{key}={value} next=1", id="equals"),
            pytest.param("{key}: {value}", id="colon"),
            pytest.param('{"{key}": "{value}", "n": 1}', id="json"),
            pytest.param("GET /api?{key}={value}&page=2", id="query"),
            pytest.param("<{key}>{value}</{key}>", id="xml"),
        ],
    )
    def test_value_removed(self, key, template):
        """The value under a secret key is removed and the key stays."""
        value = generated(32)
        line = template.replace("{key}", key).replace("{value}", value)
        expected = template.replace("{key}", key).replace("{value}", "[REDACTED]")
        assert REDACTOR.redact(line) == expected

    def test_sha256_hex_untouched(self):
        """A content hash under a non-secret key is not a secret."""
        digest = hashlib.sha256(b"release artifact").hexdigest()
        line = f"artifact sha256={digest} ok"
        assert REDACTOR.redact(line) == line

    @pytest.mark.parametrize(
        "line",
        [
            "token_type=bearer",
            "tokenType: refresh",
            "next_token_at=2026-11-22T07:58:11Z",
            "secretary=jane",
            "secret santa draw done",
        ],
    )
    def test_near_misses(self, line):
        """Keys that only contain a secret word are left alone."""
        assert REDACTOR.redact(line) == line


class TestCredentialThatLooksLikeACard:
    def test_card_number_as_bearer_token_is_removed_whole(self):
        """A card number used as a bearer token is a credential: none of it is shown."""
        out = Redactor().redact("Authorization: Bearer 4111111111111111 ok")
        assert out == "Authorization: Bearer [REDACTED] ok"
