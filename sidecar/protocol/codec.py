"""Encode and decode forward-protocol frames (the four carrier modes), bytes to values.

Theory of operation: a frame is one msgpack array ``[tag, <body>, option?]``. The type
of the second element tells the mode: an array is Forward (``[[time, record], ...]``),
``bin`` or ``str`` is PackedForward (a concatenated msgpack stream of ``[time, record]``
entries; ``str`` is a legacy spelling still sent by old Fluent Bit), anything else is
the time of Message mode (``[tag, time, record, option?]``). ``option.compressed:
"gzip"`` makes PackedForward into CompressedPackedForward: the stream is gzip, possibly
several members back to back.

:func:`decode_frame` takes one *complete* frame (see ``_framing``), so every element it
builds is backed by bytes already received. Decoding is all or nothing: one bad entry
drops the whole frame with a :class:`ProtocolViolation` naming its position
(``entries[3].record: expected a map, got list``), so a frame's ack always covers all of
it. Strings are decoded as UTF-8 with invalid bytes replaced by U+FFFD: tails of legacy
files are often not UTF-8, and that must not cost the frame. Map keys must be strings
or bytes (msgpack's ``strict_map_key``).

Limits: the packed stream is walked once in skip mode before any entry is built, for
the same reason as framing (no allocation from a truncated header). Gzip is inflated
incrementally with ``max_length`` so output beyond ``max_decompressed_bytes`` is never
produced: a decompression bomb costs at most that much memory.
"""

from __future__ import annotations

import base64
import gzip
import math
import secrets
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack  # type: ignore[import-untyped]

from sidecar.protocol.events import Entries, Entry, Mode, ProtocolViolation, Record, Time
from sidecar.protocol.eventtime import EVENT_TIME_EXT, EventTime, pack_default, unpack_ext

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "decode_frame",
    "decode_whole_frame",
    "encode_ack",
    "encode_forward",
    "encode_message",
    "encode_packed_forward",
    "new_chunk_id",
]

#: Default cap on the inflated size of one CompressedPackedForward frame.
DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 1024 * 1024

_ARRAY = frozenset([*range(0x90, 0xA0), 0xDC, 0xDD])
_BLOB_WIDTH = {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}  # bin8..32, str8..32
_DECODE_ERRORS = (ValueError, TypeError, OverflowError, msgpack.UnpackException)


