"""Following globs of log files with plain blocking I/O: rotation, truncation, restart.

Theory of operation. A :class:`Tailer` keeps one *follower* per open file, known by
device and inode (see :mod:`sidecar.checkpoint`). Each follower owns a
:class:`~sidecar.pipeline.multiline.LineSplitter` (bytes to lines) and a
:class:`~sidecar.pipeline.multiline.Joiner` (lines to records), both sans-I/O.
Reads use ``os.pread`` at the follower's own offset, in chunks of :data:`CHUNK_BYTES`,
and only when the follower's queue of ready records is empty, so at most one chunk's
worth of records is held per file: the caller's demand (``limit`` records per
:meth:`Tailer.poll`) is the backpressure.

:meth:`Tailer.poll` returns a :class:`TailOutput`: the record texts of one file, the
files found since the last poll with their starting points (safe to save at once: no
earlier record of theirs is in flight), and the checkpoint *updates* that become true
once those texts (and everything handed out before) are delivered: the file's new
position, a file restarted at 0 after truncation, or a file closed (forget it). The
caller commits them in the order the outputs were returned.

Scanning (every ``poll_s``) globs the patterns and stats each match:

* **New file**: at startup, read from its start, or from its end with
  ``read_from = "end"``; a file found later is always read from its start, as is a file
  at a path a checkpoint names (the successor of a file rotated while we were down).
* **Rename rotation**: the path now holds another inode. The old follower is *gone*:
  it keeps its open descriptor and is read to its end, its pending record handed out,
  before the file now at its old path is read (gone followers come first in every
  poll, and a poll returns the records of one file only). It keeps being read for
  ``linger_s`` after its last new byte, for writers that reopen late; then it is
  closed and an update tells the caller to forget it.
* **copytruncate**: the open file is shorter than our offset, or its head no longer
  matches its fingerprint. We look in its directory for a copy whose head matches and
  which is at least as long as our offset, read the missing tail from the copy, then
  restart the truncated file at 0. Bytes written between the copy and the truncation
  are lost; that is inherent to copytruncate.
* **Restart**: each checkpointed file is looked up in its last directory by
  device + inode + fingerprint (``app.log`` may now be ``app.log.1``) and read from the
  checkpointed offset; failing that, a copy with the same head (copytruncate while we
  were down) is read from the offset; failing that, the entry is dropped with a warning.

A final line without a newline stays pending until its newline arrives; it is flushed
only when a rotated file is closed, or at end of input in ``once`` mode. Lines longer
than ``max_line_bytes`` are never held whole: they become a placeholder naming the
file, offset and length. Not handled: a glob that also matches copytruncate copies
reads them again as files of their own.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import stat
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sidecar.checkpoint import FINGERPRINT_BYTES, FileCheckpoint, Fingerprint
from sidecar.config import MultilineConfig
from sidecar.pipeline.multiline import Joined, Joiner, LineSplitter

__all__ = ["CHUNK_BYTES", "TailOutput", "Tailer"]

#: Bytes read per system call; also bounds the records queued per file.
CHUNK_BYTES = 1 << 20

_log = logging.getLogger("sidecar.sources.file")
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


@dataclass(frozen=True, slots=True)
class TailOutput:
    r"""What one :meth:`Tailer.poll` found.

    Attributes:
        texts: record texts, all from one file (multi-line records joined with
            ``"\n"``); empty when nothing new was read.
        path: that file ("" when ``texts`` is empty).
        nbytes: raw bytes the texts cover.
        invalid_utf8: records whose bytes were not all valid UTF-8.
        oversized: records holding a placeholder for an over-long line.
        opened: new files (by follower id) and where they start; save these at once.
        updates: per follower id, its checkpoint once ``texts`` are delivered, or None
            for a closed file to forget; commit these after the texts.
    """

    texts: list[str]
    path: str
    nbytes: int
    invalid_utf8: int
    oversized: int
    opened: dict[int, FileCheckpoint]
    updates: dict[int, FileCheckpoint | None]


# Queued in a follower: a record (with the bytes it covers and the fingerprint then in
# force), a restart at 0 (its new checkpoint), or the file's close (None).
_Item = tuple[Joined, int, Fingerprint] | FileCheckpoint | None


class _Follower:
    """Mutable state of one open file."""

    __slots__ = ("closed", "copy_fd", "dev", "done", "emitted", "fd",
                 "fp", "gone_since", "id", "ino", "joiner", "last_data", "offset", "path",
                 "ready", "size", "splitter")  # fmt: skip

    def __init__(self, fid: int, fd: int, st: os.stat_result, path: str, offset: int) -> None:
        self.id, self.fd, self.path = fid, fd, path
        self.dev, self.ino, self.size = st.st_dev, st.st_ino, st.st_size
        self.offset = offset  # read position (in the copy while one is drained)
        self.emitted = offset  # end of the last record handed out
        self.fp = Fingerprint(0, "")
        self.splitter: LineSplitter
        self.joiner: Joiner
        self.ready: deque[_Item] = deque()
        self.gone_since: float | None = None
        self.last_data = 0.0
        self.copy_fd: int | None = None
        self.done = self.closed = False

    def checkpoint(self) -> FileCheckpoint:
        return FileCheckpoint(self.dev, self.ino, self.path, self.emitted, self.fp)


class Tailer:
    """Follows the files matching ``globs``; blocking I/O, one thread at a time.

    Args:
        globs: patterns (``**`` allowed) of the files to follow.
        checkpoints: where a previous run stopped (see :mod:`sidecar.checkpoint`).
        read_from: ``"beginning"`` or ``"end"``, for files found at startup that no
            checkpoint names.
        multiline: the multi-line rule; ``flush_ms`` is the idle time before a pending
            record is handed out.
        max_line_bytes: longer lines (and records) are replaced or cut.
        poll_s: seconds between scans for new, rotated and truncated files.
        linger_s: a rotated-away file is closed after this long without new bytes.
        once: read what is there now, flush everything at end of input, then stop.
        chunk_bytes: bytes per read.
        clock: monotonic seconds (injectable for tests).
    """

    def __init__(
        self,
        globs: Sequence[str],
        *,
        checkpoints: Sequence[FileCheckpoint] = (),
        read_from: str = "beginning",
        multiline: MultilineConfig | None = None,
        max_line_bytes: int = 16 * 1024 * 1024,
        poll_s: float = 0.25,
        linger_s: float = 10.0,
        once: bool = False,
        chunk_bytes: int = CHUNK_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if read_from not in ("beginning", "end"):
            raise ValueError(f"read_from must be 'beginning' or 'end', not {read_from!r}")
        self._globs = tuple(globs)
        self._checkpoints = tuple(checkpoints)
        self._from_end = read_from == "end"
        self._multiline = multiline if multiline is not None else MultilineConfig()
        self._flush_s = self._multiline.flush_ms / 1000
        self._max_line = max_line_bytes
        self._poll_s, self._linger_s, self._once = poll_s, linger_s, once
        self._chunk = chunk_bytes
        self._clock = clock
        self._followers: dict[int, _Follower] = {}
        self._opened: dict[int, FileCheckpoint] = {}
        self._next_id = 1
        self._rr = 0
        self._last_scan: float | None = None
        self._sizes: dict[int, int] = {}
        self._warned: set[str] = set()

    @property
    def exhausted(self) -> bool:
        """In ``once`` mode: every file was read to its end and everything handed out."""
        return (
            self._once
            and self._last_scan is not None
            and not self._opened
            and all(f.done and not f.ready for f in self._followers.values())
        )

    def sizes(self) -> dict[int, int]:
        """File size per follower id at the last scan (for lag metrics; thread-safe)."""
        return self._sizes

    def start(self) -> dict[int, FileCheckpoint]:
        """Resume checkpointed files, find the others; return their starting points."""
        if self._last_scan is None:
            for cp in self._checkpoints:
                self._recover(cp)
            self._scan({cp.path for cp in self._checkpoints})
        opened, self._opened = self._opened, {}
        return opened

    def poll(self, limit: int) -> TailOutput:
        """Scan if due, then read up to ``limit`` records of one file."""
        opened = self.start()
        due = self._last_scan is not None and self._clock() - self._last_scan >= self._poll_s
        if due and not self._once:
            self._scan(None)
        now = self._clock()
        live = [f for f in self._followers.values() if f.gone_since is None]
        turn = self._rr % len(live) if live else 0
        order = [f for f in self._followers.values() if f.gone_since is not None]
        order += live[turn:] + live[:turn]
        texts: list[str] = []
        updates: dict[int, FileCheckpoint | None] = {}
        path, counts = "", (0, 0, 0)
        for follower in order:
            counts = self._read(follower, limit, now, texts, updates)
            if texts:
                path = follower.path
                self._rr += 1
                break
        opened.update(self._opened)
        self._opened = {}
        return TailOutput(texts, path, *counts, opened, updates)

    def close(self) -> None:
        """Close every open file."""
        for follower in self._followers.values():
            _close_fds(follower)
        self._followers.clear()

    # -- discovery -------------------------------------------------------------------

    def _recover(self, cp: FileCheckpoint) -> _Follower | None:
        paths = _neighbours(cp.path)
        for path in paths:
            st = _stat(path)
            if st is not None and (st.st_dev, st.st_ino) == (cp.dev, cp.ino):
                if cp.fingerprint.matches_path(path):
                    return self._add(path, cp.offset, cp.fingerprint)
                break  # the inode was reused by another file
        if cp.offset > 0 and cp.fingerprint.length > 0:
            for path in paths:
                st = _stat(path)
                if st is None or st.st_size < cp.offset or self._following(st):
                    continue
                if cp.fingerprint.matches_path(path):
                    _log.info("checkpointed file %s: reading its rotated copy %s from %d",
                              cp.path, path, cp.offset)  # fmt: skip
                    return self._add(path, cp.offset, cp.fingerprint)
        _log.warning("checkpointed file %s is gone; dropped from the checkpoint", cp.path)
        return None

    def _scan(self, known: set[str] | None) -> None:
        """Glob, notice rotated and truncated files, add new ones.

        Args:
            known: at startup, the paths the checkpoint names; None on later scans.
        """
        now = self._clock()
        found: dict[tuple[int, int], str] = {}
        for pattern in self._globs:
            for path in sorted(glob.glob(pattern, recursive=True)):
                st = _stat(path)
                if st is not None:
                    found.setdefault((st.st_dev, st.st_ino), path)
        open_followers = [f for f in self._followers.values() if not f.closed]
        followed = {(f.dev, f.ino) for f in open_followers}
        for f in open_followers:
            seen = found.get((f.dev, f.ino))
            if seen is not None:
                f.path = f.splitter.name = seen
                f.gone_since = None
            elif f.gone_since is None:
                f.gone_since = now
            self._check(f)
        for key, path in found.items():
            if key in followed or (self._once and known is None):
                continue
            # At startup, a path a checkpoint names holds the successor of a file
            # rotated while we were down: read it whole, like any file found later.
            from_end = known is not None and self._from_end and path not in known
            self._add(path, None if from_end else 0, None, expect=key)
        self._last_scan = now
        self._sizes = {f.id: f.size for f in self._followers.values()}

    def _following(self, st: os.stat_result) -> bool:
        key = (st.st_dev, st.st_ino)
        return any((f.dev, f.ino) == key and not f.closed for f in self._followers.values())

    def _add(
        self,
        path: str,
        offset: int | None,
        fp: Fingerprint | None,
        expect: tuple[int, int] | None = None,
    ) -> _Follower | None:
        try:
            fd = os.open(path, _OPEN_FLAGS)
        except OSError as exc:
            if path not in self._warned:
                self._warned.add(path)
                _log.warning("cannot open %s (%s); skipped", path, exc.strerror)
            return None
        try:
            st = os.fstat(fd)
            if (expect is not None and (st.st_dev, st.st_ino) != expect) or self._following(st):
                os.close(fd)  # rotated between glob and open: the next scan sees it
                return None
            offset = st.st_size if offset is None else offset
            follower = _Follower(self._next_id, fd, st, path, offset)
            follower.fp = fp if fp is not None else Fingerprint.of_fd(fd)
        except OSError:
            os.close(fd)
            return None
        self._next_id += 1
        follower.splitter = LineSplitter(offset, self._max_line, path)
        follower.joiner = Joiner(self._multiline, max_chars=self._max_line)
        follower.last_data = self._clock()
        self._followers[follower.id] = follower
        self._opened[follower.id] = follower.checkpoint()
        return follower

    def _check(self, f: _Follower) -> None:
        """Detect truncation (size below our offset, or a changed head) and grow the fp."""
        if f.copy_fd is not None or f.closed:
            return
        try:
            f.size = os.fstat(f.fd).st_size
            replaced = f.size < f.offset or not f.fp.matches_fd(f.fd)
            if not replaced and f.fp.length < min(f.size, FINGERPRINT_BYTES):
                f.fp = Fingerprint.of_fd(f.fd)
        except OSError:
            return
        if not replaced:
            return
        copy = self._find_copy(f) if f.offset > 0 and f.fp.length > 0 else None
        if copy is not None:
            _log.info("%s was truncated; reading the rest from its copy", f.path)
            f.copy_fd = copy
        else:
            _log.warning("%s was truncated below offset %d and no copy holds the rest; "
                         "reading it again from 0", f.path, f.offset)  # fmt: skip
            self._restart(f)

    def _find_copy(self, f: _Follower) -> int | None:
        for path in _neighbours(f.path):
            st = _stat(path)
            if st is None or (st.st_dev, st.st_ino) == (f.dev, f.ino) or st.st_size < f.offset:
                continue
            try:
                fd = os.open(path, _OPEN_FLAGS)
            except OSError:
                continue
            try:
                if f.fp.matches_fd(fd):
                    return fd
            except OSError:
                pass
            os.close(fd)
        return None

    # -- reading ---------------------------------------------------------------------

    def _read(
        self,
        f: _Follower,
        limit: int,
        now: float,
        texts: list[str],
        updates: dict[int, FileCheckpoint | None],
    ) -> tuple[int, int, int]:
        """Move up to ``limit`` records of ``f`` into ``texts``, its changes to ``updates``.

        Returns:
            The bytes those records cover, how many had invalid UTF-8, how many were
            oversized.
        """
        last: tuple[int, Fingerprint] | None = None
        nbytes = invalid = oversized = 0
        while len(texts) < limit:
            if f.ready:
                item = f.ready.popleft()
                if isinstance(item, tuple):
                    joined, size, fp = item
                    texts.append(joined.text)
                    nbytes += size
                    invalid += joined.invalid_utf8
                    oversized += joined.oversized
                    last = (joined.end, fp)
                else:
                    updates[f.id] = item
                    last = None
                continue
            if f.closed:
                del self._followers[f.id]
                break
            if f.done:
                break
            try:
                data = os.pread(f.copy_fd if f.copy_fd is not None else f.fd, self._chunk, f.offset)
            except OSError as exc:
                _log.warning("cannot read %s at offset %d (%s)", f.path, f.offset, exc.strerror)
                if self._once:  # give up on this file rather than wait forever
                    self._flush(f)
                    f.done = True
                    continue
                break
            if data and f.copy_fd is None and not _same_head(f):
                # Truncated (and maybe written again) since the last check: these bytes
                # may be the new content at the old offset. Drop them; the check then
                # reads the rest of the old content from its copy, or restarts at 0.
                before = f.fp
                self._check(f)
                if f.copy_fd is None and f.fp is before:  # the check could not tell
                    break
                continue
            if data:
                f.offset += len(data)
                f.last_data = now
                emitted, fp, ready = f.emitted, f.fp, f.ready
                for joined in f.joiner.feed_lines(f.splitter.feed(data)):
                    ready.append((joined, joined.end - emitted, fp))
                    emitted = joined.end
                f.emitted = emitted
                continue
            if f.copy_fd is not None:  # the copy's tail is read: back to the truncated file
                self._restart(f)
            elif self._once:
                self._flush(f)
                f.done = True
                if f.gone_since is not None:
                    self._close(f)
            elif f.gone_since is not None:
                if now - max(f.gone_since, f.last_data) >= self._linger_s:
                    self._flush(f)
                    self._close(f)
                elif f.joiner.pending:  # rotated away: its last record is complete
                    self._emit(f, f.joiner.flush())
                else:
                    break
            elif f.joiner.pending and now - f.last_data >= self._flush_s:
                self._emit(f, f.joiner.flush())
            else:
                break
        if last is not None:
            updates[f.id] = FileCheckpoint(f.dev, f.ino, f.path, last[0], last[1])
        return nbytes, invalid, oversized

    def _emit(self, f: _Follower, joined: Joined | None) -> None:
        if joined is None:
            return
        f.ready.append((joined, joined.end - f.emitted, f.fp))
        f.emitted = joined.end

    def _flush(self, f: _Follower) -> None:
        """End of this file's input: hand out the unterminated line and pending record."""
        line = f.splitter.flush()
        if line is not None:
            for joined in f.joiner.feed(*line):
                self._emit(f, joined)
        self._emit(f, f.joiner.flush())

    def _restart(self, f: _Follower) -> None:
        """Finish the old content (copy or truncated file), then read the file from 0."""
        self._flush(f)
        if f.copy_fd is not None:
            os.close(f.copy_fd)
            f.copy_fd = None
        f.offset = f.emitted = 0
        f.splitter = LineSplitter(0, self._max_line, f.path)
        try:
            f.fp = Fingerprint.of_fd(f.fd)
        except OSError:
            f.fp = Fingerprint.of(b"")
        f.ready.append(f.checkpoint())

    def _close(self, f: _Follower) -> None:
        _close_fds(f)
        f.closed = True
        f.ready.append(None)


