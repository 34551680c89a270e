"""Segment files of the disk buffer: framing, the writer, the reader and the scan.

A segment is an append-only file of *frames*, one batch each; see :mod:`sidecar.buffer.disk`
for the layout and why it is shaped this way. This module only knows bytes and files: it
has no event loop and no notion of acknowledgement order. Every blocking call here is
made from a worker thread by :class:`~sidecar.buffer.disk.DiskBuffer`, so each file
descriptor is guarded by a lock: closing a file while a thread still reads it must never
let the descriptor number be reused under that thread.
"""

from __future__ import annotations

import errno
import os
import struct
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack  # type: ignore[import-untyped]

from sidecar.archive.format import MAGIC as ENCRYPTED_MAGIC
from sidecar.archive.format import (
    MAX_PLAINTEXT_BYTES,
    ArchiveFormatError,
    Decoder,
    Encoder,
    TruncatedTailError,
    UnknownKeyError,
)
from sidecar.archive.keys import ArchiveKey
from sidecar.record import Shipped

__all__ = [
    "ENCRYPTED_OVERHEAD",
    "MAX_PAYLOAD_BYTES",
    "PLAIN_MAGIC",
    "PLAIN_OVERHEAD",
    "Damaged",
    "Guarded",
    "Reader",
    "Scan",
    "Torn",
    "Writer",
    "count_records",
    "decode_payload",
    "encode_payload",
    "fsync_dir",
    "scan",
]

#: First bytes of a plaintext segment (an encrypted one starts with the archive magic).
PLAIN_MAGIC = b"\x89SCBUF1\n"
#: Largest payload of one frame: the archive format's cap, so both kinds agree.
MAX_PAYLOAD_BYTES = MAX_PLAINTEXT_BYTES
#: Bytes a frame adds to its payload: length, length check, CRC-32.
PLAIN_OVERHEAD = 12
#: Bytes an encrypted frame adds: length, length check, nonce, GCM tag.
ENCRYPTED_OVERHEAD = 8 + 12 + 16

_PREFIX = struct.Struct(">III")
_READ = 1 << 20


class Torn(Exception):
    """The segment ends inside a frame: a write that a crash cut short."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(f"torn tail at offset {offset} ({detail})")
        self.offset = offset


class Damaged(Exception):
    """A frame before the end is unreadable: corruption or tampering, not a crash."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(f"damaged frame at offset {offset} ({detail})")
        self.offset = offset


def encode_payload(records: Sequence[Shipped]) -> bytes:
    """Serialize one batch: a msgpack array of ``[tier, day, line]`` triples."""
    return bytes(msgpack.packb([[r.tier, r.day, r.line] for r in records], use_bin_type=True))


def decode_payload(payload: bytes) -> list[Shipped]:
    """Inverse of :func:`encode_payload`.

    Raises:
        ValueError: the payload is not a batch (names the position, not the contents).
    """
    try:
        items: Any = msgpack.unpackb(payload, raw=False, use_list=True)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"undecodable batch ({type(exc).__name__})") from None
    if not isinstance(items, list):
        raise ValueError("batch: expected an array")
    out: list[Shipped] = []
    for i, item in enumerate(items):
        if not (
            isinstance(item, list)
            and len(item) == 3
            and isinstance(item[0], str)
            and isinstance(item[1], str)
            and isinstance(item[2], bytes)
        ):
            raise ValueError(f"batch[{i}]: expected [tier, day, line]")
        out.append(Shipped(item[0], item[1], item[2]))
    return out


def count_records(payload: bytes) -> int:
    """Return how many records a payload holds, reading only the array header."""
    unpacker = msgpack.Unpacker(raw=True)
    unpacker.feed(payload[:5])
    try:
        return int(unpacker.read_array_header())
    except (ValueError, msgpack.UnpackException):
        return 0


def fsync_dir(path: Path) -> None:
    """Make a directory's entries (a created or renamed file) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Guarded:
    """A file descriptor that is never closed while a thread is using it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1

    def _check(self) -> int:
        if self._fd < 0:
            raise OSError(errno.EBADF, "segment file closed")
        return self._fd


class Writer(Guarded):
    """Appends frames to a new segment file (created here, exclusively).

    Args:
        path: the segment to create; it must not exist.
        key: encrypt frames with this key; None writes plaintext frames.
    """

    def __init__(self, path: Path, key: ArchiveKey | None) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        super().__init__(fd)
        self.path = path
        self._encoder = Encoder(key) if key is not None else None
        header = self._encoder.header if self._encoder is not None else PLAIN_MAGIC
        try:
            self._write_all(header)
            os.fsync(fd)
            fsync_dir(path.parent)
        except OSError:
            self.close()
            raise
        #: Bytes written so far, header included.
        self.size = len(header)

    def append(self, payloads: Sequence[bytes]) -> list[int]:
        """Write one frame per payload, then fsync; return each frame's size.

        Raises:
            OSError: the write or fsync failed; the file must then be abandoned, since
                it may end in a torn frame.
        """
        with self._lock:
            self._check()
            sizes: list[int] = []
            chunks: list[bytes] = []
            for payload in payloads:
                if self._encoder is not None:
                    frame = self._encoder.frame(payload)
                else:
                    n = len(payload)
                    frame = _PREFIX.pack(n, n ^ 0xFFFFFFFF, zlib.crc32(payload)) + payload
                chunks.append(frame)
                sizes.append(len(frame))
            self._write_all(b"".join(chunks))
            os.fsync(self._fd)
            self.size += sum(sizes)
            return sizes

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]


