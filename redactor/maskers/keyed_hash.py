"""Correlation tokens: equal values map to equal tokens without revealing the value.

An unkeyed hash of a card number is reversible by enumerating the ~10^9 candidates that
share a BIN and last four, so the token is an HMAC-SHA256 under a secret key that never
leaves the environment, and it carries a key id so keys can rotate while old logs stay
interpretable.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field

__all__ = ["KeyedHash"]

_SEPARATORS = str.maketrans("", "", " -.()")


@dataclass(frozen=True, slots=True)
class KeyedHash:
    """Replace the value with ``[<kind>:<key id>:<16 hex digits of HMAC-SHA256>]``.

    Attributes:
        kind: shown in the token so readers know what was there.
        key: the secret HMAC key (from an environment variable, never from config).
        key_id: a short public name of the key, for rotation.
        normalize: strip separators first so ``4111 1111 ...`` and ``4111-1111-...``
            give the same token; only for numbers (cards, IBANs, phones), since in an
            email or a password the dots and dashes are part of the value.
    """

    kind: str
    key: bytes = field(repr=False)
    key_id: str
    normalize: bool = True
    _shape: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        shape = rf"\[{re.escape(self.kind)}:{re.escape(self.key_id)}:[0-9a-f]{{16}}\]"
        object.__setattr__(self, "_shape", re.compile(shape))

    def __call__(self, value: str) -> str:
        """Return the correlation token for ``value`` (unchanged if it is one already)."""
        if self._shape.fullmatch(value):
            return value
        material = value.translate(_SEPARATORS) if self.normalize else value
        digest = hmac.new(self.key, material.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"[{self.kind}:{self.key_id}:{digest.hexdigest()[:16]}]"
