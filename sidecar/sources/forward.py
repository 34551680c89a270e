"""``type = "forward"``: a Fluent Forward Protocol v1 server as a source of batches.

Theory of operation: :mod:`sidecar.protocol` owns the wire format; this module moves
bytes. Each connection gets a :class:`~sidecar.protocol.ServerConnection` and a task that
reads, feeds the protocol and writes back what it queued (HELO, PONG). Every
:class:`~sidecar.protocol.Entries` event becomes one *frame* in a queue shared by all
connections: its records as JSON texts (plus ``tag`` and ``time`` unless the record has
them), its ``chunk`` and its connection. ``batches()`` gathers frames until
``batch_lines`` records or ``linger_s`` after the oldest; a frame is never split.

Acks (at-least-once): a chunk is acked by the ``commit`` of the batch holding its
records, i.e. once every sink has them; committing a batch commits all earlier ones too.
A chunk whose connection is gone is not acked: the client resends, and duplicates are
the price of losing nothing. A frame without entries is acked at once.

Backpressure: past ``max_pending_lines`` records waiting for the pipeline, connection
tasks stop reading; the stream buffer fills, asyncio pauses the transport and TCP pushes
back on clients (the bound is approximate: one read per connection may overshoot it).

Bad peers: a fatal violation closes the connection, a non-fatal one drops the frame
(never acked, so a correct client resends it); both count in
``sidecar_errors_total{component="source"}`` (``auth_failed``, ``oversized``,
``protocol_violation``) and are logged with the peer address and the codec's reason,
which names positions and types, never contents. A peer silent for ``stall_timeout_s``
inside a frame, or not through the TLS or shared-key handshake by then, is closed
(``timeout``); idle peers between frames are kept, as Fluent clients hold connections.
Memory: one unfinished frame per connection (``max_frame_bytes``), ``max_connections``
connections (``connection_limit``). Stop: the listener closes, reading stops, batches end
after what is queued; connections close once their chunks are acked or after
``drain_timeout_s`` (see :meth:`ForwardSource.wait_closed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import ssl
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import msgpack  # type: ignore[import-untyped]

from sidecar.config import ForwardSourceConfig
from sidecar.errors import ConfigError
from sidecar.metrics import Metrics
from sidecar.protocol import DEFAULT_MAX_DECOMPRESSED_BYTES as _MAX_INFLATED
from sidecar.protocol import Entries, EventTime, ProtocolViolation, ServerConnection, Time
from sidecar.protocol import ServerState as _State
from sidecar.record import SourceBatch

__all__ = ["ForwardSource"]

log = logging.getLogger(__name__)

_READ_BYTES = 64 * 1024
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NS = 1_000_000_000
_COMPACT = (",", ":")
_LOGGED_PER_PEER = 5  # dropped frames logged per connection; the rest are only counted
_CLOSE_ERRORS = (OSError, asyncio.TimeoutError)  # ssl.SSLError is an OSError


class _Peer:
    """One connection: protocol state, writer, and chunks queued but not acked yet."""

    __slots__ = ("address", "closed", "conn", "dropped", "outstanding", "read", "settled", "writer")

    def __init__(self, address: str, conn: ServerConnection, writer: asyncio.StreamWriter) -> None:
        self.address, self.conn, self.writer = address, conn, writer
        self.closed = False
        self.dropped = self.outstanding = 0
        self.settled = asyncio.Event()  # set while no chunk awaits its ack
        self.settled.set()
        self.read: asyncio.Future[bytes] | None = None

    def write(self, data: bytes) -> None:
        if data and not self.closed and not self.writer.is_closing():
            self.writer.write(data)

    def ack(self, chunk: str) -> None:
        self.write(self.conn.send_ack(chunk))
        self.outstanding -= 1
        if self.outstanding <= 0:
            self.settled.set()


@dataclass(frozen=True, slots=True)
class _Frame:
    """The records of one Entries event, waiting for a batch."""

    peer: _Peer
    texts: list[str]
    chunk: str | None
    nbytes: int
    arrived: float


class ForwardSource:
    """Listens for Fluent forward clients and yields their records as batches.

    Call :meth:`start` (binds; returns the port), iterate :meth:`batches` and call each
    batch's ``commit`` once it is durable; :meth:`stop`, then :meth:`wait_closed`. All
    on the event loop that started it: nothing here is thread-safe.

    Args:
        config: the source's configuration.
        metrics: where errors are counted; a private instance when None.
        stall_timeout_s: a peer silent this long inside a frame, or not through the
            handshake (TLS or shared key) this long after connecting, is closed.
        linger_s: how long a batch waits for more records after its oldest one. Short:
            a client with acks (an upstream sidecar) sends its next batch only after
            this one's ack, so the linger is paid once per round trip.
        max_pending_lines: records waiting for the pipeline before reading pauses
            (default: two batches).
        drain_timeout_s: after :meth:`stop`, how long a connection stays open for the
            acks of its last chunks (less if the peer leaves first).
        max_decompressed_bytes: largest inflated CompressedPackedForward frame.

    Raises:
        ConfigError: ``users`` without ``shared_key``, or an empty shared key.
    """

    def __init__(
        self,
        config: ForwardSourceConfig,
        metrics: Metrics | None = None,
        *,
        stall_timeout_s: float = 30.0,
        linger_s: float = 0.005,
        max_pending_lines: int | None = None,
        drain_timeout_s: float = 10.0,
        max_decompressed_bytes: int = _MAX_INFLATED,
    ) -> None:
        if config.shared_key == "":
            raise ConfigError(f"sources.{config.name}.shared_key", "must not be empty")
        if config.users and config.shared_key is None:
            raise ConfigError(f"sources.{config.name}.users", "user auth needs a shared_key")
        self.name = config.name
        self.format = "json"
        self.metrics = metrics if metrics is not None else Metrics(sources=[config.name])
        self._config = config
        self._stall, self._linger, self._drain = stall_timeout_s, linger_s, drain_timeout_s
        self._max_pending = max_pending_lines or 2 * config.batch_lines
        self._max_inflated = max_decompressed_bytes
        self._server: asyncio.Server | None = None
        self._stopping = False
        self._peers: set[_Peer] = set()
        self._handlers: set[asyncio.Task[Any]] = set()
        self._pending: deque[_Frame] = deque()
        self._pending_lines = 0
        self._arrived = asyncio.Event()  # a frame was queued, or stop()
        self._room = asyncio.Event()  # fewer than max_pending_lines wait, or stop()
        self._room.set()
        self._unacked: deque[tuple[int, list[tuple[_Peer, str]], int]] = deque()
        self._seq = self._uncommitted = 0

    # -- lifecycle --------------------------------------------------------------------

    async def start(self) -> int:
        """Bind the listener and start accepting; return the bound port.

        Raises:
            ConfigError: the TLS certificate or key cannot be loaded.
            OSError: the address cannot be bound.
        """
        host, _, port = self._config.listen.rpartition(":")
        context = self._tls_context()
        self._server = await asyncio.start_server(
            self._serve,
            host.strip("[]") or None,
            int(port),
            ssl=context,
            ssl_handshake_timeout=self._stall if context is not None else None,
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        log.info("source %s: listening on %s port %d", self.name, host, bound)
        return bound

    def _tls_context(self) -> ssl.SSLContext | None:
        cfg = self._config
        if cfg.tls_cert is None or cfg.tls_key is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        except OSError as exc:  # the type only: never risk echoing key material
            where = f"sources.{cfg.name}.tls_cert"
            raise ConfigError(where, f"cannot load ({type(exc).__name__})") from None
        return context

    def stop(self) -> None:
        """Close the listener and stop reading; ``batches()`` ends after what is queued."""
        if self._stopping:
            return
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for peer in self._peers:
            if peer.read is not None:
                peer.read.cancel()
        self._arrived.set()
        self._room.set()

    async def wait_closed(self) -> None:
        """After :meth:`stop`, wait until the listener and every connection are closed."""
        if self._server is not None:
            await self._server.wait_closed()
        await asyncio.gather(*self._handlers, return_exceptions=True)

    def lag_bytes(self) -> int:
        """Wire bytes of frames received but not committed yet."""
        return self._uncommitted

    # -- batches ----------------------------------------------------------------------

    async def batches(self) -> AsyncIterator[SourceBatch]:
        """Yield batches of whole frames until stopped and drained (starts if needed)."""
        if self._server is None and not self._stopping:
            await self.start()
        loop = asyncio.get_running_loop()
        while True:
            while not self._pending:
                if self._stopping:
                    return
                self._arrived.clear()
                await self._arrived.wait()
            while self._pending_lines < self._config.batch_lines and not self._stopping:
                left = self._pending[0].arrived + self._linger - loop.time()
                if left <= 0:
                    break
                self._arrived.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
            yield self._take()

    def _take(self) -> SourceBatch:
        texts: list[str] = []
        acks: list[tuple[_Peer, str]] = []
        nbytes = 0
        while self._pending:
            frame = self._pending[0]
            if texts and len(texts) + len(frame.texts) > self._config.batch_lines:
                break
            self._pending.popleft()
            texts += frame.texts
            nbytes += frame.nbytes
            if frame.chunk is not None:
                acks.append((frame.peer, frame.chunk))
        self._pending_lines -= len(texts)
        if self._pending_lines < self._max_pending:
            self._room.set()
        seq = self._seq
        self._seq += 1
        self._unacked.append((seq, acks, nbytes))
        return SourceBatch(self.name, texts, lambda: self._commit(seq), nbytes=nbytes)

    def _commit(self, seq: int) -> None:
        """Ack every chunk of batch ``seq`` and of all earlier batches not yet committed."""
        while self._unacked and self._unacked[0][0] <= seq:
            _, acks, nbytes = self._unacked.popleft()
            self._uncommitted -= nbytes
            for peer, chunk in acks:
                peer.ack(chunk)

    # -- connections ------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        address = _address(writer.get_extra_info("peername"))
        if self._stopping or len(self._peers) >= self._config.max_connections:
            if not self._stopping:
                self.metrics.error("source", self.name, "connection_limit")
                log.warning("source %s: refused %s: connection_limit", self.name, address)
            writer.close()
            with contextlib.suppress(*_CLOSE_ERRORS):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            return
        cfg = self._config
        conn = ServerConnection(
            cfg.shared_key,
            dict(cfg.users) or None,
            max_frame_bytes=cfg.max_frame_bytes,
            max_decompressed_bytes=self._max_inflated,
        )
        peer = _Peer(address, conn, writer)
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
            task.add_done_callback(self._handlers.discard)
        self._peers.add(peer)
        try:
            peer.write(conn.initial_bytes())
            await self._pump(peer, reader)
            if self._stopping:
                await self._await_acks(peer, reader)
        except OSError as exc:
            log.info("source %s: %s went away (%s)", self.name, address, type(exc).__name__)
        except Exception as exc:  # a bug: close this peer only, say nothing of its data
            self.metrics.error("source", self.name, "other")
            log.error("source %s: %s: internal error %s", self.name, address, type(exc).__name__)
        finally:
            peer.closed = True
            self._peers.discard(peer)
            if peer.read is not None:
                peer.read.cancel()
            if peer.dropped > _LOGGED_PER_PEER:
                log.warning(
                    "source %s: %d frames dropped from %s", self.name, peer.dropped, address
                )
            writer.close()
            with contextlib.suppress(*_CLOSE_ERRORS):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _pump(self, peer: _Peer, reader: asyncio.StreamReader) -> None:
        """Read and dispatch until end of stream, a fatal violation, a stall or stop."""
        conn = peer.conn
        loop = asyncio.get_running_loop()
        handshake_by = loop.time() + self._stall
        while True:
            while not self._room.is_set():  # backpressure: let TCP push back
                await self._room.wait()
            if self._stopping:
                return
            awaiting = conn.state is _State.AWAIT_PING
            timeout = self._stall if conn.buffered else None
            if awaiting:
                timeout = max(0.0, handshake_by - loop.time())
            peer.read = read = asyncio.ensure_future(reader.read(_READ_BYTES))
            try:
                done, _ = await asyncio.wait((read,), timeout=timeout)
            finally:
                peer.read = None
            if read.cancelled():
                return  # stop() interrupted the read
            if not done:
                read.cancel()
                self._violation(peer, "timeout", "stalled inside a frame or the handshake")
                return
            events = conn.receive(read.result())
            peer.write(conn.data_to_send())
            for event in events:
                if isinstance(event, Entries):
                    self._queue(peer, event)
                elif isinstance(event, ProtocolViolation):
                    self._violation(peer, _reason(event, awaiting), event.reason, event.fatal)
            if conn.state is _State.CLOSED:
                with contextlib.suppress(OSError):
                    await peer.writer.drain()  # the failure PONG, if any
                return
            await peer.writer.drain()

    async def _await_acks(self, peer: _Peer, reader: asyncio.StreamReader) -> None:
        """After stop, keep the connection for its last acks until the peer leaves.

        Frames read meanwhile are discarded unacked: the client sends them again.
        """
        deadline = asyncio.get_running_loop().time() + self._drain
        while not peer.settled.is_set():
            read = asyncio.ensure_future(reader.read(_READ_BYTES))
            settled = asyncio.ensure_future(peer.settled.wait())
            left = deadline - asyncio.get_running_loop().time()
            done, _ = await asyncio.wait(
                (read, settled), timeout=max(0.0, left), return_when=asyncio.FIRST_COMPLETED
            )
            read.cancel()
            settled.cancel()
            if not done or (read in done and (read.exception() is not None or not read.result())):
                return  # out of time, or the peer is gone

    def _violation(self, peer: _Peer, reason: str, detail: str, fatal: bool = True) -> None:
        self.metrics.error("source", self.name, reason)
        if not fatal:
            peer.dropped += 1
            if peer.dropped > _LOGGED_PER_PEER:
                return
        what = "closed" if fatal else "dropped a frame from"
        log.warning("source %s: %s %s: %s (%s)", self.name, what, peer.address, reason, detail)

    def _queue(self, peer: _Peer, event: Entries) -> None:
        try:
            texts = [_record_text(event.tag, t, r) for t, r in event.entries]
        except _BadEntry as exc:
            self._violation(peer, "protocol_violation", str(exc), fatal=False)
            return
        if not texts:
            if event.chunk is not None:
                peer.write(peer.conn.send_ack(event.chunk))
            return
        if event.chunk is not None:
            peer.outstanding += 1
            peer.settled.clear()
        now = asyncio.get_running_loop().time()
        self._pending.append(_Frame(peer, texts, event.chunk, event.nbytes, now))
        self._pending_lines += len(texts)
        self._uncommitted += event.nbytes
        if self._pending_lines >= self._max_pending:
            self._room.clear()
        self._arrived.set()


# -- records to JSON ---------------------------------------------------------------------


class _BadEntry(Exception):
    """An entry cannot become a JSON text; the message names the field, not contents."""


def _record_text(tag: str, time: Time, record: dict[Any, Any]) -> str:
    """Return one entry as the JSON text the pipeline parses.

    The record's own ``tag`` and ``time`` win; otherwise the frame's tag and the entry's
    time (ISO 8601 UTC with nanoseconds, ``2024-05-01T12:00:00.123456789Z``) are added.
    Binary values become text (UTF-8, bad bytes as U+FFFD) so the redactor sees them;
    other msgpack ext values become a placeholder, never opaque data a card could hide in.
    """
    event = record
    if "tag" not in record or "time" not in record:
        event = {"time": _iso_time(time), "tag": tag, **record}
    try:
        try:
            return json.dumps(
                event, ensure_ascii=False, allow_nan=False, separators=_COMPACT, default=_jsonable
            )
        except (TypeError, ValueError):  # binary keys or NaN: the slow path
            return json.dumps(
                _plain(event), ensure_ascii=False, allow_nan=False, separators=_COMPACT
            )
    except RecursionError:
        raise _BadEntry("record: nested too deeply") from None


def _iso_time(time: Time) -> str:
    try:
        if isinstance(time, EventTime):
            total = time.to_ns()
        else:
            total = round(time * _NS) if isinstance(time, float) else time * _NS
        seconds, nanos = divmod(total, _NS)
        stamp = _EPOCH + timedelta(seconds=seconds)
    except OverflowError:  # before year 1 or after 9999, or a float beyond any int
        raise _BadEntry("time: out of range") from None
    # Microseconds: nine digits then "Z" has the shape of a Spanish national id, and
    # nine digits then "+00:00" that of a card grouped with "+"; either would send every
    # forwarded record down the redactor's slow path for nothing.
    return f"{stamp:%Y-%m-%dT%H:%M:%S}.{nanos // 1000:06d}Z"


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, EventTime):
        return _iso_time(value)
    if isinstance(value, msgpack.ExtType):
        return f"[msgpack ext type {value.code}]"
    raise TypeError(f"unexpected {type(value).__name__}")


def _plain(value: object) -> object:
    """Rebuild ``value`` with text keys and finite numbers only."""
    if isinstance(value, dict):
        return {_jsonable(k) if isinstance(k, bytes) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, (bytes, EventTime, msgpack.ExtType)):
        return _jsonable(value)
    return value


def _reason(event: ProtocolViolation, during_handshake: bool) -> str:
    if during_handshake:
        return "auth_failed"
    if "-byte limit" in event.reason:  # the frame splitter's oversize message
        return "oversized"
    return "protocol_violation"


def _address(peername: Any) -> str:
    if isinstance(peername, tuple) and len(peername) >= 2:
        return f"{peername[0]}:{peername[1]}"  # IPv6 too: the last colon ends the host
    return "unknown peer"
