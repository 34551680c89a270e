"""The ``forward`` sink: Fluent forward protocol to an aggregator, behind a disk buffer.

Theory of operation: :class:`ForwardDelivery` is the network half (a
:class:`~sidecar.record.Delivery`); :func:`build_forward_sink` puts it behind a
:class:`~sidecar.buffer.disk.DiskBuffer` in ``data_dir/buffers/<name>/``, whose drainer
calls :meth:`ForwardDelivery.deliver` one batch at a time, in order, and retries a
failed batch with backoff. The protocol itself is the sans-I/O
:class:`~sidecar.protocol.ClientConnection`; this module only moves bytes.

Per batch: the records are grouped by tier (keeping their order within a tier) and each
group becomes one PackedForward frame (CompressedPackedForward with ``compress``)
tagged ``<tag_prefix>.<tier>``, whose entries are ``[EventTime, record]``: the record is
the JSON object of :attr:`Shipped.line <sidecar.record.Shipped.line>`, and the time its
``time``, ``timestamp`` or ``@timestamp`` field (epoch seconds or ISO 8601), else now.
With ``require_ack`` every frame carries a fresh ``chunk`` id and ``deliver`` returns
only once every chunk is acked; if that takes longer than ``ack_timeout_s`` the
connection is closed and :class:`~sidecar.errors.SinkError` raised, so the retry goes
over a new connection (Fluentd deduplicates nothing; the resend may duplicate, which
is at-least-once). Without ``require_ack`` a batch counts as delivered once written to
the socket: a connection that dies with a batch in flight can lose it, which is why
acks are on by default.

Connecting: the addresses are tried in order, starting with the one that last worked
(sticky, so a flapping primary does not move traffic back and forth) or, after a batch
failed on a connection, with the address after it; each attempt
gets ``connect_timeout_s`` for TCP, TLS and the shared-key handshake together. TLS
verifies the server against ``tls_ca`` (else the system's CAs) and, unless
``tls_verify_hostname`` is off, its name. A connection is reused between batches; one
the server closed meanwhile is noticed before sending, and replaced.

Errors name the sink and the address, never a record or a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sidecar.buffer import BufferedSink, buffered
from sidecar.config import ForwardSinkConfig
from sidecar.errors import ConfigError, SinkError
from sidecar.metrics import Metrics
from sidecar.protocol import (
    Acked,
    ClientConnection,
    Entry,
    EventTime,
    ProtocolViolation,
    new_chunk_id,
)
from sidecar.record import Shipped

__all__ = ["CONNECT_TIMEOUT_S", "ForwardDelivery", "build_forward_sink"]

log = logging.getLogger(__name__)

#: Default time for TCP connect, TLS and the handshake of one address.
CONNECT_TIMEOUT_S = 5.0
_READ = 64 * 1024
_TIME_FIELDS = ("time", "timestamp", "@timestamp")


class _Broken(Exception):
    """The connection is unusable; the message says why (no record contents)."""


@dataclass(eq=False, slots=True)
class _Link:
    """One connection and the task that reads from it for as long as it is open."""

    address: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    conn: ClientConnection
    waiting: set[str] = field(default_factory=set)  # chunks sent and not yet acked
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None  # why the connection is unusable, once it is
    pump: asyncio.Task[None] | None = None

    async def run_pump(self) -> None:
        """Feed every byte the server sends to the protocol; note acks and failures."""
        try:
            while self.error is None:
                data = await self.reader.read(_READ)
                for event in self.conn.receive(data):
                    if isinstance(event, Acked):
                        self.waiting.discard(event.chunk)  # unknown chunks: ignored
                    elif isinstance(event, ProtocolViolation) and event.fatal:
                        self.error = f"protocol violation: {event.reason}"
                out = self.conn.data_to_send()
                if out:
                    self.writer.write(out)
                if not data and self.error is None:
                    self.error = "connection closed by the server"
                self.changed.set()
        except (OSError, ssl.SSLError) as exc:
            self.error = _reason(exc)
        finally:
            self.error = self.error or "connection closed"
            self.changed.set()

    async def wait(self, done: Callable[[], bool]) -> None:
        """Wait until ``done()`` holds; raise _Broken if the connection fails first."""
        while not done():
            if self.error is not None:
                raise _Broken(self.error)
            self.changed.clear()
            await self.changed.wait()


class ForwardDelivery:
    """Delivers batches to a Fluent forward aggregator over one reused connection.

    Args:
        config: the sink's configuration.
        connect_timeout_s: time for connect, TLS and handshake, per address.
        client_hostname: our hostname in the handshake; defaults to the node name.

    Raises:
        ConfigError: ``username`` without ``password`` or the other way round, or an
            address that is not ``HOST:PORT``.
    """

    def __init__(
        self,
        config: ForwardSinkConfig,
        *,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        client_hostname: str | None = None,
    ) -> None:
        self.name = config.name
        self.config = config
        if (config.username is None) != (config.password is None):
            raise ConfigError(f"sinks.{config.name}.username", "username and password go together")
        if config.shared_key == "":
            raise ConfigError(f"sinks.{config.name}.shared_key", "must not be empty")
        self._addresses = [_split(config.name, a) for a in config.address]
        self._preferred = 0
        self._connect_timeout = connect_timeout_s
        self._hostname = client_hostname
        self._ssl = _ssl_context(config) if config.tls else None
        self._link: _Link | None = None

    def __repr__(self) -> str:
        return f"ForwardDelivery(name={self.name!r}, addresses={len(self._addresses)})"

    async def deliver(self, records: Sequence[Shipped]) -> None:
        """Send ``records`` and return once the aggregator has them.

        Raises:
            SinkError: no address reachable, handshake refused, connection lost, or no
                ack within ``ack_timeout_s``; the connection is closed.
        """
        if not records:
            return
        frames = self._frames(records)
        link = await self._connected()
        try:
            for tag, entries in frames:
                chunk = new_chunk_id() if self.config.require_ack else None
                if chunk is not None:
                    link.waiting.add(chunk)
                link.writer.write(
                    link.conn.pack_forward(tag, entries, chunk=chunk, compress=self.config.compress)
                )
            await asyncio.wait_for(self._settle(link), self.config.ack_timeout_s)
        except asyncio.TimeoutError:
            await self._drop(failed=True)
            what = "ack" if self.config.require_ack else "write"
            raise SinkError(
                f"forward sink {self.name}: no {what} from {link.address} within "
                f"{self.config.ack_timeout_s:g}s"
            ) from None
        except (_Broken, OSError) as exc:
            await self._drop(failed=True)
            raise SinkError(f"forward sink {self.name}: {link.address}: {_reason(exc)}") from None

    async def close(self) -> None:
        """Close the connection, if any."""
        await self._drop()

    # -- frames --------------------------------------------------------------------

    def _frames(self, records: Sequence[Shipped]) -> list[tuple[str, list[Entry]]]:
        now = time.time_ns()
        groups: dict[str, list[Entry]] = {}
        for record in records:
            body = _record(record.line)
            groups.setdefault(record.tier, []).append((_event_time(body, now), body))
        prefix = self.config.tag_prefix
        return [(f"{prefix}.{tier}", entries) for tier, entries in groups.items()]

    async def _settle(self, link: _Link) -> None:
        """Flush the writes, then wait until every chunk sent is acked."""
        await link.writer.drain()
        await link.wait(lambda: not link.waiting)

    # -- connections ---------------------------------------------------------------

    async def _connected(self) -> _Link:
        link = self._link
        if link is not None:
            if link.error is None:
                return link
            await self._drop()  # the server hung up between batches
        order = [self._preferred] + [i for i in range(len(self._addresses)) if i != self._preferred]
        failures: list[str] = []
        for index in order:
            host, port = self._addresses[index]
            address = f"{host}:{port}"
            try:
                link = await asyncio.wait_for(self._open(host, port), self._connect_timeout)
            except asyncio.TimeoutError:
                failures.append(f"{address}: timed out")
            except (_Broken, OSError) as exc:
                failures.append(f"{address}: {_reason(exc)}")
            else:
                if index != self._preferred:
                    log.info("forward sink %s: now sending to %s", self.name, address)
                self._preferred = index
                self._link = link
                return link
        raise SinkError(f"forward sink {self.name}: no address reachable ({'; '.join(failures)})")

    async def _open(self, host: str, port: int) -> _Link:
        server_hostname = host if self._ssl is not None else None
        reader, writer = await asyncio.open_connection(
            host, port, ssl=self._ssl, server_hostname=server_hostname
        )
        cfg = self.config
        link = _Link(
            f"{host}:{port}",
            reader,
            writer,
            ClientConnection(cfg.shared_key, cfg.username, cfg.password, self._hostname),
        )
        link.pump = asyncio.create_task(link.run_pump())
        try:
            await link.wait(lambda: link.conn.established)
        except BaseException:
            await _close(link)
            raise
        return link

    async def _drop(self, failed: bool = False) -> None:
        """Close the connection; after a failed batch, start the next try elsewhere."""
        link, self._link = self._link, None
        if link is not None:
            await _close(link)
        if failed and len(self._addresses) > 1:
            # An aggregator that accepts connections but never acks must not hold the
            # sink forever: the retry starts with the next address (and comes back
            # round to this one if the others are down too).
            self._preferred = (self._preferred + 1) % len(self._addresses)


async def _close(link: _Link) -> None:
    """Close a connection and stop its reader; never raises."""
    link.error = link.error or "closed"
    if link.pump is not None:
        link.pump.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await link.pump
    link.writer.close()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(link.writer.wait_closed(), 1.0)


def _split(name: str, address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"sinks.{name}.address", 'expected "HOST:PORT"')
    return host.strip("[]"), int(port)


def _ssl_context(config: ForwardSinkConfig) -> ssl.SSLContext:
    cafile = str(config.tls_ca) if config.tls_ca is not None else None
    try:
        context = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"sinks.{config.name}.tls_ca", f"cannot load: {_reason(exc)}") from None
    context.check_hostname = config.tls_verify_hostname
    return context


def _reason(exc: BaseException) -> str:
    """A short, content-free reason: the message for our own errors, else the kind."""
    if isinstance(exc, _Broken):
        return str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate not accepted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


def _int(text: str) -> int | str:
    """A JSON integer msgpack can carry (64 bits), else its digits as a string.

    Without this, one record with a huge integer would make its batch unsendable and
    stall the sink behind it for good.
    """
    value = int(text)
    return value if -(2**63) <= value < 2**64 else text


def _record(line: bytes) -> dict[str, Any]:
    """The record of a shipped line; a line that is not a JSON object is wrapped."""
    try:
        value = json.loads(line, parse_int=_int)
    except ValueError:
        return {"message": line.decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {"message": value}


def _event_time(record: Mapping[str, Any], now_ns: int) -> EventTime:
    for name in _TIME_FIELDS:
        value = record.get(name)
        if isinstance(value, bool) or value is None:
            continue
        seconds: float | None = None
        if isinstance(value, (int, float)) and math.isfinite(value):
            seconds = float(value)
        elif isinstance(value, str):
            with contextlib.suppress(ValueError):
                seconds = datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        if seconds is not None and 0 <= seconds < 2**32 - 1:
            # Whole and fractional parts apart: seconds * 1e9 as one float would lose
            # the nanoseconds of any current timestamp.
            whole = math.floor(seconds)
            return EventTime.from_ns(whole * 1_000_000_000 + round((seconds - whole) * 1e9))
    return EventTime.from_ns(now_ns)


def build_forward_sink(
    config: ForwardSinkConfig,
    data_dir: Path,
    metrics: Metrics | None,
    env: Mapping[str, str],
    *,
    retry_max_s: float = 30.0,
) -> BufferedSink:
    """Build the forward sink: its delivery behind a disk buffer in ``data_dir``.

    The caller starts it (``await sink.start()``; the first ``write`` also does) and
    closes it at shutdown.

    Args:
        config: the sink's configuration.
        data_dir: the sidecar's data directory; the buffer is ``buffers/<name>/`` in it.
        metrics: the sidecar's metrics, or None.
        env: environment holding ``buffer.encryption_key_env``'s key.
        retry_max_s: longest pause between delivery attempts (``pipeline.retry_max_s``).

    Raises:
        ConfigError: bad credentials pairing, TLS CA, or encryption key variable.
        SinkError: the buffer is in use by another process or needs another key.
    """
    return buffered(
        config.name, ForwardDelivery(config), config.buffer, data_dir, metrics, env, retry_max_s
    )
