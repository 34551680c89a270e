"""What flows between the stages: source batches in, shipped records out.

A source hands the pipeline a :class:`SourceBatch` of record texts together with a
``commit`` callback. The pipeline turns the texts into :class:`Shipped` records
(redacted, classified, serialized) and gives them to every sink; only when every sink
has durably accepted them is ``commit`` called, which is what makes delivery
at-least-once: a crash before ``commit`` replays the batch, a crash after it loses
nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, overload

__all__ = [
    "Delivery",
    "Shipped",
    "ShippedBatch",
    "Sink",
    "Source",
    "SourceBatch",
    "group_lines",
    "lines_of",
]


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


class ShippedBatch(Sequence[Shipped]):
    """One processed batch as columns: a day, and per record a tier and a line.

    It is a sequence of :class:`Shipped` for any sink, but the main process of a
    pipeline with workers handles every record of every batch, and building a tuple per
    record there cost more than a sink's own work on it; sinks that only need the lines,
    or the lines per tier, take them from the columns (:func:`lines_of`,
    :func:`group_lines`) without building any.

    Args:
        day: the shipping day of every record.
        tier_of: each record's tier.
        lines: each record's line.
        nbytes: the sum of the lines' lengths, if known.
    """

    __slots__ = ("day", "lines", "nbytes", "tier_of")

    def __init__(
        self, day: str, tier_of: list[str], lines: list[bytes], nbytes: int | None = None
    ) -> None:
        if len(tier_of) != len(lines):
            raise ValueError("ShippedBatch: tiers and lines differ in length")
        self.day = day
        self.tier_of = tier_of
        self.lines = lines
        self.nbytes = sum(map(len, lines)) if nbytes is None else nbytes

    def __len__(self) -> int:
        return len(self.lines)

    @overload
    def __getitem__(self, index: int) -> Shipped: ...
    @overload
    def __getitem__(self, index: slice) -> ShippedBatch: ...
    def __getitem__(self, index: int | slice) -> Shipped | ShippedBatch:
        if isinstance(index, slice):
            return ShippedBatch(self.day, self.tier_of[index], self.lines[index])
        return Shipped(self.tier_of[index], self.day, self.lines[index])

    def __iter__(self) -> Iterator[Shipped]:
        day = self.day
        for tier, line in zip(self.tier_of, self.lines, strict=True):
            yield Shipped(tier, day, line)


def lines_of(records: Sequence[Shipped]) -> list[bytes]:
    """The lines of ``records`` in order (no per-record work for a :class:`ShippedBatch`)."""
    if isinstance(records, ShippedBatch):
        return records.lines
    return [record.line for record in records]


def group_lines(records: Sequence[Shipped]) -> dict[tuple[str, str], list[bytes]]:
    """The lines of ``records`` by (tier, day), each group in order."""
    pairs: Iterable[tuple[tuple[str, str], bytes]]
    if isinstance(records, ShippedBatch):
        day, tiers = records.day, records.tier_of
        if tiers and tiers.count(tiers[0]) == len(tiers):  # most batches: one tier
            return {(tiers[0], day): records.lines}
        pairs = zip(((tier, day) for tier in tiers), records.lines, strict=True)
    else:
        pairs = (((record.tier, record.day), record.line) for record in records)
    groups: dict[tuple[str, str], list[bytes]] = {}
    for key, line in pairs:
        group = groups.get(key)
        if group is None:
            group = groups[key] = []
        group.append(line)
    return groups


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
