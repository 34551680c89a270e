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

_MASKED_PAN = re.compile(r"(\d{0,8})(\*+)(\d{0,4})")
#: Separators a card number is written with, URL-encoded ones included (%20, %2B, %2D).
_PAN_SEPARATORS = re.compile(r"%2[0BbDd]|[ +\-]")


def _last_four(value: str, keep: int = 4) -> str:
    """Star every letter or digit but the last ``keep``; keep separators; hide short ones.

    Stars count as maskable so that a masked value maps to itself (idempotence).
    """
    maskable = [i for i, c in enumerate(value) if c.isalnum() or c == "*"]
    if len(maskable) < 8:
        return "****"
    hidden = set(maskable[: len(maskable) - keep])
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
        compact = _PAN_SEPARATORS.sub("", value)
        masked = _MASKED_PAN.fullmatch(compact)
        if masked is not None:  # masked before, maybe by a looser policy: tighten
            lead, _, tail = masked.groups()
            first = min(len(lead), self._first_for(len(compact)))
            last = min(len(tail), self.last)
            if first == len(lead) and last == len(tail):
                return value
            return _show(lead + "*" * (len(compact) - len(lead) - len(tail)) + tail, first, last)
        if not (12 <= len(compact) <= 19 and compact.isascii() and compact.isdigit()):
            return _last_four(value, min(self.last, 4))
        return _show(compact, self._first_for(len(compact)), self.last)

    def _first_for(self, length: int) -> int:
        """BIN8 is allowed for PANs of 16 digits or more only (PCI SSC FAQ)."""
        return self.first if length >= 16 else min(self.first, 6)


def _show(compact: str, first: int, last: int) -> str:
    """Keep ``first`` leading and ``last`` trailing characters, star the rest."""
    hidden = len(compact) - first - last
    return compact[:first] + "*" * hidden + (compact[len(compact) - last :] if last else "")


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
