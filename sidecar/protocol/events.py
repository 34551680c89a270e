"""What the forward protocol state machines hand back: events, and the usage error.

Theory of operation: :class:`~sidecar.protocol.forward.ServerConnection` and
:class:`~sidecar.protocol.client.ClientConnection` turn received bytes into a list of
these frozen values, in wire order. The asyncio glue only has to dispatch on the type:

- :class:`Entries`: one decoded frame's events; if ``chunk`` is set, answer with
  ``send_ack(chunk)`` once the entries are durable (at-least-once delivery).
- :class:`Authenticated`: the shared-key handshake succeeded.
- :class:`Acked`: the server confirmed a chunk (client side).
- :class:`ProtocolViolation`: the peer sent something wrong. ``fatal`` means the byte
  stream cannot continue (framing lost, authentication failed): write out
  ``data_to_send()`` and close. A non-fatal violation dropped exactly one frame and the
  stream goes on; its chunk, if any, is never acked, so the peer resends it.

Reasons name a position (``entries[3].record``), a type name or a byte offset, never
record contents or secrets; the reprs of these values follow the same rule, so logging
an event is always safe. :class:`ProtocolUsageError` is the other kind of failure: our
own code called the API wrongly (a bug), as opposed to the peer sending garbage.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from sidecar.errors import SidecarError
from sidecar.protocol.eventtime import EventTime

__all__ = [
    "Acked",
    "Authenticated",
    "Entries",
    "Entry",
    "Event",
    "Mode",
    "ProtocolUsageError",
    "ProtocolViolation",
    "Record",
    "Time",
]

Time: TypeAlias = int | float | EventTime
"""An event time as sent: integer seconds, float seconds (legacy) or EventTime."""

Record: TypeAlias = dict[Any, Any]
"""One event's record: a msgpack map, normally with string keys."""

Entry: TypeAlias = tuple[Time, Record]
"""One event: its time and its record."""

Mode: TypeAlias = Literal["message", "forward", "packed", "compressed"]
"""The carrier mode a frame used: Message, Forward, PackedForward, CompressedPackedForward."""


@dataclass(frozen=True, slots=True)
class Entries:
    """The events of one forward-protocol frame, all valid (a frame is all or nothing).

    Attributes:
        tag: the frame's tag.
        entries: the events, in order; empty frames are delivered too, so their chunk
            still gets acked.
        chunk: the ``chunk`` option: the peer wants ``{"ack": chunk}`` once the entries
            are durable. None: no ack requested.
        size: the ``size`` option (the sender's count of entries), if given; informative.
        mode: the carrier mode of the frame.
        nbytes: bytes the frame took on the wire, for metrics.
    """

    tag: str
    entries: tuple[Entry, ...] = field(repr=False)
    chunk: str | None = None
    size: int | None = None
    mode: Mode = "forward"
    nbytes: int = 0

    def __repr__(self) -> str:
        # Records are never shown: they may hold card data before redaction.
        return (
            f"Entries(tag={self.tag!r}, count={len(self.entries)}, chunk={self.chunk!r}, "
            f"size={self.size!r}, mode={self.mode!r}, nbytes={self.nbytes})"
        )


@dataclass(frozen=True, slots=True)
class Authenticated:
    """The shared-key handshake (and user check, if any) succeeded.

    Attributes:
        hostname: the peer's self-declared hostname (from PING on the server side, from
            PONG on the client side); informative, not verified.
        username: the authenticated user name; empty when no user auth was required.
    """

    hostname: str
    username: str = ""


@dataclass(frozen=True, slots=True)
class Acked:
    """The server confirmed that the frame carrying ``chunk`` is safe on its side."""

    chunk: str


@dataclass(frozen=True, slots=True)
class ProtocolViolation:
    """The peer broke the protocol.

    Attributes:
        reason: what was wrong and where (position, type name or offset; no contents).
        fatal: True if the connection must be closed (after sending ``data_to_send()``);
            False if only one frame was dropped and the stream continues.
    """

    reason: str
    fatal: bool


Event: TypeAlias = Entries | Authenticated | Acked | ProtocolViolation
"""Anything ``receive()`` returns."""


class ProtocolUsageError(SidecarError):
    """Our code used a connection object wrongly (a bug), e.g. ``receive()`` after close."""
