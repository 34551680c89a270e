"""Exceptions of the redactor package.

Messages name the rule, file, field or offset involved, never the value being redacted:
an exception text ends up in logs, which is exactly where secrets must not go.
"""

from __future__ import annotations

__all__ = ["PolicyError", "RedactionFailed", "RedactorError"]


class RedactorError(Exception):
    """Base class of every error this package raises on purpose."""


class PolicyError(RedactorError):
    """A policy could not be loaded or is unsafe; names the file and field at fault."""

    def __init__(
        self, message: str, *, source: str | None = None, field: str | None = None
    ) -> None:
        self.source = source
        self.field = field
        where = ": ".join(part for part in (source, field) if part)
        super().__init__(f"{where}: {message}" if where else message)


class RedactionFailed(RedactorError):
    """Redaction of one value failed; callers replace the value instead of passing it on."""
