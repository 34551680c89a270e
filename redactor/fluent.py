"""Redaction for fluent-logger: senders and a handler that redact what goes on the wire.

fluent-logger turns a record into a dict (``FluentRecordFormatter``) and a sender packs
``(tag, time, dict)`` with msgpack and writes it to the Fluentd forward port. The last
place where every field is in hand is the sender's ``emit_with_time``, which both
``emit`` and ``FluentHandler.emit`` go through, so :class:`RedactingFluentSender`
redacts the data dict there (by key and value, to any depth; one scan when nothing is
sensitive, see :func:`redactor.stdlib.redact_fields`). Values that are not plain data
become redacted strings, which msgpack can always pack.

Use it directly::

    sender = RedactingFluentSender("app", host="fluentd", port=24224)
    sender.emit("payment", {"card_number": "4111111111111111", "amount": 10})

or with :mod:`logging` through :class:`RedactingFluentHandler`, a ``FluentHandler``
whose sender redacts and which carries a :class:`redactor.stdlib.RedactingFilter`, so
that exception text reaches ``FluentRecordFormatter`` already rendered and redacted::

    handler = RedactingFluentHandler("app", host="fluentd", port=24224)
    handler.setFormatter(FluentRecordFormatter({"level": "%(levelname)s"}))

A plain ``FluentHandler`` is covered by adding ``RedactingFilter`` to it; that redacts
the record (message, extras, exception, stack), though not fields a custom format
callable invents. :class:`RedactingAsyncFluentSender` is the same for fluent-logger's
background-thread sender (``fluent.asyncsender``).

Nothing here raises into the caller: a dict that cannot be redacted is replaced by
``{"message": "[REDACTION_FAILED]"}`` and counted under ``error``.
"""

from __future__ import annotations

from typing import Any

from fluent import asyncsender, handler, sender  # type: ignore[import-untyped]

from redactor import Redactor
from redactor.engine import FAILED
from redactor.stdlib import PolicyLike, RedactingFilter, redact_fields, resolve_redactor

__all__ = ["RedactingAsyncFluentSender", "RedactingFluentHandler", "RedactingFluentSender"]


def _redact_data(redactor: Redactor, data: Any) -> Any:
    """Return the redacted event, or a placeholder event if redaction failed."""
    redacted = redact_fields(redactor, data)
    if isinstance(data, dict) and not isinstance(redacted, dict):
        return {"message": FAILED}  # the redactor already counted the error
    return redacted


class _RedactingSender:
    """What both redacting senders add to fluent-logger's senders.

    A redactor, and redaction of every event in ``emit_with_time``, which ``emit`` and
    ``FluentHandler.emit`` both go through. For the async sender this runs in the
    caller's thread, before the event is queued for the sender thread.

    Args:
        tag: the tag prefix, as for ``FluentSender``.
        *args: other positional arguments of ``FluentSender`` (``host``, ``port``...).
        redactor: the shared redactor to use.
        policy: a policy (object, TOML path or mapping) to compile a redactor from.
        **kwargs: keyword arguments of ``FluentSender``.
    """

    def __init__(
        self,
        tag: str,
        *args: Any,
        redactor: Redactor | None = None,
        policy: PolicyLike | None = None,
        **kwargs: Any,
    ) -> None:
        self._redactor = resolve_redactor(redactor, policy)
        super().__init__(tag, *args, **kwargs)  # type: ignore[call-arg]

    @property
    def redactor(self) -> Redactor:
        """The redactor this sender uses (read its ``counts()`` for metrics)."""
        return self._redactor

    def emit_with_time(self, label: str | None, timestamp: Any, data: Any) -> bool:
        """Redact ``data``, then send (or queue) it as the sender class does.

        Args:
            label: appended to the tag (not redacted: it is routing, not data).
            timestamp: event time (int or ``EventTime``).
            data: the event dict.

        Returns:
            Whether the event was sent or queued.
        """
        redacted = _redact_data(self._redactor, data)
        return bool(super().emit_with_time(label, timestamp, redacted))  # type: ignore[misc]


class RedactingFluentSender(_RedactingSender, sender.FluentSender):  # type: ignore[misc]
    """``fluent.sender.FluentSender`` that redacts every event before packing it."""


class RedactingAsyncFluentSender(_RedactingSender, asyncsender.FluentSender):  # type: ignore[misc]
    """``fluent.asyncsender.FluentSender`` that redacts every event before queueing it."""


class RedactingFluentHandler(handler.FluentHandler):  # type: ignore[misc]
    """``fluent.handler.FluentHandler`` with a redacting sender and a redacting filter.

    Args:
        tag: the tag, as for ``FluentHandler``.
        *args: other positional arguments of ``FluentHandler`` (``host``, ``port``...).
        redactor: the shared redactor to use.
        policy: a policy (object, TOML path or mapping) to compile a redactor from.
        **kwargs: keyword arguments of ``FluentHandler``.
    """

    def __init__(
        self,
        tag: str,
        *args: Any,
        redactor: Redactor | None = None,
        policy: PolicyLike | None = None,
        **kwargs: Any,
    ) -> None:
        self._redactor = resolve_redactor(redactor, policy)
        super().__init__(tag, *args, **kwargs)
        self.addFilter(RedactingFilter(redactor=self._redactor))

    @property
    def redactor(self) -> Redactor:
        """The redactor this handler uses."""
        return self._redactor

    def getSenderClass(self) -> type[RedactingFluentSender]:
        """Return the sender class the handler builds (``FluentHandler`` hook)."""
        return RedactingFluentSender

    def getSenderInstance(self, *args: Any, **kwargs: Any) -> RedactingFluentSender:
        """Build the sender with this handler's redactor (``FluentHandler`` hook).

        Args:
            *args: as passed by ``FluentHandler.sender``.
            **kwargs: as passed by ``FluentHandler.sender``.

        Returns:
            The redacting sender.
        """
        sender_class = self.getSenderClass()
        return sender_class(*args, redactor=self._redactor, **kwargs)
