"""``type = "stdin"``: records from standard input, one per line, until end of file.

For piping a file or another program through the sidecar. There is nothing to
checkpoint: a batch is acknowledged by being delivered, and at end of input the source
ends. Bytes are cut into lines by the file source's
:class:`~sidecar.pipeline.multiline.LineSplitter`, so both sources treat lines alike:
a line longer than ``max_line_bytes`` is never held whole in memory, it becomes a
placeholder naming its offset and length and is counted; invalid UTF-8 is decoded with
U+FFFD and counted.
"""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator

from sidecar.config import StdinSourceConfig
from sidecar.pipeline.multiline import Line, LineSplitter
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
        self._splitter = LineSplitter(0, config.max_line_bytes, "stdin")
        self._lines: list[Line] = []  # split but not yet handed out
        self._eof = False
        self._shipped = 0  # input offset just after the last line handed out

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
        while not self._lines:
            if self._eof:
                return None
            chunk = self._stream.read1(1 << 20)  # what is there, so a pause cuts a batch
            if chunk:
                self._lines = self._splitter.feed(chunk)
                continue
            self._eof = True
            last = self._splitter.flush()
            if last is not None:
                self._lines = [last]
        lines, self._lines = (
            self._lines[: self._config.batch_lines],
            self._lines[self._config.batch_lines :],
        )
        batch = SourceBatch(self.name, [line.text for line in lines], _nothing)
        batch.nbytes = lines[-1].end - self._shipped  # offsets count every byte read
        self._shipped = lines[-1].end
        batch.invalid_utf8 = sum(line.invalid_utf8 for line in lines)
        batch.oversized = sum(line.oversized for line in lines)
        return batch
