"""How found values are shown: placeholders, bounded partial masks and keyed tokens."""

from __future__ import annotations

from redactor.maskers.base import Masker
from redactor.maskers.keyed_hash import KeyedHash
from redactor.maskers.partial import EmailMask, IbanMask, LastFour, PanMask
from redactor.maskers.placeholder import REDACTED, Placeholder

__all__ = [
    "REDACTED",
    "EmailMask",
    "IbanMask",
    "KeyedHash",
    "LastFour",
    "Masker",
    "PanMask",
    "Placeholder",
]