def _same_head(f: _Follower) -> bool:
    """Whether ``f``'s file still starts as when its fingerprint was taken.

    Checked right after a read: a truncation between two scans must not pass as lines.
    """
    try:
        return f.fp.matches_fd(f.fd)
    except OSError:
        return True  # unreadable now: the read itself reports it on the next round


def _close_fds(f: _Follower) -> None:
    for fd in (f.fd, f.copy_fd):
        if fd is not None and fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)
    f.fd, f.copy_fd = -1, None  # never close a number the OS may have handed out again


def _neighbours(path: str) -> list[str]:
    """Where a rotated ``path`` may be: its directory, and its symlink target's directory.

    Kubernetes' ``/var/log/containers/*.log`` are symlinks; the kubelet rotates the
    target inside ``/var/log/pods/...``, so that is where the old file is found.
    """
    directories = dict.fromkeys([os.path.dirname(path), os.path.dirname(os.path.realpath(path))])
    found: list[str] = []
    for directory in directories:
        try:
            names = sorted(os.listdir(directory or "."))
        except OSError as exc:
            _log.warning("cannot list %s (%s)", directory or ".", exc.strerror)
            continue
        found += [os.path.join(directory, name) for name in names]
    return found


def _stat(path: str) -> os.stat_result | None:
    """Stat a regular file (following symlinks); None for anything else or on error."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None
