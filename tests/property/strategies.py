"""Hypothesis strategies shared by the property tests: cards, planted samples, filler text.

Card numbers are published test numbers or random numbers built with a real issuer
prefix and a Luhn check digit; every other sample is generated with the right shape.
"""

from __future__ import annotations

import base64
import json
import re
import string
from dataclasses import dataclass

from hypothesis import strategies as st

__all__ = [
    "PUBLISHED_CARDS",
    "Pan",
    "arbitrary_text",
    "cards",
    "expected_mask",
    "filler",
    "formatted_pans",
    "luhn_complete",
    "planted_text",
    "samples",
    "without_separators",
]

#: Published network and PSP test card numbers.
PUBLISHED_CARDS = (
    "4111111111111111",
    "4242424242424242",
    "4012888888881881",
    "4000056655665556",
    "5555555555554444",
    "5105105105105100",
    "5200828282828210",
    "2223003122003222",
    "378282246310005",
    "371449635398431",
    "6011111111111117",
    "6011000990139424",
)

#: (prefix, length) of the issuers the generated cards use.
_ISSUERS = (
    ("4", 16),
    *((str(prefix), 16) for prefix in range(51, 56)),
    ("2221", 16),
    ("2500", 16),
    ("2720", 16),
    ("34", 15),
    ("37", 15),
    ("6011", 16),
)


def luhn_complete(partial: str) -> str:
    """Return ``partial`` followed by the digit that makes it Luhn-valid."""
    total = 0
    for position, char in enumerate(reversed(partial)):
        value = int(char)
        if position % 2 == 0:  # doubled once the check digit is appended
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return partial + str((10 - total % 10) % 10)


@st.composite
def _generated_card(draw: st.DrawFn) -> str:
    prefix, length = draw(st.sampled_from(_ISSUERS))
    size = length - len(prefix) - 1
    body = draw(st.text(string.digits, min_size=size, max_size=size))
    return luhn_complete(prefix + body)


cards = st.one_of(st.sampled_from(PUBLISHED_CARDS), _generated_card())


@dataclass(frozen=True)
class Pan:
    """A card number and one way of writing it."""

    digits: str
    written: str


def _grouped(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    parts, at = [], 0
    for size in sizes:
        parts.append(digits[at : at + size])
        at += size
    return sep.join(parts)


@st.composite
def formatted_pans(draw: st.DrawFn, separators: tuple[str, ...] = ("", " ", "-")) -> Pan:
    """A card number written contiguously or grouped 4-4-4-4 / Amex 4-6-5."""
    digits = draw(cards)
    sep = draw(st.sampled_from(separators))
    sizes = (4, 6, 5) if len(digits) == 15 else (4, 4, 4, 4)
    return Pan(digits, _grouped(digits, sizes, sep) if sep else digits)


def expected_mask(digits: str) -> str:
    """The default masked display: first 6, stars, last 4."""
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def arbitrary_text(max_size: int = 40) -> st.SearchStrategy[str]:
    """Any text (no surrogates), for properties that must hold whatever the content."""
    return st.text(max_size=max_size)


def filler(max_size: int = 40) -> st.SearchStrategy[str]:
    """Text that cannot form a key separator, URL, email or phone with what follows.

    ``:``, ``=``, ``<``, ``>``, ``%``, ``@``, ``+`` and ``/`` are left out so that a
    planted value is never read as the value of a sensitive key written by chance
    (``pin: 4111...``), or joined into an email, a URL or an E.164 phone number.
    """
    return st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters=":=<>%@+/\\&?#"),
        max_size=max_size,
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


@st.composite
def _jwt(draw: st.DrawFn) -> str:
    sub = draw(st.text(string.ascii_letters + string.digits, min_size=1, max_size=12))
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": sub, "iat": 1516239022}).encode())
    signature = _b64url(draw(st.binary(min_size=16, max_size=32)))
    return f"{header}.{payload}.{signature}"


