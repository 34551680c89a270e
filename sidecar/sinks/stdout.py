"""``type = "stdout"``: JSON lines on standard output, for node-level collectors.

A write returns once the lines have been handed to the operating system (flushed to
file descriptor 1); a full pipe blocks the write, which is the backpressure a slow
collector should cause. The sidecar's own log lines go to stderr, never here.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Sequence
from typing import BinaryIO

from sidecar.errors import SinkError
from sidecar.record import Shipped, lines_of

__all__ = ["StdoutSink"]


class StdoutSink:
    """Writes each record's JSON line to standard output.

    Args:
        name: the sink's configured name.
        stream: where to write; standard output's binary buffer by default.
    """

    def __init__(self, name: str = "stdout", stream: BinaryIO | None = None) -> None:
        self.name = name
        self._stream = stream if stream is not None else sys.stdout.buffer

    async def write(self, records: Sequence[Shipped]) -> None:
        """Write and flush ``records``; raises ``SinkError`` when stdout is gone."""
        if not records:
            return
        blob = b"\n".join(lines_of(records)) + b"\n"
        try:
            await asyncio.to_thread(self._write, blob)
        except (OSError, ValueError) as exc:
            reason = type(exc).__name__
            raise SinkError(f"sink {self.name}: cannot write to stdout ({reason})") from None

    def _write(self, blob: bytes) -> None:
        self._stream.write(blob)
        self._stream.flush()

    async def close(self) -> None:
        """Flush what is buffered."""
        with contextlib.suppress(OSError, ValueError):
            self._stream.flush()
