"""Maskers that keep a bounded, useful part of the value for troubleshooting.

Each keeps no more than PCI DSS and common practice allow: first 6 (or 8) and last 4 of a
card number, the country and last 4 of an IBAN, the last 4 of account and identity
numbers, the domain of an email. Separators are kept where they help reading
(``***-**-6789``) and dropped where the standard display has none (``411111******1111``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["EmailMask", "IbanMask", "LastFour", "PanMask"]

_MASKED_PAN = re.compile(r"\d{0,8}\*+\d{0,4}")


def _last_four(value: str) -> str:
    """Star every letter or digit but the last four; keep separators; hide short values."""
    maskable = [i for i, c in enumerate(value) if c.isalnum() or c == "*"]
    if len(maskable) < 8:
        return "****"
    hidden = set(maskable[:-4])
    return "".join("*" if i in hidden else c for i, c in enumerate(value))


@dataclass(frozen=True, slots=True)
class LastFour:
    """Show at most the last four letters or digits; values under 8 become ``****``."""

    def __call__(self, value: str) -> str:
        """Return ``value`` with all but its last four alphanumerics starred."""
        return _last_four(value)


@dataclass(frozen=True, slots=True)
class PanMask:
    """Show a card number as first ``first`` digits, stars, last ``last`` digits.

    Attributes:
        first: 6 (classic BIN), 8 (PCI DSS v4 BIN8, only for PANs of 16+ digits) or 0.
        last: 4, or 0 to hide the tail too.
    """

    first: int = 6
    last: int = 4

    def __call__(self, value: str) -> str:
        """Return the masked PAN, separators dropped; non-PAN values keep at most 4."""
        compact = value.replace(" ", "").replace("-", "")
        if _MASKED_PAN.fullmatch(compact):
            return compact
        digits = "".join(c for c in value if c.isdigit())
        if not 12 <= len(digits) <= 19 or len(digits) != sum(c.isalnum() for c in value):
            return _last_four(value)
        first = self.first if len(digits) >= 16 else min(self.first, 6)
        return (
            digits[:first]
            + "*" * (len(digits) - first - self.last)
            + digits[len(digits) - self.last :]
        )


@dataclass(frozen=True, slots=True)
class IbanMask:
    """Show an IBAN as its country code, stars and last four characters, no spaces."""

    def __call__(self, value: str) -> str:
        """Return ``CC****...1234``; anything not IBAN-shaped keeps at most its last 4."""
        compact = value.replace(" ", "").replace("-", "")
        if len(compact) >= 12 and compact[:2].isalpha() and compact.isalnum():
            return compact[:2].upper() + "*" * (len(compact) - 6) + compact[-4:]
        if len(compact) >= 12 and compact[:2].isalpha() and set(compact[2:-4]) == {"*"}:
            return compact
        return _last_four(value)


@dataclass(frozen=True, slots=True)
class EmailMask:
    """Replace the local part with ``***`` and keep the domain, which aids debugging."""

    def __call__(self, value: str) -> str:
        """Return ``***@domain``; a value without ``@`` becomes ``***``."""
        _, at, domain = value.rpartition("@")
        if not at:
            _, at, domain = value.rpartition("%40")  # percent-encoded in a URL
        if not at or not domain:
            return "***"
        return "***" + at + domain
