"""Tests for redactor.keys: sensitive key names matched by their words."""

from __future__ import annotations

import pytest

from redactor.keys import KeyCatalog, KeyTerm, key_words, normalize_key


class TestKeyWords:
    @pytest.mark.parametrize(
        ("key", "words"),
        [
            ("card_number", ["card", "number"]),
            ("cardNumber", ["card", "number"]),
            ("CardNumber", ["card", "number"]),
            ("card-number", ["card", "number"]),
            ("CARD_NUMBER", ["card", "number"]),
            ("X-Api-Key", ["x", "api", "key"]),
            ("XMLHttpRequest", ["xml", "http", "request"]),
            ("password2", ["password", "2"]),
            ("", []),
            ("__", []),
        ],
    )
    def test_splits_every_spelling_into_lower_case_words(self, key, words):
        """snake, camel, Pascal, kebab and upper case all give the same words."""
        assert key_words(key) == words

    def test_normalize_joins_words(self):
        """normalize_key joins the words without separators."""
        assert normalize_key("Card-Number") == "cardnumber"


class TestKeyCatalog:
    @pytest.mark.parametrize(
        ("key", "kind"),
        [
            ("card_number", "card"),
            ("cardNumber", "card"),
            ("CardNumber", "card"),
            ("card-number", "card"),
            ("CARD_NUMBER", "card"),
            ("pan", "card"),
            ("cvv", "cvv"),
            ("CVV2", "cvv"),
            ("securityCode", "cvv"),
            ("card-verification", "cvv"),
            ("pin", "pin"),
            ("pin_block", "pin"),
            ("track2", "track"),
            ("password", "password"),
            ("PASSWORD", "password"),
            ("passwd", "password"),
            ("pwd", "password"),
            ("api_key", "secret"),
            ("apiKey", "secret"),
            ("API_KEY", "secret"),
            ("accessToken", "secret"),
            ("iban", "iban"),
            ("routing_number", "bank_account"),
            ("ssn", "national_id"),
            ("passportNumber", "national_id"),
            ("email", "email"),
            ("msisdn", "phone"),
        ],
    )
    def test_exact_terms_in_every_spelling(self, key, kind):
        """A catalogue term matches in any case and separator style."""
        assert KeyCatalog().kind_of(key) == kind

    @pytest.mark.parametrize(
        ("key", "kind"),
        [
            ("db_password", "password"),
            ("dbPassword", "password"),
            ("stripeApiKey", "secret"),
            ("x-api-key", "secret"),
            ("X-API-KEY", "secret"),
            ("github_access_token", "secret"),
            ("customer_card_number", "card"),
            ("billingEmail", "email"),
            ("home_iban", "iban"),
            ("user_cvv", "cvv"),
        ],
    )
    def test_suffix_terms_match_longer_keys(self, key, kind):
        """Suffix terms also match as the trailing words of a longer key."""
        assert KeyCatalog().kind_of(key) == kind

    @pytest.mark.parametrize(
        ("key", "short", "kind"),
        [
            ("trace_cid", "cid", "cvv"),
            ("bypass", "pass", "password"),
            ("old_pass", "pass", "password"),
            ("user_pin", "pin", "pin"),
            ("basic_auth", "auth", "secret"),
            ("db_pwd", "pwd", "password"),
            ("my_sid", "sid", "secret"),
            ("home_tel", "tel", "phone"),
        ],
    )
    def test_exact_only_terms_do_not_match_as_suffix(self, key, short, kind):
        """Short terms (cid, pass, pin, auth, pwd, sid, tel) match the whole key only."""
        catalog = KeyCatalog()
        assert catalog.kind_of(short) == kind
        assert catalog.kind_of(key) is None

    @pytest.mark.parametrize(
        ("key", "kind"),
        [("password2", "password"), ("cvv_1", "cvv"), ("api_key_2", "secret"), ("pan_01", "card")],
    )
    def test_trailing_counter_keeps_the_kind(self, key, kind):
        """A trailing number does not make a key less sensitive."""
        assert KeyCatalog().kind_of(key) == kind

    @pytest.mark.parametrize(
        "key",
        [
            "token_type",
            "tokenType",
            "request_id",
            "shipping",
            "card",
            "card_type",
            "card_brand",
            "expires_in",
            "pinned",
            "user_id",
            "order_id",
            "",
            "123",
        ],
    )
    def test_non_sensitive_keys(self, key):
        """Ordinary keys, including the bare word card, are not sensitive."""
        assert KeyCatalog().kind_of(key) is None

    @pytest.mark.parametrize("spelling", ["next_page_token", "nextPageToken", "NEXT-PAGE-TOKEN"])
    def test_allow_list_exempts_key_in_every_spelling(self, spelling):
        """An allowed key is never sensitive, however it is spelled."""
        catalog = KeyCatalog().with_terms([], ["next_page_token"])
        assert catalog.kind_of(spelling) is None

    def test_allow_list_leaves_other_keys_alone(self):
        """Allowing one key does not exempt the term it ends with."""
        catalog = KeyCatalog().with_terms([], ["next_page_token"])
        assert catalog.kind_of("page_token") == "secret"
        assert catalog.kind_of("token") == "secret"

    def test_added_terms_are_found(self):
        """Terms added with with_terms are matched like built-in ones."""
        catalog = KeyCatalog().with_terms([KeyTerm(("employee", "code"), "national_id", False)], [])
        assert catalog.kind_of("employeeCode") == "national_id"
        assert catalog.kind_of("employee-code") == "national_id"

    def test_added_exact_term_is_not_a_suffix(self):
        """An added term marked suffix=False matches only the whole key."""
        catalog = KeyCatalog().with_terms([KeyTerm(("employee", "code"), "national_id", False)], [])
        assert catalog.kind_of("old_employee_code") is None

    def test_added_term_overrides_builtin_kind(self):
        """A later term with the same words overrides the built-in kind."""
        catalog = KeyCatalog().with_terms([KeyTerm(("mail",), "secret", False)], [])
        assert catalog.kind_of("mail") == "secret"

    def test_repeated_lookups_agree(self):
        """The cache returns the same answer as the first lookup, including None."""
        catalog = KeyCatalog()
        assert [catalog.kind_of("db_password") for _ in range(3)] == ["password"] * 3
        assert [catalog.kind_of("request_id") for _ in range(3)] == [None] * 3
