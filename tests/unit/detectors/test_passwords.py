"""Table tests for passwords: by key, in URL userinfo and in connection strings."""

from __future__ import annotations

import random
import string

import pytest

from redactor import Redactor

REDACTOR = Redactor()
RNG = random.Random(4242)


def generated_password(length: int = 14) -> str:
    """Return a random password without characters that end a bare value."""
    return "".join(
        RNG.choice(string.ascii_letters + string.digits + "!#$%*") for _ in range(length)
    )


class TestPasswordByKey:
    @pytest.mark.parametrize(
        "key",
        [
            "password",
            "Password",
            "PASSWORD",
            "passwd",
            "pwd",
            "pass",
            "passphrase",
            "db_password",
            "userPassword",
            "password2",
        ],
    )
    @pytest.mark.parametrize(
        "template",
        [
            pytest.param("{key}={value} user=bob", id="equals"),
            pytest.param("{key}: {value}", id="colon"),
            pytest.param('{"{key}": "{value}", "user": "bob"}', id="json"),
            pytest.param("{key}='{value}'", id="single-quoted"),
            pytest.param("POST /login?user=bob&{key}={value}&next=/", id="query"),
            pytest.param("<{key}>{value}</{key}>", id="xml"),
        ],
    )
    def test_value_removed(self, key, template):
        """The value under a password key is removed and the key stays."""
        value = generated_password()
        line = template.replace("{key}", key).replace("{value}", value)
        expected = template.replace("{key}", key).replace("{value}", "[REDACTED]")
        assert REDACTOR.redact(line) == expected

    def test_quoted_value_with_spaces(self):
        """A quoted passphrase is removed whole, spaces included."""
        line = 'passphrase="correct horse battery staple" ok'
        assert REDACTOR.redact(line) == 'passphrase="[REDACTED]" ok'

    def test_scan_kind(self):
        """A password found by key is reported as kind password."""
        findings = REDACTOR.scan("password=Tr0ub4dor&3")
        assert [(f.kind, f.preview) for f in findings] == [("password", "[REDACTED]")]

    @pytest.mark.parametrize(
        "line",
        [
            "password reset email sent",
            "password_reset=true",
            "password_policy: strict",
            "bypass=true",
            "passport office closed",
            "compass=north",
            "pass rate 97%",
        ],
    )
    def test_near_misses(self, line):
        """Prose and keys that merely contain a password word pass through."""
        assert REDACTOR.redact(line) == line


class TestUrlUserinfo:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            (
                "connecting to postgres://app_user:{pw}@db.internal:5432/orders",
                "connecting to postgres://app_user:[REDACTED]@db.internal:5432/orders",
            ),
            (
                "fetch https://alice:{pw}@example.com/path?x=1",
                "fetch https://alice:[REDACTED]@example.com/path?x=1",
            ),
            (
                "broker amqp://guest:{pw}@rabbit:5672/",
                "broker amqp://guest:[REDACTED]@rabbit:5672/",
            ),
            ("cache redis://:{pw}@cache:6379/0", "cache redis://:[REDACTED]@cache:6379/0"),
            (
                '{"dsn": "mysql://root:{pw}@10.0.0.5/app"}',
                '{"dsn": "mysql://root:[REDACTED]@10.0.0.5/app"}',
            ),
        ],
    )
    def test_password_removed_user_and_host_kept(self, line, expected):
        """Only the password of a URL's userinfo is removed."""
        value = generated_password()
        assert REDACTOR.redact(line.replace("{pw}", value)) == expected

    @pytest.mark.parametrize(
        "line",
        [
            "see https://example.com/user@host for details",
            "http://example.com:8080/path",
            "https://example.com/a:b@c",
            "jdbc:postgresql://db:5432/orders",
        ],
    )
    def test_urls_without_password_untouched(self, line):
        """URLs without a password in their userinfo pass through."""
        assert REDACTOR.redact(line) == line


class TestConnectionString:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            (
                "Server=x;User Id=u;Password=p;",
                "Server=x;User Id=u;Password=[REDACTED];",
            ),
            (
                "Server=db01;Database=orders;User Id=app;Password={pw};Encrypt=true",
                "Server=db01;Database=orders;User Id=app;Password=[REDACTED];Encrypt=true",
            ),
            ("Server=db01;Uid=app;Pwd={pw};", "Server=db01;Uid=app;Pwd=[REDACTED];"),
            (
                "host=db port=5432 user=app password={pw} dbname=orders",
                "host=db port=5432 user=app password=[REDACTED] dbname=orders",
            ),
        ],
    )
    def test_password_removed_rest_kept(self, line, expected):
        """ADO.NET and libpq connection strings lose only the password."""
        value = generated_password()
        assert REDACTOR.redact(line.replace("{pw}", value)) == expected
