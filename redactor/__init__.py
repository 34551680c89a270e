"""PCI-safe redaction of card data, secrets and personal data in logs.

``redactor.redact(text)`` masks text with the secure default policy; build a
:class:`Redactor` with a :class:`Policy` to choose kinds and maskers, redact structured
events and read per-kind counters. Importing this package imports no logging framework:
the integrations live in ``redactor.stdlib``, ``redactor.structlog``,
``redactor.jsonlogger`` and ``redactor.fluent``.
"""

from __future__ import annotations

import threading
from typing import Any

from redactor.errors import PolicyError, RedactionFailed, RedactorError
from redactor.finding import Finding
from redactor.policy import Policy
from redactor.redactor import Redactor

__all__ = [
    "Finding",
    "Policy",
    "PolicyError",
    "RedactionFailed",
    "Redactor",
    "RedactorError",
    "default_redactor",
    "redact",
    "redact_event",
]

__version__ = "0.1.0"

_default: Redactor | None = None
_default_lock = threading.Lock()


def default_redactor() -> Redactor:
    """Return the process-wide redactor with the default policy (compiled on first use)."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Redactor()
    return _default


def redact(text: str) -> str:
    """Return ``text`` with card data, secrets and personal data masked (default policy)."""
    return default_redactor().redact(text)


def redact_event(event: Any) -> Any:
    """Return a redacted copy of a structured event (default policy)."""
    return default_redactor().redact_event(event)
