r"""The on-disk buffer in front of a network sink: a durable FIFO of batches.

Theory of operation. :meth:`DiskBuffer.append` writes a batch of records to the newest
*segment* file and fsyncs before it returns, so the runner may advance the sources'
checkpoints at once: from then on the records survive a crash of the sidecar. One
consumer (the drainer of :class:`~sidecar.buffer.sink.BufferedSink`) calls
:meth:`DiskBuffer.peek` for the oldest batch not yet acknowledged, delivers it, and
calls :meth:`DiskBuffer.ack`; acknowledgements are therefore in order, and the whole
consumer state is one position, *(segment, batches acked in it)*, kept in the ack
file. A restart resumes at that position: at-least-once, and only the batch being
delivered when the process died can come twice (an ack is persisted before the next
batch is peeked).

Invariants:

* Segments are append-only and written by one process run only: a restart never
  appends to an old segment (a torn tail may end it), it starts a new one, numbered
  above every segment and above the ack position.
* A segment is deleted only once all its batches are acknowledged. Disk use is
  therefore the unacknowledged bytes plus at most one segment of acknowledged ones.
* ``append`` waits while the unacknowledged bytes plus the new batch would exceed
  ``max_bytes`` (backpressure; a batch larger than that is still taken into an empty
  buffer). It never drops.
* A batch becomes visible to ``peek`` only after its fsync, so the consumer never
  reads a frame that a crash could still tear.
* A torn tail (a crash inside ``append``, after which that append never returned, so
  no source advanced past it) is discarded at open, logged with the segment and the
  offset, and counted in ``sidecar_errors_total{component="buffer",reason="read"}``.
  A damaged frame *before* the end (disk corruption) also ends what is readable of
  that segment, with the same count; later segments are unaffected. Either way the
  segment is truncated after its last good frame, so it is reported once.

On-disk layout, in ``directory``::

    lock                 flock'ed while open: one process per buffer
    ack                  the position, 2 slots x 32 bytes, the newer valid slot wins
                         (sidecar.buffer._ackfile); rewritten and fdatasync'd per ack:
                           "BACK" | generation u64 | segment u64 | acked u64 | crc32
    <segment:016d>.seg   a segment: header, then one frame per batch

    plaintext segment:  header  b"\x89SCBUF1\n"
                        frame   n u32 | n XOR 0xFFFFFFFF u32 | crc32(payload) u32 | payload
    encrypted segment:  the archive format (:mod:`sidecar.archive.format`): its header
                        (key id, file id), then AES-256-GCM frames of the payload

    payload             msgpack array of [tier str, day str, line bin]

Integers are big-endian. An encrypted segment binds every frame to the file and to its
position, so frames cannot be moved, dropped from the middle, or swapped between files
undetected; its plaintext is the same payload (not gzip: the buffer trades disk for
CPU). Segments of the other kind stay readable (enabling encryption does not strand a
plaintext backlog); an encrypted segment whose key is not configured stops the open
with an error rather than being deleted.

Blocking file work runs in worker threads; in-memory state changes only on the event
loop. A write or a read is a task shielded from its caller's cancellation, so a
cancelled ``append`` or ``peek`` never leaves the files and the counters disagreeing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sidecar.archive.format import UnknownKeyError
from sidecar.archive.keys import ArchiveKey
from sidecar.buffer._ackfile import AckFile, AckState
from sidecar.buffer._segment import (
    ENCRYPTED_OVERHEAD,
    MAX_PAYLOAD_BYTES,
    PLAIN_OVERHEAD,
    Damaged,
    Reader,
    Torn,
    Writer,
    decode_payload,
    encode_payload,
    scan,
)
from sidecar.errors import SinkError
from sidecar.metrics import Metrics
from sidecar.record import Shipped

__all__ = ["BATCH_BYTES", "BatchToken", "DiskBuffer"]

log = logging.getLogger(__name__)

#: Record bytes per stored batch: a larger ``append`` is split, bounding both the
#: memory of one ``peek`` and the duplicates one crash can cause.
BATCH_BYTES = 4 * 1024 * 1024
_SEGMENT = re.compile(r"^(\d{16})\.seg$")


@dataclass(frozen=True, slots=True)
class BatchToken:
    """Names the batch :meth:`DiskBuffer.peek` returned, for :meth:`DiskBuffer.ack`."""

    segment: int
    index: int


@dataclass(slots=True)
class _Segment:
    seq: int
    path: Path
    total: int = 0  # complete batches in the file
    acked: int = 0
    read: int = 0  # frames the reader has returned
    size: int = 0  # bytes up to the end of the last complete frame
    pending: deque[tuple[int, int]] = field(default_factory=deque)  # (bytes, records)
    reader: Reader | None = None
    writer: Writer | None = None

    def close(self) -> None:
        for handle in (self.reader, self.writer):
            if handle is not None:
                handle.close()
        self.reader = self.writer = None


class DiskBuffer:
    """A durable, bounded FIFO of record batches in ``directory``.

    Args:
        directory: the buffer's own directory (created ``0o700`` if missing).
        max_bytes: unacknowledged bytes past which ``append`` waits.
        key: encrypt new segments with this key; None writes plaintext.
        name: the sink's name, for logs and metric labels.
        metrics: where the level gauges and torn-tail errors are recorded.
        segment_bytes: a segment is closed and a new one started past this size;
            default a quarter of ``max_bytes``, between 64 KiB and 64 MiB.
        batch_bytes: record bytes per stored batch (see :data:`BATCH_BYTES`).

    Raises:
        SinkError: another process holds the buffer, or an encrypted segment needs a
            key that is not configured.
        OSError: the directory cannot be created or read.
    """

    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        key: ArchiveKey | None,
        *,
        name: str = "buffer",
        metrics: Metrics | None = None,
        segment_bytes: int | None = None,
        batch_bytes: int = BATCH_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.name = name
        self._max = max_bytes
        self._key = key
        self._metrics = metrics
        self._segment_bytes = segment_bytes or min(64 << 20, max(64 << 10, max_bytes // 4))
        self._batch_bytes = max(1, batch_bytes)
        self._overhead = ENCRYPTED_OVERHEAD if key is not None else PLAIN_OVERHEAD
        self._segments: deque[_Segment] = deque()
        self._active: _Segment | None = None
        self._bytes = 0
        self._records = 0
        self._head: tuple[BatchToken, list[Shipped]] | None = None
        self._read_task: asyncio.Task[bytes | None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._append_lock = asyncio.Lock()
        self._write_lock = asyncio.Lock()
        self._peek_lock = asyncio.Lock()
        self._data = asyncio.Event()
        self._space = asyncio.Event()
        self._empty = asyncio.Event()
        self._closed = False
        #: Batches discarded at open because a segment ended in a torn or damaged frame.
        self.torn = 0
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._lock_fd = os.open(self.directory / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise SinkError(f"buffer {self.directory} is in use by another process") from None
        try:
            self._ackfile = AckFile(self.directory / "ack")
            self._next_seq = self._load()
        except BaseException:
            self._release()
            raise
        self._publish()

    # -- state ---------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        """Bytes of unacknowledged batches on disk (frames, not counting headers)."""
        return self._bytes

    @property
    def records(self) -> int:
        """Records in unacknowledged batches."""
        return self._records

    @property
    def batches(self) -> int:
        """Unacknowledged batches."""
        return sum(len(s.pending) for s in self._segments)

    def segment_files(self) -> list[Path]:
        """The segment files currently on disk, oldest first."""
        return [s.path for s in self._segments]

    def _load(self) -> int:
        state = self._ackfile.state
        highest = state.segment
        for path in sorted(self.directory.iterdir()):
            match = _SEGMENT.match(path.name)
            if match is None:
                continue
            seq = int(match.group(1))
            highest = max(highest, seq)
            if seq < state.segment:
                path.unlink()  # finished before the last run stopped
                continue
            segment = self._scan(seq, path)
            skip = min(segment.total, state.acked if seq == state.segment else 0)
            segment.acked = skip
            for _ in range(skip):
                segment.pending.popleft()
            if not segment.pending:
                path.unlink()
                continue
            self._segments.append(segment)
            for nbytes, nrecords in segment.pending:
                self._bytes += nbytes
                self._records += nrecords
        if self._records == 0:
            self._empty.set()
        else:
            self._data.set()
        return highest + 1

    def _scan(self, seq: int, path: Path) -> _Segment:
        try:
            found = scan(path, self._key)
        except UnknownKeyError:
            raise SinkError(
                f"buffer segment {path} is encrypted with a key that is not configured "
                "(set buffer.encryption_key_env to it)"
            ) from None
        if found.tail is not None:
            self.torn += 1
            kind = "torn tail" if isinstance(found.tail, Torn) else "damaged frame"
            log.warning(
                "buffer %s: %s: %s at offset %d discarded (batch %d)",
                self.name, path.name, kind, found.tail.offset, len(found.batches),
            )  # fmt: skip
            if self._metrics is not None:
                self._metrics.error("buffer", self.name, "read")
            # Cut it off, so the next open neither reports it again nor reads it.
            os.truncate(path, found.size)
        batches = found.batches
        return _Segment(seq, path, len(batches), size=found.size, pending=deque(batches))

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.buffer_level(self.name, self._bytes, self._records)

    # -- writing -------------------------------------------------------------------

    async def append(self, records: Sequence[Shipped]) -> None:
        """Store ``records`` as one or more batches; return once they are fsync'd.

        Waits while the buffer is full (see the module docstring). Batches keep the
        order of ``append`` calls.

        Raises:
            SinkError: the buffer is closed, or a single record is too large to store.
            OSError: writing failed; the records are not stored (the caller retries).
        """
        if not records:
            return
        batches = self._pack(records)
        need = sum(len(p) + self._overhead for p, _ in batches)
        async with self._append_lock:
            while self._bytes > 0 and self._bytes + need > self._max:
                self._check_open()
                self._space.clear()
                await self._space.wait()
            self._check_open()
            # Shielded: a cancelled caller must not leave a written batch uncounted.
            task = asyncio.ensure_future(self._commit(batches))
            self._tasks.add(task)
            task.add_done_callback(self._forget)
            await asyncio.shield(task)

    def _forget(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the caller may have been cancelled meanwhile

    def _pack(self, records: Sequence[Shipped]) -> list[tuple[bytes, int]]:
        batches: list[tuple[bytes, int]] = []
        start, size = 0, 0
        for i, record in enumerate(records):
            if i > start and size + len(record.line) > self._batch_bytes:
                batches.append((encode_payload(records[start:i]), i - start))
                start, size = i, 0
            size += len(record.line)
        batches.append((encode_payload(records[start:]), len(records) - start))
        if any(len(payload) > MAX_PAYLOAD_BYTES for payload, _ in batches):
            raise SinkError(f"buffer {self.name}: a record is larger than a batch may be")
        return batches

    async def _commit(self, batches: list[tuple[bytes, int]]) -> None:
        async with self._write_lock:
            self._check_open()
            segment = await self._writable()
            writer = segment.writer
            assert writer is not None
            try:
                sizes = await asyncio.to_thread(writer.append, [p for p, _ in batches])
            except OSError:
                # The file may end in a torn frame now: never append to it again.
                writer.close()
                segment.writer = None
                self._active = None
                if segment.total == 0:
                    self._delete(segment)
                raise
            if segment not in self._segments:  # lost to disk damage meanwhile (_lose)
                raise SinkError(f"buffer {self.name}: segment damaged during a write")
            for nbytes, (_, nrecords) in zip(sizes, batches, strict=True):
                segment.pending.append((nbytes, nrecords))
                segment.total += 1
                segment.size += nbytes
                self._bytes += nbytes
                self._records += nrecords
            self._empty.clear()
            self._data.set()
            self._publish()

    async def _writable(self) -> _Segment:
        """Return the segment to append to, retiring or sealing the current one first."""
        active = self._active
        if active is not None and active.writer is not None:
            if active.acked == active.total:
                self._delete(active)  # all delivered: free its space now
            elif active.writer.size >= self._segment_bytes:
                active.writer.close()
                active.writer = None
                self._active = None
            else:
                return active
        seq = self._next_seq
        path = self.directory / f"{seq:016d}.seg"
        writer = await asyncio.to_thread(Writer, path, self._key)
        if self._closed:
            writer.close()
            self._check_open()
        self._next_seq += 1
        active = _Segment(seq, path, size=writer.size, writer=writer)
        self._segments.append(active)
        self._active = active
        return active

    # -- reading -------------------------------------------------------------------

    async def peek(self) -> tuple[BatchToken, list[Shipped]]:
        """Return the oldest unacknowledged batch, waiting for one if the buffer is empty.

        Until it is acknowledged, every call returns the same batch.

        Raises:
            SinkError: the buffer is closed.
            OSError: reading the segment failed (the next call tries again).
        """
        async with self._peek_lock:
            while self._head is None:
                self._check_open()
                segment = self._segments[0] if self._segments else None
                if segment is not None and segment.acked >= segment.total:
                    if segment.writer is None:  # finished, kept only by a write
                        self._delete(segment)
                        continue
                    segment = None
                if segment is None:
                    self._data.clear()
                    await self._data.wait()
                    continue
                if segment.reader is None:
                    segment.reader = Reader(segment.path, self._key)
                payload = await self._read(segment)
                if payload is None or segment.read <= segment.acked:
                    continue  # lost, or an acked batch skipped after a restart
                try:
                    records = decode_payload(payload)
                except ValueError as exc:
                    self._lose(segment, str(exc))
                    continue
                self._head = (BatchToken(segment.seq, segment.acked), records)
            return self._head

    async def _read(self, segment: _Segment) -> bytes | None:
        """Read ``segment``'s next frame; a cancelled caller's read is kept for the next."""
        if self._read_task is None:
            reader = segment.reader
            assert reader is not None
            self._read_task = asyncio.ensure_future(asyncio.to_thread(reader.next, segment.size))
        task = self._read_task
        try:
            payload = await asyncio.shield(task)
        except (Torn, Damaged) as exc:
            self._lose(segment, str(exc))
            return None
        finally:
            if task.done():
                self._read_task = None
        if payload is None:  # the committed size promised a frame: treat as damage
            self._lose(segment, "segment shorter than written")
            return None
        segment.read += 1
        return payload

    def _lose(self, segment: _Segment, reason: str) -> None:
        """A committed frame is unreadable (disk damage): skip the rest of its segment."""
        lost = sum(n for _, n in segment.pending)
        log.error(
            "buffer %s: %s unreadable (%s); %d record(s) in it lost",
            self.name, segment.path.name, reason, lost,
        )  # fmt: skip
        if self._metrics is not None:
            self._metrics.error("buffer", self.name, "read")
            self._metrics.dropped("buffer", self.name, "read", lost)
        while segment.pending:
            self._release_batch(segment)
        if segment.writer is not None:
            segment.writer.close()
            segment.writer = None
            self._active = None
        self._delete(segment)

    def ack(self, token: BatchToken) -> None:
        """Free the batch ``token`` names; persist the new position before returning.

        Raises:
            ValueError: ``token`` is not the batch the last ``peek`` returned.
            OSError: the ack file could not be written (the batch stays unacked).
        """
        if self._head is None or self._head[0] != token:
            raise ValueError("ack() of a batch that is not the one peek() returned")
        segment = self._segments[0]
        assert segment.seq == token.segment
        # Saved even when the segment is deleted next: an unlink is not durable until
        # its directory is synced, and a segment back from the dead must not be resent.
        self._ackfile.save(AckState(segment.seq, segment.acked + 1))
        self._head = None
        self._release_batch(segment)
        if segment.acked == segment.total and (
            segment.writer is None or not self._write_lock.locked()
        ):
            self._delete(segment)  # an active one is retired by the next append otherwise
        self._publish()

    def _release_batch(self, segment: _Segment) -> None:
        nbytes, nrecords = segment.pending.popleft()
        segment.acked += 1
        self._bytes -= nbytes
        self._records -= nrecords
        self._space.set()
        if not any(s.pending for s in self._segments):
            self._empty.set()

    def _delete(self, segment: _Segment) -> None:
        segment.close()
        if self._active is segment:
            self._active = None
        with contextlib.suppress(ValueError):
            self._segments.remove(segment)
        with contextlib.suppress(FileNotFoundError):
            segment.path.unlink()

    async def wait_empty(self) -> None:
        """Return once every stored batch is acknowledged.

        Raises:
            SinkError: the buffer was closed first.
        """
        while True:
            self._check_open()
            if self._empty.is_set():
                return
            await self._empty.wait()

    # -- closing -------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SinkError(f"buffer {self.name} is closed")

    def close(self) -> None:
        """Close every file and release the directory; waiting calls raise SinkError.

        Unacknowledged batches stay on disk for the next open. A write still running
        in a thread finishes first (its file is closed when it is done).
        """
        if self._closed:
            return
        self._closed = True
        for event in (self._data, self._space, self._empty):
            event.set()
        self._release()

    def _release(self) -> None:
        for segment in self._segments:
            segment.close()
        if hasattr(self, "_ackfile"):
            self._ackfile.close()
        os.close(self._lock_fd)