class _Invalid(Exception):
    """One frame is wrong; ``reason`` names the position. Fatal if framing is useless."""

    def __init__(self, reason: str, fatal: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.fatal = fatal


@dataclass(frozen=True, slots=True)
class _Options:
    chunk: str | None = None
    size: int | None = None
    compressed: str | None = None


def decode_frame(
    frame: bytes, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES
) -> Entries | ProtocolViolation:
    """Decode one complete frame into its entries, or say why it is invalid.

    Never raises for peer input. A frame that is not an array is a fatal violation (the
    peer is not speaking this protocol); any other fault is non-fatal (drop the frame).
    """
    try:
        _check_whole(frame)
        return _decode(frame, max_decompressed_bytes)
    except _Invalid as exc:
        return ProtocolViolation(exc.reason, exc.fatal)
    except _DECODE_ERRORS as exc:
        return ProtocolViolation(f"frame: undecodable msgpack ({type(exc).__name__})", False)


def decode_whole_frame(frame: bytes, max_decompressed_bytes: int) -> Entries | ProtocolViolation:
    """:func:`decode_frame` for a frame already known to be exactly one whole object."""
    try:
        return _decode(frame, max_decompressed_bytes)
    except _Invalid as exc:
        return ProtocolViolation(exc.reason, exc.fatal)
    except _DECODE_ERRORS as exc:
        return ProtocolViolation(f"frame: undecodable msgpack ({type(exc).__name__})", False)


def _check_whole(frame: bytes) -> None:
    """Require exactly one complete msgpack object (what the frame splitter guarantees)."""
    walker = msgpack.Unpacker(max_buffer_size=max(len(frame), 1))
    walker.feed(frame)
    try:
        walker.skip()
    except msgpack.OutOfData:
        raise _Invalid("frame: truncated", fatal=True) from None
    if walker.tell() != len(frame):
        raise _Invalid(f"frame: {len(frame) - walker.tell()} bytes after the frame", fatal=True)


def _unpacker(size: int) -> Any:
    return msgpack.Unpacker(
        raw=False,
        unicode_errors="replace",
        strict_map_key=True,
        ext_hook=unpack_ext,
        max_buffer_size=max(size, 1),
    )


def _decode(frame: bytes, max_decompressed: int) -> Entries:
    if not frame or frame[0] not in _ARRAY:
        kind = "nothing" if not frame else f"type byte 0x{frame[0]:02x}"
        raise _Invalid(f"frame: expected an array, got {kind}", fatal=True)
    reader = _unpacker(len(frame))
    reader.feed(frame)
    count = reader.read_array_header()
    if not 2 <= count <= 4:
        raise _Invalid(f"frame: expected 2 to 4 elements, got {count}")
    tag = reader.unpack()
    if not isinstance(tag, str):
        raise _Invalid(f"tag: expected a string, got {_kind(tag)}")
    at = reader.tell()
    blob = _blob_span(frame, at)
    mode: Mode
    if blob is not None:
        mode = "packed"
        _arity(count, 3, mode)
        reader.skip()
        options = _options(reader.unpack() if count == 3 else None)
        payload = frame[blob[0] : blob[1]]
        if options.compressed == "gzip":
            mode = "compressed"
            payload = _gunzip(payload, max_decompressed)
        entries = _unpack_stream(payload)
    elif frame[at] in _ARRAY:
        mode = "forward"
        _arity(count, 3, mode)
        entries = tuple(
            _entry(_next(reader, f"entries[{i}]"), f"entries[{i}]")
            for i in range(reader.read_array_header())
        )
        options = _options(reader.unpack() if count == 3 else None)
    else:
        mode = "message"
        if count < 3:
            raise _Invalid("frame: message mode needs [tag, time, record]")
        time = _time(_next(reader, "time"), "time")
        record = _record(_next(reader, "record"), "record")
        entries = ((time, record),)
        options = _options(reader.unpack() if count == 4 else None)
    return Entries(tag, entries, options.chunk, options.size, mode, len(frame))


def _arity(count: int, most: int, mode: str) -> None:
    if count > most:
        raise _Invalid(f"frame: {mode} mode takes at most {most} elements, got {count}")


def _next(reader: Any, where: str) -> Any:
    try:
        return reader.unpack()
    except _DECODE_ERRORS as exc:
        raise _Invalid(f"{where}: undecodable ({type(exc).__name__})") from None


def _blob_span(frame: bytes, at: int) -> tuple[int, int] | None:
    """Where the payload of a ``bin``/``str`` at ``at`` lies, or None for other types."""
    marker = frame[at]
    if 0xA0 <= marker <= 0xBF:
        return at + 1, at + 1 + (marker & 0x1F)
    width = _BLOB_WIDTH.get(marker)
    if width is None:
        return None
    start = at + 1 + width
    length = int.from_bytes(frame[at + 1 : start], "big")
    return start, start + length


def _unpack_stream(payload: bytes) -> tuple[Entry, ...]:
    """Decode a PackedForward stream, after checking in skip mode that it is whole."""
    walker = msgpack.Unpacker(max_buffer_size=max(len(payload), 1))
    walker.feed(payload)
    count = end = 0
    while end < len(payload):
        try:
            walker.skip()
        except msgpack.OutOfData:
            raise _Invalid(f"entries[{count}]: truncated at byte {end} of the stream") from None
        except ValueError as exc:
            raise _Invalid(f"entries[{count}]: invalid msgpack ({type(exc).__name__})") from None
        count += 1
        end = walker.tell()
    reader = _unpacker(len(payload))
    reader.feed(payload)
    return tuple(_entry(_next(reader, f"entries[{i}]"), f"entries[{i}]") for i in range(count))


def _gunzip(data: bytes, cap: int) -> bytes:
    """Inflate gzip members back to back, never producing more than ``cap`` bytes."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
        try:
            while not inflater.eof:
                piece = inflater.decompress(data, cap - len(out) + 1)
                out += piece
                if len(out) > cap:
                    raise _Invalid(f"entries: gzip data inflates past {cap} bytes")
                data = inflater.unconsumed_tail
                if not piece and not data and not inflater.eof:
                    raise _Invalid("entries: truncated gzip data")
        except zlib.error:
            raise _Invalid("entries: corrupt gzip data") from None
        data = inflater.unused_data
    return bytes(out)


def _entry(value: Any, where: str) -> Entry:
    if not isinstance(value, list) or len(value) != 2:
        raise _Invalid(f"{where}: expected [time, record], got {_kind(value)}")
    time = value[0]
    # Fluent Bit 2.1+ may send [[time, metadata], record]; the metadata is dropped.
    if isinstance(time, list) and len(time) == 2 and isinstance(time[1], dict):
        time = time[0]
    return _time(time, f"{where}.time"), _record(value[1], f"{where}.record")


def _time(value: Any, where: str) -> Time:
    if isinstance(value, EventTime) or (type(value) is int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _Invalid(f"{where}: not a finite number")
        return value
    if isinstance(value, msgpack.ExtType) and value.code == EVENT_TIME_EXT:
        raise _Invalid(f"{where}: malformed EventTime ({len(value.data)} bytes)")
    raise _Invalid(f"{where}: expected an integer, float or EventTime, got {_kind(value)}")


def _record(value: Any, where: str) -> Record:
    if not isinstance(value, dict):
        raise _Invalid(f"{where}: expected a map, got {_kind(value)}")
    return value


def _options(value: Any) -> _Options:
    if value is None:
        return _Options()
    if not isinstance(value, dict):
        raise _Invalid(f"option: expected a map, got {_kind(value)}")
    chunk = value.get("chunk")
    size = value.get("size")
    compressed = value.get("compressed")
    if chunk is not None and not isinstance(chunk, str):
        raise _Invalid(f"option.chunk: expected a string, got {_kind(chunk)}")
    if size is not None and (type(size) is not int or size < 0):
        raise _Invalid(f"option.size: expected a count, got {_kind(size)}")
    if compressed == "text":
        compressed = None
    if compressed not in (None, "gzip"):
        raise _Invalid("option.compressed: unsupported (only gzip and text)")
    return _Options(chunk=chunk, size=size, compressed=compressed)


def _kind(value: object) -> str:
    if isinstance(value, msgpack.ExtType):
        return f"ext type {value.code}"
    return {dict: "map", list: "array", str: "string", bytes: "binary", type(None): "nil"}.get(
        type(value), type(value).__name__
    )


# -- encoding (client side, and tests) -------------------------------------------------


def _pack(value: object) -> bytes:
    return bytes(msgpack.packb(value, use_bin_type=True, default=pack_default))


def encode_message(
    tag: str, time: Time, record: Mapping[Any, Any], option: Mapping[str, Any] | None = None
) -> bytes:
    """Encode a Message-mode frame ``[tag, time, record, option?]``."""
    frame: list[object] = [tag, time, record]
    if option is not None:
        frame.append(dict(option))
    return _pack(frame)


def encode_forward(
    tag: str, entries: Iterable[Entry], option: Mapping[str, Any] | None = None
) -> bytes:
    """Encode a Forward-mode frame ``[tag, [[time, record], ...], option?]``."""
    frame: list[object] = [tag, [[time, record] for time, record in entries]]
    if option is not None:
        frame.append(dict(option))
    return _pack(frame)


def encode_packed_forward(
    tag: str, entries: Iterable[Entry], *, chunk: str | None = None, compress: bool = False
) -> bytes:
    """Encode a PackedForward (or, with ``compress``, CompressedPackedForward) frame.

    The option map always carries ``size``; ``chunk`` asks the server for an ack. The
    gzip member has a zero mtime, so the same entries always give the same bytes, which
    lets a sender resend a frame byte for byte.
    """
    packer = msgpack.Packer(use_bin_type=True, default=pack_default)
    parts = [packer.pack([time, record]) for time, record in entries]
    payload = b"".join(parts)
    option: dict[str, object] = {"size": len(parts)}
    if chunk is not None:
        option["chunk"] = chunk
    if compress:
        payload = gzip.compress(payload, mtime=0)
        option["compressed"] = "gzip"
    return _pack([tag, payload, option])


def encode_ack(chunk: str) -> bytes:
    """Encode the server's answer to a ``chunk`` option: ``{"ack": chunk}``."""
    return _pack({"ack": chunk})


def new_chunk_id() -> str:
    """Return a fresh chunk id (base64 of 16 random bytes, as Fluentd makes them)."""
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")