@st.composite
def _ssn(draw: st.DrawFn) -> str:
    area = draw(st.integers(1, 899).filter(lambda a: a != 666))
    group = draw(st.integers(1, 99))
    serial = draw(st.integers(1, 9999))
    return f"{area:03d}-{group:02d}-{serial:04d}"


_IBANS = ("GB82WEST12345698765432", "DE89370400440532013000", "FR1420041010050500013M02606")
_KEY_CASES = (str, str.upper, str.title)


@st.composite
def _keyed(draw: st.DrawFn) -> str:
    key = draw(
        st.sampled_from(
            (
                "cvv",
                "cvc2",
                "password",
                "db_password",
                "api_key",
                "X-Api-Key",
                "pin",
                "card_number",
                "cardNumber",
                "token",
                "ssn",
                "phone",
                "iban",
                "secret",
            )
        )
    )
    key = draw(st.sampled_from(_KEY_CASES))(key)
    sep = draw(st.sampled_from(("=", ":", ": ", " = ", "%3D", "%3a", "=>", ":=")))
    value = draw(st.text(string.ascii_letters + string.digits, min_size=1, max_size=20))
    quote = draw(st.sampled_from(("", '"', "'")))
    if quote == '"' and draw(st.booleans()):
        key = f'"{key}"'  # JSON-like: "password": "..."
    return f"{key}{sep}{quote}{value}{quote}"


@st.composite
def _email(draw: st.DrawFn) -> str:
    local = draw(st.text(string.ascii_lowercase + string.digits + "._+", min_size=1, max_size=12))
    local = local.strip(".") or "x"
    domain = draw(st.sampled_from(("example.com", "mail.example.org", "test.co.uk")))
    return f"{local}@{domain}"


@st.composite
def _phone(draw: st.DrawFn) -> str:
    number = draw(st.sampled_from(("+14155552671", "+442079460958", "+4915112345678")))
    if draw(st.booleans()):
        number = f"{number[:2]} {number[2:5]} {number[5:]}"
    return number


def _stripe() -> st.SearchStrategy[str]:
    body = st.text(string.ascii_letters + string.digits, min_size=10, max_size=32)
    return st.builds(lambda prefix, b: prefix + b, st.sampled_from(("sk_live_", "sk_test_")), body)


#: One planted sensitive sample of any family.
samples = st.one_of(
    formatted_pans().map(lambda pan: pan.written),
    st.integers(0, 9999).map(lambda n: f"cvv={n:03d}"),
    _email(),
    st.sampled_from(_IBANS),
    _stripe(),
    _jwt(),
    _ssn(),
    _phone(),
    _keyed(),
    st.just("%B4111111111111111^DOE/JOHN^2512101000000000?"),
    st.just(";4111111111111111=25121010000000000000?"),
    st.just("routing number: 011000015"),
    st.just("postgres://app:s3cretPassw0rd@db.example.com:5432/shop"),
    st.just("<pin>1234</pin>"),
    st.just("Authorization: Bearer abcDEF123456ghiJKL789"),
    st.just("12345678Z"),
    st.just("X1234567L"),
)

_SEPARATORS = st.sampled_from((" ", "\t", ", ", "; ", " | ", "\n", " (", ") ", '"', "'"))


@st.composite
def planted_text(draw: st.DrawFn, text: st.SearchStrategy[str] | None = None) -> str:
    """Arbitrary text with zero to five planted samples, joined by spaces or punctuation."""
    text = text if text is not None else arbitrary_text(30)
    pieces = [draw(text)]
    for _ in range(draw(st.integers(0, 5))):
        pieces.append(draw(_SEPARATORS))
        pieces.append(draw(samples))
        pieces.append(draw(_SEPARATORS))
        pieces.append(draw(text))
    return "".join(pieces)


_PAN_SEPARATORS = re.compile(r"%2[0BbDd]|[ +\-]")


def without_separators(text: str) -> str:
    """Return ``text`` with every separator a PAN may be written with removed."""
    return _PAN_SEPARATORS.sub("", text)
