"""Sensitive key names and how a key in the wild is matched against them.

Keys are compared by their words, not their spelling: ``cardNumber``, ``card_number``,
``card-number`` and ``CARD_NUMBER`` are all the words ``card number``. A catalogue term
matches a key when it equals the key's words or, for terms marked as suffixes, the key's
trailing words (``db_password``, ``stripeApiKey``, ``x-api-key``). Short or ambiguous
terms (``cid``, ``pin``, ``pass``, ``auth``) only match the whole key, so ``trace_cid``
or ``bypass`` are left alone. Keys match as keys only: a value that merely contains the
word "auth" is never touched by this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_KEYS", "KeyCatalog", "KeyTerm", "key_words", "normalize_key"]

_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")


def key_words(key: str) -> list[str]:
    """Split a key into lower-case words across camelCase, snake_case and kebab-case.

    Args:
        key: a field name as it appears in an event or a log line.

    Returns:
        Its words, e.g. ``["x", "api", "key"]`` for ``X-Api-Key``.
    """
    return [word.lower() for word in _WORDS.findall(key)]


def normalize_key(key: str) -> str:
    """Return the key's words joined without separators (``cardnumber``)."""
    return "".join(key_words(key))


@dataclass(frozen=True, slots=True)
class KeyTerm:
    """One catalogue entry.

    Attributes:
        words: the term as lower-case words (``("card", "number")``).
        kind: the family whose masker applies to values under this key.
        suffix: whether the term also matches as the trailing words of a longer key.
    """

    words: tuple[str, ...]
    kind: str
    suffix: bool = True


def _terms(kind: str, suffix: str = "", exact: str = "") -> list[KeyTerm]:
    out = [KeyTerm(tuple(t.split("_")), kind, True) for t in suffix.split()]
    out += [KeyTerm(tuple(t.split("_")), kind, False) for t in exact.split()]
    return out


#: The built-in catalogue, by kind. Sources: PCI DSS data elements, payment providers'
#: field names, and the default scrub lists of widely used error trackers.
DEFAULT_KEYS: tuple[KeyTerm, ...] = tuple(
    _terms(
        "card",
        "card_number credit_card_number credit_card debit_card_number cc_number card_num "
        "card_no primary_account_number account_pan card_pan pan_number",
        "pan cc ccnum ccn card_nr cardnumber",
    )
    + _terms(
        "track",
        "track_data track1 track2 track_1 track_2 track1_data track2_data magstripe "
        "magnetic_stripe",
    )
    + _terms(
        "cvv",
        "cvv cvc cvv2 cvc2 cav2 cvn cvd security_code card_verification "
        "card_verification_value card_verification_code card_security_code "
        "verification_value card_code",
        "cid csc cvn2",
    )
    + _terms("pin", "pin_block pinblock pin_code pin_number card_pin", "pin epin")
    + _terms(
        "secret",
        "secret api_key apikey api_secret api_token token access_token refresh_token "
        "id_token auth_token bearer_token oauth_token session_token client_secret "
        "private_key secret_key secret_access_key access_key_secret signing_key "
        "signing_secret encryption_key master_key webhook_secret app_secret "
        "consumer_secret credentials credential csrf_token xsrf_token x_csrftoken "
        "authorization proxy_authorization session_id sessionid cookie set_cookie "
        "x_api_key x_auth_token private_key_pem",
        "auth session jwt sid",
    )
    + _terms(
        "password",
        "password passwd passphrase passcode pswd",
        "pwd pass db_pass",
    )
    + _terms("iban", "iban iban_number")
    + _terms(
        "bank_account",
        "account_number bank_account bank_account_number routing_number aba_routing "
        "aba_number sort_code acct_number acct_no account_no bsb_number",
        "bsb aba",
    )
    + _terms(
        "national_id",
        "ssn social_security_number passport passport_number passport_no id_number "
        "document_number national_id national_id_number tax_id tax_number "
        "drivers_license driver_license driving_licence nino",
        "dni nie nif tin sin cpf curp",
    )
    + _terms("email", "email email_address", "mail")
    + _terms(
        "phone",
        "phone phone_number mobile mobile_number msisdn telephone cell_phone mobile_phone",
        "tel cell",
    )
)


@dataclass(frozen=True, slots=True)
class KeyCatalog:
    """Answers "is this key sensitive, and of which kind?" with a bounded cache.

    Attributes:
        terms: the catalogue (built-in plus policy additions).
        allow: keys (normalized) that are never treated as sensitive.
    """

    terms: tuple[KeyTerm, ...] = DEFAULT_KEYS
    allow: frozenset[str] = frozenset()
    _exact: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _suffix: Mapping[str, str] = field(init=False, repr=False, compare=False)
    _cache: dict[str, str | None] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        exact: dict[str, str] = {}
        suffix: dict[str, str] = {}
        # Later terms (policy additions) override earlier ones of the same spelling.
        for term in self.terms:
            joined = "".join(term.words)
            exact[joined] = term.kind
            if term.suffix:
                suffix[joined] = term.kind
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_suffix", suffix)
        object.__setattr__(self, "_cache", {})

    def kind_of(self, key: str) -> str | None:
        """Return the kind whose masker applies under ``key``, or None if not sensitive.

        Args:
            key: a field name in any case and separator style.
        """
        cached = self._cache.get(key, False)
        if cached is not False:
            return cached  # type: ignore[return-value]
        kind = self._lookup(key)
        if len(self._cache) > 8192:  # bounded: keys can be attacker-chosen
            self._cache.clear()
        self._cache[key] = kind
        return kind

    def _lookup(self, key: str) -> str | None:
        words = key_words(key)
        joined = "".join(words)
        if not joined or joined in self.allow:
            return None
        found = self._exact.get(joined)
        if found is not None:
            return found
        for start in range(1, len(words)):
            found = self._suffix.get("".join(words[start:]))
            if found is not None:
                return found
        # "password2", "cvv_1": a trailing counter does not make a key less sensitive.
        if len(words) > 1 and words[-1].isdigit():
            return self._lookup("_".join(words[:-1]))
        return None

    def with_terms(self, extra: Iterable[KeyTerm], allow: Iterable[str]) -> KeyCatalog:
        """Return a catalogue with ``extra`` terms added and ``allow`` keys exempted."""
        allowed = frozenset(normalize_key(key) for key in allow) | self.allow
        return KeyCatalog(self.terms + tuple(extra), allowed)
