"""What flows between the stages: source batches in, shipped records out.

A source hands the pipeline a :class:`SourceBatch` of record texts together with a
``commit`` callback. The pipeline turns the texts into :class:`Shipped` records
(redacted, classified, serialized) and gives them to every sink; only when every sink
has durably accepted them is ``commit`` called, which is what makes delivery
at-least-once: a crash before ``commit`` replays the batch, a crash after it loses
nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

__all__ = ["Delivery", "Shipped", "Sink", "Source", "SourceBatch"]


class Shipped(NamedTuple):
    """One redacted record, ready for every sink (a named tuple: one per record, cheap).

    Attributes:
        tier: retention tier name (``application``, ``error``, ``audit``, ...).
        day: the UTC day the record was shipped, ``YYYY-MM-DD``; the archive folder and
            the start of its retention period.
        line: the record as one JSON object in UTF-8, without a trailing newline. It
            already carries ``retention_tier``, ``retention_days`` and ``expire_at``.
    """

    tier: str
    day: str
    line: bytes


@dataclass(slots=True)
class SourceBatch:
    """Records read by a source, not yet acknowledged.

    Attributes:
        source: the source's configured name.
        texts: one text per record (multi-line records already joined, bytes decoded).
        commit: called once, after every sink accepted the batch; advances the
            source's checkpoint. Never called for a batch that was not delivered.
        nbytes: raw bytes the batch covers, for metrics.
        invalid_utf8: records whose bytes were not valid UTF-8 (decoded with U+FFFD).
        oversized: records longer than the source's limit, replaced by a placeholder.
    """

    source: str
    texts: list[str]
    commit: Callable[[], Awaitable[None] | None]
    nbytes: int = 0
    invalid_utf8: int = 0
    oversized: int = 0
    meta: dict[str, str] = field(default_factory=dict)


class Sink(Protocol):
    """Where shipped records go. ``write`` returns only once the records are durable.

    A sink raises :class:`~sidecar.errors.SinkError` when it cannot accept a batch; the
    runner retries with backoff and holds the source's checkpoint meanwhile.
    """

    name: str

    async def write(self, records: Sequence[Shipped]) -> None:
        """Durably accept ``records`` (in order) or raise ``SinkError``."""
        ...

    async def close(self) -> None:
        """Flush and release resources; called once at shutdown."""
        ...


class Source(Protocol):
    """Where records come from. Yields batches until stopped or, with ``once``, drained."""

    name: str

    def batches(self) -> AsyncIterator[SourceBatch]:
        """Return the async iterator of batches."""
        ...

    def stop(self) -> None:
        """Ask the source to stop reading; the iterator ends soon after."""
        ...


class Delivery(Protocol):
    """The network half of a sink: hands records to a peer, nothing more.

    Network sinks (forward, syslog) are a :class:`Delivery` behind the on-disk buffer
    (:mod:`sidecar.buffer`): the buffer makes ``Sink.write`` durable at once, and a
    drainer feeds buffered batches to ``deliver`` in order, retrying with backoff, and
    frees them only once ``deliver`` returned.
    """

    name: str

    async def deliver(self, records: Sequence[Shipped]) -> None:
        """Return once the peer has ``records`` (acked, where the protocol acks).

        Raises:
            SinkError: not delivered (no connection, refused, ack timeout); the caller
                retries the same records later, possibly on another connection.
        """
        ...

    async def close(self) -> None:
        """Close connections; called once at shutdown."""
        ...
