"""Line streams: batch redaction plus the one piece of state a line reader needs.

A private key block written to a log spans many lines; the text detector sees the whole
block when it is in one string, but a line-by-line reader gets the ``BEGIN`` line and
then bare base64 lines that look like nothing in particular. :class:`LineStream`
remembers that it is inside a block and replaces every line until the ``END`` line
(at most :data:`MAX_BLOCK_LINES` lines, so a stray ``BEGIN`` cannot swallow a log).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from redactor.maskers import REDACTED
from redactor.redactor import Redactor

__all__ = ["MAX_BLOCK_LINES", "LineStream"]

MAX_BLOCK_LINES = 200
_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_END = re.compile(r"-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----")


class LineStream:
    """Redacts consecutive batches of lines of one stream, in order.

    Args:
        redactor: the redactor to use (shared, thread-safe).
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._block_lines = 0  # > 0 while inside a private key block

    @property
    def in_block(self) -> bool:
        """Whether the stream is inside a private key block (the next lines are in it)."""
        return self._block_lines > 0

    def feed(self, lines: Sequence[str]) -> list[str]:
        """Return the redacted lines, same count and order as ``lines``."""
        return self.fix(lines, self._redactor.redact_lines(lines))

    def fix(self, lines: Sequence[str], out: list[str]) -> list[str]:
        """Apply the stream's state to a batch redacted elsewhere (a worker process).

        Args:
            lines: the batch as read.
            out: the same batch after :meth:`Redactor.redact_lines`; changed in place.

        Returns:
            ``out``, with the lines inside private key blocks replaced.
        """
        for index, raw in enumerate(lines):
            if self._block_lines:
                end = _END.search(raw)
                if end is not None:
                    self._block_lines = 0
                    out[index] = REDACTED + raw[end.start() :]
                else:
                    self._block_lines -= 1
                    out[index] = REDACTED
                self._redactor.note("secret")
            elif "-----BEGIN" in raw:
                begin = _BEGIN.search(raw)
                if begin is not None and _END.search(raw, begin.end()) is None:
                    self._block_lines = MAX_BLOCK_LINES
        return out
