r"""From a file's bytes to records, sans-I/O: split into lines, join continuation lines.

Theory of operation: a :class:`LineSplitter` turns a file's bytes, fed in chunks of any
size, into decoded :class:`Line` items, each with the file offset just after it (any
chunking yields the same lines). A line longer than the limit is never held whole: it
is counted while skipped and becomes a placeholder naming the file, its offset and its
length. Invalid UTF-8 is decoded with U+FFFD and flagged. A trailing ``\r`` is dropped.

A :class:`Joiner` is fed those complete lines and hands back :class:`Joined` records. A
record cannot be known to be complete until the line *after* it arrives (the next line
might continue it), so the last record always stays pending until a line starts a new
record, the record reaches ``max_lines`` (or the character limit), or the caller calls
:meth:`Joiner.flush` (after ``flush_ms`` of idle time, or at end of input).

Each record carries ``end``, the offset just after its last line. A caller must only
ever checkpoint the ``end`` of a record it has handed on: the lines of the pending
record are not in any checkpoint, so after a crash they are read again and joined
again, and nothing is lost.

The default rule (``MultilineConfig.start`` is None), line by line:

* a line starting with ``{`` always starts a new record (a JSON object per line);
* an empty line, or one starting with whitespace, continues the record (stack frames,
  wrapped messages, and the blank lines between chained Python tracebacks);
* ``Traceback (most recent call last):`` continues the record (the message logged with
  ``logger.exception`` comes first) and enters *traceback* state;
* ``During handling of the above exception, another exception occurred:`` and
  ``The above exception was the direct cause of the following exception:`` continue;
* in traceback state, a non-indented line shaped like ``Name[.Name]*`` or
  ``Name[.Name]*: message`` is the exception line: it continues and ends the state;
* any other line starts a new record.

With ``start`` set, a line in which the regex is *found* (``re.search``; anchor it with
``^``) starts a record and every other line continues one.

Limits: a record is cut after ``max_lines`` lines, and before a line that would take it
past ``max_chars`` characters, so one endless stack trace cannot hold unbounded memory.
What is not handled: exception messages that span several non-indented lines, and
exception notes (``add_note``) printed after the exception line, start new records.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from sidecar.config import MultilineConfig

__all__ = ["Joined", "Joiner", "Line", "LineSplitter"]

_TRACEBACK = "Traceback (most recent call last):"
_CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)
# The last line of a traceback: a (dotted) exception class name, optionally ": message".
_EXCEPTION_LINE = re.compile(r"[^\W\d]\w*(?:\.[^\W\d]\w*)*(?::.*)?", re.DOTALL)


# Line and Joined are made once per line of every followed file. They are immutable
# NamedTuples rather than frozen dataclasses because those cost about four times as
# much to create, which showed in the sidecar's throughput.


class Line(NamedTuple):
    r"""One line of a file, decoded, without its ``\n`` (or ``\r\n``).

    Attributes:
        text: the decoded line, or a placeholder for an over-long line.
        end: file offset just after the line's newline.
        invalid_utf8: its bytes were not valid UTF-8 (decoded with U+FFFD).
        oversized: it was longer than the limit; ``text`` is a placeholder.
    """

    text: str
    end: int
    invalid_utf8: bool = False
    oversized: bool = False


class Joined(NamedTuple):
    r"""One record made of one or more lines.

    Attributes:
        text: the lines joined with ``"\n"`` (no trailing newline).
        end: file offset just after the record's last line; safe to checkpoint once
            the record has been delivered.
        lines: how many lines were joined.
        invalid_utf8: some line was not valid UTF-8 (decoded with U+FFFD).
        oversized: some line was over the size limit and replaced by a placeholder.
    """

    text: str
    end: int
    lines: int
    invalid_utf8: bool = False
    oversized: bool = False


_NOTHING: tuple[Joined, ...] = ()
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__


class Joiner:
    """Joins the lines of one file into records by the multi-line rule.

    Args:
        config: the multi-line rule and limits (``flush_ms`` is the caller's business).
        max_chars: a record is cut before a line that would make its text longer;
            None for no character limit.
    """

    __slots__ = ("_chars", "_end", "_in_traceback", "_invalid", "_lines", "_max_chars",
                 "_max_lines", "_oversized", "_start")  # fmt: skip

    def __init__(
        self, config: MultilineConfig | None = None, *, max_chars: int | None = None
    ) -> None:
        config = config if config is not None else MultilineConfig()
        self._start = re.compile(config.start) if config.start is not None else None
        self._max_lines = max(1, config.max_lines)
        self._max_chars = max_chars
        self._lines: list[str] = []
        self._chars = self._end = 0
        self._invalid = self._oversized = self._in_traceback = False

    def __repr__(self) -> str:
        return f"Joiner(pending_lines={len(self._lines)})"

    @property
    def pending(self) -> bool:
        """Whether a record is waiting for more lines (or a flush)."""
        return bool(self._lines)

    @property
    def pending_lines(self) -> int:
        """How many lines the pending record holds."""
        return len(self._lines)

    def feed(
        self, line: str, end: int, invalid_utf8: bool = False, oversized: bool = False
    ) -> tuple[Joined, ...]:
        """Add one complete line (without its newline).

        Args:
            line: the decoded line.
            end: file offset just after the line (and its newline).
            invalid_utf8: the line's bytes were not valid UTF-8.
            oversized: the line is a placeholder for an over-long line.

        Returns:
            The records this line completed, oldest first (zero, one or two).
        """
        # The common case (a line starting with a letter or digit, no traceback open)
        # takes the fewest steps: this runs once per line of every followed file.
        if self._start is not None:
            continues = self._start.search(line) is None
        elif not line:
            continues = True
        else:
            first = line[0]
            if first == "{":
                self._in_traceback = continues = False
            elif first.isspace():
                continues = True
            elif self._in_traceback or first in "DT":
                continues = self._python(line)
            else:
                continues = False
        out = _NOTHING
        lines = self._lines
        if lines:
            limit = self._max_chars
            if continues and (limit is None or self._chars + 1 + len(line) <= limit):
                self._chars += 1 + len(line)
                self._invalid = self._invalid or invalid_utf8
                self._oversized = self._oversized or oversized
            else:
                out = (self._take(),)
                lines = self._lines
                self._chars, self._invalid, self._oversized = len(line), invalid_utf8, oversized
        else:
            self._chars, self._invalid, self._oversized = len(line), invalid_utf8, oversized
        lines.append(line)
        self._end = end
        if len(lines) >= self._max_lines:
            out = (*out, self._take())
        return out

    def feed_lines(self, lines: list[Line]) -> list[Joined]:
        """Add several lines, as :meth:`feed` would one by one; return completed records."""
        out: list[Joined] = []
        feed = self.feed
        for line in lines:
            done = feed(*line)
            if done:
                out += done
        return out

    def flush(self) -> Joined | None:
        """Hand out the pending record, if any, and forget the traceback state.

        Call after ``flush_ms`` without new lines and at end of input.
        """
        self._in_traceback = False
        return self._take() if self._lines else None

    def _take(self) -> Joined:
        lines = self._lines
        text = lines[0] if len(lines) == 1 else "\n".join(lines)
        record = _new(Joined, (text, self._end, len(lines), self._invalid, self._oversized))
        self._lines = []
        self._chars = 0
        return record

    def _python(self, line: str) -> bool:
        """The traceback rules, for a non-indented line; updates the traceback state."""
        if line.startswith(_TRACEBACK):
            self._in_traceback = True
            return True
        if line.startswith(_CHAINED):
            self._in_traceback = False
            return True
        if self._in_traceback:
            self._in_traceback = False
            return _EXCEPTION_LINE.fullmatch(line) is not None
        return False


class LineSplitter:
    """Splits a file's bytes into lines, sans-I/O; any chunking gives the same lines.

    Args:
        offset: file offset of the first byte that will be fed.
        max_bytes: a longer line (not counting its newline) is counted, not kept: it
            becomes a placeholder naming ``name``, its offset and its length.
        name: the file, for placeholders.
    """

    __slots__ = ("_buf", "_max", "_pos", "_skipped", "_skipping", "_start", "name")

    def __init__(self, offset: int, max_bytes: int, name: str) -> None:
        self.name = name
        self._max = max_bytes
        self._pos = offset  # offset just after the bytes fed so far
        self._start = offset  # offset of the pending (unterminated) line
        self._buf = bytearray()
        self._skipping = False
        self._skipped = 0

    @property
    def offset(self) -> int:
        """File offset just after the bytes fed so far."""
        return self._pos

    def feed(self, data: bytes) -> list[Line]:
        """Add bytes; return the lines they complete."""
        base, size = self._pos, len(data)
        self._pos = base + size
        first = data.find(b"\n")
        if first < 0:
            self._hold(data, 0, size)
            return []
        # The first newline completes the pending line, held from earlier chunks.
        held = (self._skipped if self._skipping else len(self._buf)) + first
        end = base + first + 1
        if self._skipping or held > self._max:
            lines = [self._placeholder(held, end)]
        else:
            lines = [
                self._line(bytes(self._buf) + data[:first] if self._buf else data[:first], end)
            ]
        self._buf.clear()
        self._skipping = False
        last = data.rfind(b"\n")
        if last > first:
            limit = self._max
            append = lines.append
            for raw in data[first + 1 : last].split(b"\n"):
                start, end = end, end + len(raw) + 1
                if len(raw) > limit:
                    self._start = start
                    append(self._placeholder(len(raw), end))
                    continue
                if raw[-1:] == b"\r":
                    raw = raw[:-1]
                try:
                    append(_new(Line, (raw.decode("utf-8"), end, False, False)))
                except UnicodeDecodeError:
                    append(Line(raw.decode("utf-8", "replace"), end, True))
        self._start = base + last + 1
        if last + 1 < size:
            self._hold(data, last + 1, size)
        return lines

    def flush(self) -> Line | None:
        """Return the final line that has no newline (end of input), if any."""
        if self._skipping:
            line = self._placeholder(self._skipped, self._pos)
        elif self._buf:
            line = self._line(bytes(self._buf), self._pos)
        else:
            return None
        self._buf.clear()
        self._skipping = False
        self._start = self._pos
        return line

    def _hold(self, data: bytes, pos: int, size: int) -> None:
        if self._skipping:
            self._skipped += size - pos
        elif len(self._buf) + size - pos > self._max:
            # Over the limit without a newline: stop buffering, only count.
            self._skipping = True
            self._skipped = len(self._buf) + size - pos
            self._buf.clear()
        else:
            self._buf += data[pos:size]

    def _line(self, raw: bytes, end: int) -> Line:
        if len(raw) > self._max:
            return self._placeholder(len(raw), end)
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        try:
            return Line(raw.decode("utf-8"), end)
        except UnicodeDecodeError:
            return Line(raw.decode("utf-8", "replace"), end, True)

    def _placeholder(self, length: int, end: int) -> Line:
        text = f"[oversized line: {length} bytes at offset {self._start} in {self.name}]"
        return Line(text, end, False, True)
