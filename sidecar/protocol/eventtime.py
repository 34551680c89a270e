"""Fluent EventTime: nanosecond timestamps as msgpack extension type 0.

Theory of operation: the forward protocol carries an event's time either as an integer
(whole seconds since the epoch) or as an *EventTime*, a msgpack ext value of type 0 whose
8 data bytes are two big-endian unsigned 32-bit integers: seconds, then nanoseconds.
Floats are not in the v1 specification, but some older clients send them, so decoders
accept them too. This module holds the value type and the two msgpack hooks: one that
turns ext 0 into :class:`EventTime` while unpacking, one that turns it back while packing.

The unpack hook never raises: an ext 0 value with the wrong length or an impossible
nanosecond count comes back as a plain ``msgpack.ExtType``, and the frame decoder then
reports it as a violation naming the field. An exception inside the hook would abort
the whole frame with no position to report.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]

__all__ = ["EVENT_TIME_EXT", "EventTime", "pack_default", "unpack_ext"]

#: The msgpack extension type code of EventTime.
EVENT_TIME_EXT = 0

_NS = 1_000_000_000
_U32 = 0xFFFFFFFF
_LAYOUT = struct.Struct(">II")


@dataclass(frozen=True, slots=True, order=True)
class EventTime:
    """An event timestamp with nanosecond precision (seconds fit in 32 bits, until 2106).

    Args:
        seconds: whole seconds since the Unix epoch, 0 to 2**32 - 1.
        nanoseconds: 0 to 999,999,999.

    Raises:
        ValueError: a field is out of range (the wire format could not carry it).
    """

    seconds: int
    nanoseconds: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.seconds <= _U32:
            raise ValueError("EventTime seconds must fit in an unsigned 32-bit integer")
        if not 0 <= self.nanoseconds < _NS:
            raise ValueError("EventTime nanoseconds must be in [0, 10**9)")

    @classmethod
    def from_ns(cls, ns: int) -> EventTime:
        """Build from integer nanoseconds since the epoch (``time.time_ns()``)."""
        seconds, nanoseconds = divmod(ns, _NS)
        return cls(seconds, nanoseconds)

    @classmethod
    def from_float(cls, timestamp: float) -> EventTime:
        """Build from float seconds, rounding to the nearest nanosecond."""
        return cls.from_ns(round(timestamp * _NS))

    def to_ns(self) -> int:
        """Return integer nanoseconds since the epoch (exact)."""
        return self.seconds * _NS + self.nanoseconds

    def to_float(self) -> float:
        """Return float seconds since the epoch (loses sub-microsecond precision)."""
        return self.seconds + self.nanoseconds / _NS

    def to_bytes(self) -> bytes:
        """Return the 8-byte ext payload: seconds then nanoseconds, big-endian."""
        return _LAYOUT.pack(self.seconds, self.nanoseconds)


def unpack_ext(code: int, data: bytes) -> Any:
    """``ext_hook`` for ``msgpack.Unpacker``: ext 0 with a valid payload becomes EventTime.

    Anything else, including a malformed ext 0, is returned as ``msgpack.ExtType`` so
    the caller can name the offending field instead of failing the whole frame.
    """
    if code == EVENT_TIME_EXT and len(data) == _LAYOUT.size:
        seconds, nanoseconds = _LAYOUT.unpack(data)
        if nanoseconds < _NS:
            return EventTime(seconds, nanoseconds)
    return msgpack.ExtType(code, data)


def pack_default(value: object) -> Any:
    """``default`` for ``msgpack.Packer``: EventTime becomes ext 0.

    Raises:
        TypeError: the value is neither EventTime nor natively packable (names the type
            only, never the value).
    """
    if isinstance(value, EventTime):
        return msgpack.ExtType(EVENT_TIME_EXT, value.to_bytes())
    raise TypeError(f"cannot pack a value of type {type(value).__name__}")
