"""A network sink: a disk buffer in front of a :class:`~sidecar.record.Delivery`.

Theory of operation: :meth:`BufferedSink.write` only appends to the
:class:`~sidecar.buffer.disk.DiskBuffer` and returns once the batch is fsync'd, so the
runner advances source checkpoints without waiting for the network; when the buffer is
full, ``write`` waits, which is the backpressure that pauses the sources. One *drainer*
task (started by :meth:`BufferedSink.start`) takes the oldest batch, hands it to
``delivery.deliver`` and acknowledges it in the buffer only once ``deliver`` returned;
a failure (:class:`~sidecar.errors.SinkError`) is retried with the same batch after a
pause that doubles from 0.1 s up to ``retry_max_s``, with jitter so that many sidecars
do not reconnect to a recovering aggregator in step. Batches are therefore delivered
in order and never skipped; a batch may be delivered twice if the process dies between
the peer's ack and the buffer's.

Shutdown: :meth:`BufferedSink.close` lets a delivery in progress finish (within the
timeout), then stops the drainer; whatever is undelivered stays on disk for the next
start. :meth:`BufferedSink.drain` waits until the buffer is empty, for ``--once``.

Log lines and counters name the sink, never records: a delivery's error message is
its own (deliveries promise no record contents in them), and any other exception is
shown by its type only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from sidecar.archive.keys import ArchiveKey, load_key
from sidecar.buffer.disk import DiskBuffer
from sidecar.config import BufferConfig
from sidecar.errors import SinkError
from sidecar.metrics import Metrics
from sidecar.record import Delivery, Shipped

__all__ = ["FIRST_RETRY_S", "BufferedSink", "buffered"]

log = logging.getLogger(__name__)

#: First pause after a failed delivery; it doubles up to ``retry_max_s``.
FIRST_RETRY_S = 0.1


class BufferedSink:
    """A :class:`~sidecar.record.Sink` that buffers on disk and delivers in the background.

    Args:
        name: the sink's configured name.
        delivery: the network half that hands batches to the peer.
        buffer: the sink's own disk buffer (closed by :meth:`close`).
        metrics: where retries and errors are counted; None counts nothing.
        retry_max_s: longest pause between delivery attempts.
    """

    def __init__(
        self,
        name: str,
        delivery: Delivery,
        buffer: DiskBuffer,
        metrics: Metrics | None = None,
        retry_max_s: float = 30.0,
    ) -> None:
        self.name = name
        self.delivery = delivery
        self.buffer = buffer
        self._metrics = metrics
        self._retry_max = max(FIRST_RETRY_S, retry_max_s)
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._delivering = False
        self._closed = False
        #: Delivery attempts that failed since start.
        self.retries = 0

    def __repr__(self) -> str:
        return f"BufferedSink(name={self.name!r}, records={self.buffer.records})"

    async def start(self) -> None:
        """Start the drainer (idempotent); buffered batches from a previous run go first."""
        if self._closed:
            raise SinkError(f"sink {self.name} is closed")
        if self._task is None:
            self._task = asyncio.create_task(self._drain_loop(), name=f"drain-{self.name}")

    async def write(self, records: Sequence[Shipped]) -> None:
        """Append ``records`` to the buffer; return once they are durable on disk.

        Waits while the buffer is full. Starts the drainer if nobody did.

        Raises:
            SinkError: the buffer could not store them (disk error, closed sink).
        """
        await self.start()
        try:
            await self.buffer.append(records)
        except OSError as exc:
            if self._metrics is not None:
                self._metrics.error("buffer", self.name, "sink_write")
            raise SinkError(
                f"sink {self.name}: buffer write failed ({exc.strerror or type(exc).__name__})"
            ) from None

    async def drain(self, timeout: float) -> bool:
        """Wait until every buffered batch is delivered.

        Args:
            timeout: seconds to wait at most.

        Returns:
            True if the buffer is empty, False if the timeout came first.
        """
        await self.start()
        try:
            await asyncio.wait_for(self.buffer.wait_empty(), timeout)
        except asyncio.TimeoutError:
            return False
        return True

    async def close(self, timeout: float = 5.0) -> None:
        """Stop delivering, close the delivery and the buffer; called once at shutdown.

        A delivery in progress gets up to ``timeout`` seconds to finish (so its batch
        is acknowledged and not sent again next start); undelivered batches stay on disk.
        """
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        task = self._task
        if task is not None:
            if self._delivering:
                await asyncio.wait({task}, timeout=timeout)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        try:
            await asyncio.wait_for(self.delivery.close(), timeout)
        except (asyncio.TimeoutError, OSError, SinkError) as exc:
            log.warning(
                "sink %s: closing the connection failed (%s)", self.name, type(exc).__name__
            )
        finally:
            self.buffer.close()

    async def _drain_loop(self) -> None:
        while not self._stop.is_set():
            try:
                token, records = await self.buffer.peek()
            except SinkError:
                return  # the buffer was closed
            except OSError as exc:
                self._count_failure(f"buffer read failed ({exc.strerror or type(exc).__name__})")
                if await self._pause(self._retry_max):
                    return
                continue
            delay = FIRST_RETRY_S
            while True:
                self._delivering = True
                try:
                    await self.delivery.deliver(records)
                except SinkError as exc:
                    reason = str(exc)
                except Exception as exc:  # a bug in a delivery must not stop the drainer
                    reason = f"unexpected {type(exc).__name__}"
                else:
                    break
                finally:
                    self._delivering = False
                self._count_failure(reason)
                wait = min(self._retry_max, delay) * random.uniform(0.5, 1.0)
                if await self._pause(wait):
                    return
                delay *= 2
            try:
                self.buffer.ack(token)
            except OSError as exc:
                # Delivered but not recorded: it is sent again after a restart (a duplicate).
                log.error("sink %s: recording a delivery failed (%s)", self.name, exc.strerror)
                if self._metrics is not None:
                    self._metrics.error("buffer", self.name, "checkpoint")
                if await self._pause(self._retry_max):
                    return

    def _count_failure(self, reason: str) -> None:
        self.retries += 1
        if self._metrics is not None:
            self._metrics.sink_retry(self.name)
            self._metrics.error("sink", self.name, "sink_write")
        log.warning("sink %s: %s; %d record(s) wait in the buffer", self.name, reason,
                    self.buffer.records)  # fmt: skip

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless stopped first; return True if stopping."""
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            return False
        return True


def buffered(
    name: str,
    delivery: Delivery,
    config: BufferConfig,
    data_dir: Path,
    metrics: Metrics | None,
    env: Mapping[str, str],
    retry_max_s: float = 30.0,
) -> BufferedSink:
    """Put ``delivery`` behind its disk buffer in ``data_dir/buffers/<name>/``.

    The one way every network sink (forward, syslog) is built.

    Raises:
        ConfigError: ``config.encryption_key_env`` names a missing or malformed key.
        SinkError: the buffer is in use by another process or needs another key.
    """
    key: ArchiveKey | None = None
    if config.encryption_key_env is not None:
        key = load_key(config.encryption_key_env, env)
    buffer = DiskBuffer(
        Path(data_dir) / "buffers" / name, config.max_bytes, key, name=name, metrics=metrics
    )
    return BufferedSink(name, delivery, buffer, metrics, retry_max_s)
