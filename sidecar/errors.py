"""Errors of the sidecar: one base class, narrow subclasses.

Messages name the file, field, source or sink and an offset, never record contents.
"""

from __future__ import annotations

__all__ = ["ArchiveError", "ConfigError", "SidecarError", "SinkError"]


class SidecarError(Exception):
    """Base class of every error the sidecar raises on purpose."""


class ConfigError(SidecarError):
    """The configuration is invalid; the message names the file and the field.

    Args:
        field: dotted path of the offending field (``sources[0].paths``).
        message: what is wrong with it.
        file: the configuration file, when known.
    """

    def __init__(self, field: str, message: str, file: str | None = None) -> None:
        self.field = field
        self.file = file
        where = f"{file}: " if file else ""
        super().__init__(f"{where}{field}: {message}")


class SinkError(SidecarError):
    """A sink could not durably accept a batch; the batch is retried, never dropped."""


class ArchiveError(SidecarError):
    """An archive file is unreadable: bad magic, unknown key id, or a damaged frame."""
