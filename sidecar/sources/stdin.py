"""``type = "stdin"``: records from standard input, one per line, until end of file.

For piping a file or another program through the sidecar. There is nothing to
checkpoint: a batch is acknowledged by being delivered, and at end of input the source
ends. Lines longer than ``max_line_bytes`` are not held whole in memory: they are
replaced by a placeholder naming the line's number and length, and counted. Invalid
UTF-8 is decoded with U+FFFD and counted.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator

from sidecar.config import StdinSourceConfig
from sidecar.record import SourceBatch

__all__ = ["StdinSource"]


def _nothing() -> None:
    return None


class StdinSource:
    """Reads standard input in a thread and yields batches of lines.

    Args:
        config: the source's configuration.
        stream: the binary stream to read; standard input by default.
    """

    def __init__(self, config: StdinSourceConfig, stream: io.BufferedIOBase | None = None) -> None:
        self.name = config.name
        self.format = config.format
        self._config = config
        self._stream: io.BufferedIOBase = stream if stream is not None else sys.stdin.buffer  # type: ignore[assignment]
        self._stopped = False
        self._line_no = 0
        self._buf = bytearray()
        self._eof = False
        self._skipping = False
        self._skipped = 0

    def stop(self) -> None:
        """End the iterator after the batch being read."""
        self._stopped = True

    def lag_bytes(self) -> int:
        """Nothing is checkpointed for stdin: no lag to report."""
        return 0

    async def batches(self) -> AsyncIterator[SourceBatch]:
        """Yield batches of at most ``batch_lines`` records until end of input."""
        while not self._stopped:
            batch = await asyncio.to_thread(self._read_batch)
            if batch is None:
                return
            yield batch

    def _read_batch(self) -> SourceBatch | None:
        """Return the complete lines available now (waiting only when there are none)."""
        limit = self._config.max_line_bytes
        texts: list[str] = []
        batch = SourceBatch(self.name, texts, _nothing)
        buf = self._buf
        while True:
            start = 0
            while len(texts) < self._config.batch_lines:
                end = buf.find(b"\n", start)
                if end < 0:
                    break
                self._take(batch, bytes(buf[start:end]), end + 1 - start)
                start = end + 1
            del buf[:start]
            if texts:
                return batch
            if self._eof:
                if buf:
                    self._take(batch, bytes(buf), len(buf))
                    buf.clear()
                return batch if texts else None
            chunk = self._stream.read1(1 << 20)
            if not chunk:
                self._eof = True
                continue
            if self._skipping:
                cut = chunk.find(b"\n")
                self._skipped += len(chunk) if cut < 0 else cut + 1
                if cut < 0:
                    continue
                self._oversized(batch, limit, self._skipped - 1)
                chunk = chunk[cut + 1 :]
            buf += chunk
            if len(buf) > limit and buf.find(b"\n") < 0:
                self._skipping = True
                self._skipped = len(buf)
                buf.clear()

    def _oversized(self, batch: SourceBatch, limit: int, length: int) -> None:
        """Ship a placeholder naming the line and its length (without the newline)."""
        self._line_no += 1
        self._skipping = False
        batch.nbytes += self._skipped
        batch.oversized += 1
        batch.texts.append(
            f"[OVERSIZED_LINE] stdin line {self._line_no}: {length} bytes, over the "
            f"{limit}-byte limit, not shipped"
        )

    def _take(self, batch: SourceBatch, raw: bytes, nbytes: int) -> None:
        if len(raw) > self._config.max_line_bytes:
            self._skipped = nbytes
            self._oversized(batch, self._config.max_line_bytes, len(raw))
            return
        self._line_no += 1
        batch.nbytes += nbytes
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            batch.texts.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            batch.invalid_utf8 += 1
            batch.texts.append(raw.decode("utf-8", "replace"))
