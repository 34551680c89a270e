"""Tests for redactor.maskers.keyed_hash: HMAC correlation tokens."""

from __future__ import annotations

import re

import pytest

from redactor.maskers import KeyedHash

KEY = b"unit-test-key-0123456789"
OTHER_KEY = b"unit-test-key-9876543210"


def token_shape(kind: str, key_id: str) -> re.Pattern[str]:
    return re.compile(rf"\[{re.escape(kind)}:{re.escape(key_id)}:[0-9a-f]{{16}}\]")


class TestKeyedHash:
    @pytest.mark.parametrize(
        ("kind", "key_id", "value"),
        [
            ("card", "k1", "4111111111111111"),
            ("email", "2026-11", "john.doe@example.com"),
            ("iban", "rot_2", "DE89370400440532013000"),
        ],
    )
    def test_token_shape(self, kind, key_id, value):
        """The token is ``[kind:keyid:16 lower-case hex digits]``."""
        token = KeyedHash(kind, KEY, key_id)(value)
        assert token_shape(kind, key_id).fullmatch(token)

    def test_same_value_same_token(self):
        """Equal values give equal tokens, so log lines can be correlated."""
        mask = KeyedHash("card", KEY, "k1")
        assert mask("4111111111111111") == mask("4111111111111111")

    def test_different_values_different_tokens(self):
        """Different values give different tokens."""
        mask = KeyedHash("card", KEY, "k1")
        assert mask("4111111111111111") != mask("5555555555554444")

    def test_different_key_different_token(self):
        """The token depends on the secret key."""
        value = "4111111111111111"
        assert KeyedHash("card", KEY, "k1")(value) != KeyedHash("card", OTHER_KEY, "k1")(value)

    def test_token_is_hmac_sha256_of_value(self):
        """The hex digits are the first 16 of HMAC-SHA256(key, value)."""
        import hashlib
        import hmac

        expected = hmac.new(KEY, b"4111111111111111", hashlib.sha256).hexdigest()[:16]
        assert KeyedHash("card", KEY, "k1")("4111111111111111") == f"[card:k1:{expected}]"

    @pytest.mark.parametrize(
        "spelling", ["4111 1111 1111 1111", "4111-1111-1111-1111", "4111.1111.1111.1111"]
    )
    def test_separators_normalized(self, spelling):
        """Spaces, dashes and dots do not change a card's token."""
        mask = KeyedHash("card", KEY, "k1")
        assert mask(spelling) == mask("4111111111111111")

    def test_normalize_off_keeps_separators_significant(self):
        """Without normalization, differently spelled values give different tokens."""
        mask = KeyedHash("card", KEY, "k1", normalize=False)
        assert mask("4111 1111 1111 1111") != mask("4111111111111111")

    @pytest.mark.parametrize("value", ["4111111111111111", "john.doe@example.com"])
    def test_idempotent(self, value):
        """Hashing a token returns the token unchanged."""
        mask = KeyedHash("card", KEY, "k1")
        once = mask(value)
        assert mask(once) == once

    def test_token_of_other_kind_is_hashed(self):
        """A token of another kind or key id is not mistaken for this masker's output."""
        token = KeyedHash("email", KEY, "k1")("john.doe@example.com")
        assert KeyedHash("card", KEY, "k1")(token) != token

    @pytest.mark.parametrize(
        "value", ["4111111111111111", "1111", "john.doe@example.com", "0123456789abcdef"]
    )
    def test_never_contains_the_value(self, value):
        """The token never includes the value itself."""
        assert value not in KeyedHash("card", KEY, "k1")(value)

    def test_repr_hides_the_key(self):
        """The secret key never appears in the masker's repr."""
        mask = KeyedHash("card", KEY, "k1")
        assert KEY.decode() not in repr(mask)
        assert "k1" in repr(mask)