class Reader(Guarded):
    """Reads the frames of one segment in order.

    Args:
        path: the segment file.
        key: the buffer's key, needed for an encrypted segment.

    Raises:
        OSError: the file cannot be opened.
    """

    def __init__(self, path: Path, key: ArchiveKey | None) -> None:
        super().__init__(os.open(path, os.O_RDONLY))
        self.path = path
        self._key = key
        self._decoder: Decoder | None = None
        self._kind: str | None = None  # "plain" or "encrypted", once the header is read
        self._pos = 0  # file offset of the next byte to read (or feed)
        #: File offset just past the last frame returned (the header counts as read).
        self.offset = 0

    @property
    def encrypted(self) -> bool:
        """True if the segment's header is the encrypted archive header."""
        return self._kind == "encrypted"

    def next(self, limit: int) -> bytes | None:
        """Return the next frame's payload, or None at a clean end.

        Args:
            limit: read no byte at or past this offset (the writer's committed size,
                or the file size when scanning).

        Raises:
            Torn: the bytes before ``limit`` end inside the header or a frame.
            Damaged: a frame is corrupt (and not merely cut short).
            UnknownKeyError: the segment is encrypted with a key we do not hold.
            OSError: reading failed.
        """
        with self._lock:
            fd = self._check()
            if self._kind is None:
                self._read_header(fd, limit)
            if self._decoder is not None:
                return self._next_encrypted(fd, limit)
            return self._next_plain(fd, limit)

    def _read_header(self, fd: int, limit: int) -> None:
        head = os.pread(fd, len(PLAIN_MAGIC), 0) if limit > 0 else b""
        if len(head) < len(PLAIN_MAGIC) or limit < len(PLAIN_MAGIC):
            if limit == 0:
                raise Torn(0, "empty file")
            raise Torn(0, "incomplete header")
        if head == PLAIN_MAGIC:
            self._kind = "plain"
            self._pos = self.offset = len(PLAIN_MAGIC)
            return
        if head != ENCRYPTED_MAGIC:
            raise Damaged(0, "not a buffer segment (bad magic)")
        if self._key is None:
            raise UnknownKeyError("encrypted segment, but the buffer has no key", 0)
        self._kind = "encrypted"
        self._decoder = Decoder({self._key.key_id: self._key})

    def _next_plain(self, fd: int, limit: int) -> bytes | None:
        at = self.offset
        if at >= limit:
            return None
        head = os.pread(fd, _PREFIX.size, at) if limit - at >= _PREFIX.size else b""
        if len(head) < _PREFIX.size:
            raise Torn(at, "incomplete frame header")
        n, check, crc = _PREFIX.unpack(head)
        if check != n ^ 0xFFFFFFFF:
            if _all_zero(fd, at, limit):
                raise Torn(at, "zero-filled")
            raise Damaged(at, "length field damaged")
        if n > MAX_PAYLOAD_BYTES:
            raise Damaged(at, f"frame length {n} over the cap")
        end = at + _PREFIX.size + n
        if end > limit:
            raise Torn(at, "incomplete frame")
        payload = os.pread(fd, n, at + _PREFIX.size)
        if len(payload) < n:
            raise Torn(at, "incomplete frame")
        if zlib.crc32(payload) != crc:
            # The last frame of a crashed write can hold garbage where data never landed.
            if end == limit:
                raise Torn(at, "checksum of the last frame")
            raise Damaged(at, "checksum mismatch")
        self.offset = end
        return payload

    def _next_encrypted(self, fd: int, limit: int) -> bytes | None:
        decoder = self._decoder
        assert decoder is not None
        try:
            while True:
                plain = decoder.next_frame()
                if plain is not None:
                    self.offset = decoder.offset
                    return plain
                if self._pos >= limit:
                    decoder.end()  # raises TruncatedTailError if a frame is cut short
                    self.offset = max(self.offset, decoder.offset)
                    return None
                data = os.pread(fd, min(_READ, limit - self._pos), self._pos)
                if not data:
                    decoder.end()
                    return None
                self._pos += len(data)
                decoder.feed(data)
        except TruncatedTailError as exc:
            raise Torn(exc.offset, exc.detail) from None
        except UnknownKeyError:
            raise
        except ArchiveFormatError as exc:
            raise Damaged(exc.offset, exc.detail) from None


def _all_zero(fd: int, start: int, end: int) -> bool:
    while start < end:
        data = os.pread(fd, min(_READ, end - start), start)
        if not data:
            return True
        if data.count(0) != len(data):
            return False
        start += len(data)
    return True


@dataclass(slots=True)
class Scan:
    """What a segment holds, as found by :func:`scan`.

    Attributes:
        batches: ``(frame bytes, records)`` of each complete frame, in order.
        size: offset just past the last complete frame.
        tail: why reading stopped early (a torn or damaged frame), else None.
    """

    batches: list[tuple[int, int]]
    size: int
    tail: Torn | Damaged | None


def scan(path: Path, key: ArchiveKey | None) -> Scan:
    """Read a whole segment, checking every frame, and say where its good part ends.

    Raises:
        UnknownKeyError: the segment is encrypted and ``key`` is not its key.
        OSError: the file cannot be read.
    """
    result = Scan([], 0, None)
    limit = path.stat().st_size
    reader = Reader(path, key)
    try:
        while True:
            try:
                payload = reader.next(limit)
            except (Torn, Damaged) as exc:
                result.tail = exc
                return result
            if payload is None:
                return result
            overhead = ENCRYPTED_OVERHEAD if reader.encrypted else PLAIN_OVERHEAD
            result.batches.append((len(payload) + overhead, count_records(payload)))
            result.size = reader.offset
    finally:
        reader.close()
