"""The ``file`` source: tail globs of log files, with checkpoints, as async batches.

Theory of operation: all file work is done by a blocking
:class:`~sidecar.sources.tail.Tailer`, called through :func:`asyncio.to_thread` one call
at a time (the event loop never waits on the disk; a lock only keeps the final close
from racing a read the consumer abandoned). Each call returns at most ``batch_lines``
records of one file, so a batch's ``meta["path"]`` names exactly the file it came
from. The next call is made only when the consumer asks for the next batch: reading
never runs ahead of delivery by more than one chunk per file. When a call finds
nothing new, the source sleeps ``poll_ms`` (or until :meth:`FileSource.stop`).

Checkpoints: the source keeps the *committed* position of every followed file (by
follower id) and saves it with :class:`~sidecar.checkpoint.CheckpointStore`. Each batch
carries the checkpoint updates read with its records (see
:class:`~sidecar.sources.tail.TailOutput`); its ``commit`` (a coroutine function: await
it) applies the updates of that batch and every earlier one, in order, then saves,
fsync included, in a worker thread under a lock; committing an earlier batch after a
later one changes nothing. Updates read without
any record (a rotated file closed) join the last uncommitted batch, or are saved at
once when nothing is in flight. A new file's starting point is saved as soon as it is
found, so that a crash before its first commit does not make a ``read_from = "end"``
restart skip its lines. Delivery is at-least-once: records of a batch that was never
committed are read again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from sidecar.checkpoint import CheckpointStore, FileCheckpoint
from sidecar.config import FileSourceConfig
from sidecar.record import SourceBatch
from sidecar.sources.tail import Tailer, TailOutput

__all__ = ["FileSource"]

_Updates = dict[int, FileCheckpoint | None]


class FileSource:
    """Follows the files of one ``[[sources]]`` table of ``type = "file"``.

    Args:
        config: the source's configuration.
        data_dir: the sidecar's data directory; the checkpoint lives in
            ``data_dir/checkpoints/<name>.json``.
        once: read what is there now (joining and flushing multi-line records at end of
            file), yield it, then end.
        reset_checkpoint: delete the checkpoint first and start over; without it, a
            corrupt checkpoint is an error.
        linger_s: how long a rotated-away file is still read after its last new byte.

    Raises:
        CheckpointError: the checkpoint exists but cannot be read.
    """

    def __init__(
        self,
        config: FileSourceConfig,
        data_dir: Path,
        *,
        once: bool = False,
        reset_checkpoint: bool = False,
        linger_s: float = 10.0,
    ) -> None:
        self.name = config.name
        self.config = config
        self._once = once
        self._store = CheckpointStore.for_source(data_dir, config.name)
        if reset_checkpoint:
            self._store.reset()
        self._tailer = Tailer(
            config.paths,
            checkpoints=self._store.load(),
            read_from=config.read_from,
            multiline=config.multiline,
            max_line_bytes=config.max_line_bytes,
            poll_s=config.poll_ms / 1000,
            linger_s=linger_s,
            once=once,
        )
        self._lock = threading.Lock()  # guards the committed state and its file
        self._io = threading.Lock()  # one tailer call at a time, close included
        self._committed: dict[int, FileCheckpoint] = {}
        self._pending: dict[int, _Updates] = {}  # batch number -> its updates
        self._last_batch = 0
        self._done_batch = 0
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"FileSource(name={self.name!r}, once={self._once})"

    def batches(self) -> AsyncIterator[SourceBatch]:
        """Return the async iterator of batches (call once)."""
        return self._run()

    def stop(self) -> None:
        """Ask the source to stop; the iterator ends after the read in progress."""
        self._stopping = True
        if self._wake is not None and self._loop is not None:
            with contextlib.suppress(RuntimeError):  # a closed loop has nothing to wake
                self._loop.call_soon_threadsafe(self._wake.set)

    def lag_bytes(self) -> int:
        """Bytes in followed files past their committed offsets (for metrics)."""
        sizes = self._tailer.sizes()
        with self._lock:
            return sum(
                max(0, sizes.get(fid, cp.offset) - cp.offset) for fid, cp in self._committed.items()
            )

    async def _run(self) -> AsyncIterator[SourceBatch]:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        limit = max(1, self.config.batch_lines)
        try:
            await asyncio.to_thread(self._start)
            while not self._stopping:
                output = await asyncio.to_thread(self._poll, limit)
                batch = self._batch(output)
                if batch is not None:
                    yield batch
                elif self._once:
                    if self._tailer.exhausted:
                        break
                else:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.config.poll_ms / 1000)
        finally:
            # If the consumer gave up mid-read, wait for that read before closing files.
            with self._io:
                self._tailer.close()

    def _start(self) -> None:
        with self._io:
            opened = self._tailer.start()
        with self._lock:
            self._committed = dict(opened)
            self._store.save(self._committed.values())

    def _poll(self, limit: int) -> TailOutput:
        """Worker thread: read; save new files' starting points and record-less updates."""
        with self._io:
            output = self._tailer.poll(limit)
        if output.opened:
            with self._lock:
                for follower, checkpoint in output.opened.items():
                    self._committed.setdefault(follower, checkpoint)
                self._store.save(self._committed.values())
        if output.updates and not output.texts:
            self._carry(output.updates)
        return output

    def _batch(self, output: TailOutput) -> SourceBatch | None:
        if not output.texts:
            return None
        with self._lock:
            self._last_batch += 1
            number = self._last_batch
            self._pending[number] = output.updates

        async def commit() -> None:
            await asyncio.to_thread(self._commit, number)

        return SourceBatch(
            source=self.name,
            texts=output.texts,
            commit=commit,
            nbytes=output.nbytes,
            invalid_utf8=output.invalid_utf8,
            oversized=output.oversized,
            meta={"path": output.path},
        )

    def _carry(self, updates: _Updates) -> None:
        """Updates without records: ride on the last batch in flight, or save now."""
        with self._lock:
            if self._pending:
                self._pending[max(self._pending)].update(updates)
                return
            self._apply(updates)
            self._store.save(self._committed.values())

    def _commit(self, number: int) -> None:
        with self._lock:
            if number <= self._done_batch:
                return
            for earlier in sorted(n for n in self._pending if n <= number):
                self._apply(self._pending.pop(earlier))
            self._done_batch = number
            self._store.save(self._committed.values())

    def _apply(self, updates: _Updates) -> None:
        for follower, checkpoint in updates.items():
            if checkpoint is None:
                self._committed.pop(follower, None)
            else:
                self._committed[follower] = checkpoint
