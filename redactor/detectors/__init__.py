"""The built-in detectors, in priority order.

Order matters only when two detectors can start a match at the same position: the
earlier one is tried first (see :mod:`redactor.engine` for the overlap rule). Track data
comes before card numbers because a track 2 string starts with the PAN; key-based
detection comes early so that ``pan=...`` is masked as a card by key even when the value
fails the card checks.
"""

from __future__ import annotations

from redactor.detectors.bank import BANK_DETECTORS
from redactor.detectors.base import Candidate, Detector, Hit, Resolver
from redactor.detectors.cards import CARD_DETECTORS
from redactor.detectors.contact import CONTACT_DETECTORS
from redactor.detectors.identity import IDENTITY_DETECTORS
from redactor.detectors.keyed import keyed_detectors
from redactor.detectors.passwords import PASSWORD_DETECTORS
from redactor.detectors.secrets import SECRET_DETECTORS
from redactor.keys import KeyCatalog

__all__ = ["Candidate", "Detector", "Hit", "Resolver", "builtin_detectors"]


def builtin_detectors(catalog: KeyCatalog) -> tuple[Detector, ...]:
    """Return every built-in detector, highest priority first.

    Args:
        catalog: the key names that key-based detection uses.
    """
    private_key, *vendor = SECRET_DETECTORS
    return (
        private_key,
        *CARD_DETECTORS[:2],  # track 1 and 2 before the PAN they contain
        *keyed_detectors(catalog),
        *PASSWORD_DETECTORS,
        *vendor,
        *BANK_DETECTORS,
        CARD_DETECTORS[2],
        *IDENTITY_DETECTORS,
        *CONTACT_DETECTORS,
    )
