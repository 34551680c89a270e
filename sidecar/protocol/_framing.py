"""Cut a msgpack byte stream into complete top-level objects without building them.

Theory of operation: the forward protocol has no length prefix; a frame is simply one
top-level msgpack object. :class:`FrameSplitter` finds frame boundaries with
``msgpack.Unpacker.skip()``, which runs the C parser in *skip* mode: it walks headers
and lengths but creates no Python objects, and resumes where it stopped when more bytes
arrive. Meanwhile the splitter keeps its own copy of the bytes of the unfinished frame,
so once ``skip()`` succeeds the exact frame bytes can be handed on.

Why not decode while streaming: a streaming decoder allocates each array or map as soon
as it reads a header claiming ``n`` elements, before the elements arrive. A few bytes of
nested ``array32`` headers would reserve gigabytes. By decoding only *complete* frames,
every claimed element is known to exist in the bytes at hand, so the objects built are
bounded by the frame size (times a constant for Python object overhead).

Memory bound: bytes are fed to the parser in slices so that the unfinished frame never
exceeds ``limit`` bytes; reaching the limit without completing a frame is a fatal error.
Two copies of at most ``limit`` bytes are held (ours and the parser's buffer).
"""

from __future__ import annotations

from collections.abc import Iterator

import msgpack  # type: ignore[import-untyped]

__all__ = ["FrameSplitter", "FramingError"]


class FramingError(Exception):
    """The stream cannot be framed any further (oversize or malformed msgpack).

    Peer-caused; the message names the limit or the byte offset, never contents.
    """


class FrameSplitter:
    """Yields complete top-level msgpack objects, as bytes, from a byte stream.

    Args:
        max_frame_bytes: the largest frame ever allowed; sizes the parser's buffer.
        limit: the largest frame allowed right now (at most ``max_frame_bytes``); the
            caller may raise it later, e.g. once a handshake has succeeded.
    """

    def __init__(self, max_frame_bytes: int, limit: int | None = None) -> None:
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be positive")
        self._max = max_frame_bytes
        self._limit = max_frame_bytes if limit is None else min(limit, max_frame_bytes)
        self._parser = msgpack.Unpacker(max_buffer_size=max_frame_bytes)
        self._pending = bytearray()  # bytes of the unfinished frame, from its first byte
        self._start = 0  # stream offset of the unfinished frame's first byte

    @property
    def max_frame_bytes(self) -> int:
        """The largest frame ever allowed (the ceiling for ``limit``)."""
        return self._max

    @property
    def limit(self) -> int:
        """The largest frame allowed now."""
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = max(1, min(value, self._max))

    @property
    def buffered(self) -> int:
        """Bytes held for the unfinished frame (never more than ``limit``)."""
        return len(self._pending)

    @property
    def offset(self) -> int:
        """Stream offset of the first byte not yet returned in a frame."""
        return self._start

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Add ``data`` and yield each frame it completes, in order.

        The generator is lazy on purpose: frames are cut one at a time, so a caller
        that changes ``limit`` after a frame (say, after authentication) has the new
        limit apply to the very next one.

        Raises:
            FramingError: a frame would exceed ``limit``, or the bytes are not msgpack.
        """
        view = memoryview(data)
        used = 0
        while True:
            yield from self._cut()
            if len(self._pending) >= self._limit:
                raise FramingError(
                    f"frame at offset {self._start} exceeds the {self._limit}-byte limit"
                )
            if used >= len(view):
                return
            piece = view[used : used + self._limit - len(self._pending)]
            used += len(piece)
            self._parser.feed(piece)
            self._pending += piece

    def _cut(self) -> Iterator[bytes]:
        """Yield every frame already complete in the parser's buffer."""
        while self._pending:
            try:
                self._parser.skip()
            except msgpack.OutOfData:
                return
            except ValueError as exc:  # FormatError, StackError: framing is lost
                raise FramingError(
                    f"invalid msgpack ({type(exc).__name__}) in the frame at offset {self._start}"
                ) from None
            end = self._parser.tell()
            size = end - self._start
            frame = bytes(self._pending[:size])
            del self._pending[:size]
            self._start = end
            yield frame
