"""Buffers between the pipeline and network sinks.

:class:`DiskBuffer` is a durable, bounded FIFO of record batches on disk;
:class:`BufferedSink` puts one in front of a :class:`~sidecar.record.Delivery` (the
forward or syslog network code), so ``write`` is durable at once and a drainer task
delivers in order, retrying with backoff while the peer is away.
"""

from __future__ import annotations

from sidecar.buffer.disk import BATCH_BYTES, BatchToken, DiskBuffer
from sidecar.buffer.sink import BufferedSink, buffered

__all__ = ["BATCH_BYTES", "BatchToken", "BufferedSink", "DiskBuffer", "buffered"]
