"""The ``syslog`` sink's network half: RFC 5424 over TCP, optionally TLS (RFC 5425).

Theory of operation: :class:`SyslogDelivery` is a :class:`~sidecar.record.Delivery`;
the disk buffer in front of it makes writes durable and calls :meth:`deliver` with
buffered batches in order, freeing a batch once ``deliver`` returned. ``deliver``
formats every record (:mod:`sidecar.protocol.syslog`), writes the frames of the whole
batch on one long-lived connection and returns once they are flushed. Any connection
error closes the connection and raises :class:`~sidecar.errors.SinkError`; the next call
connects anew and the buffer sends the same batch again.

What "delivered" means. TCP syslog has no application-level acknowledgement, so a
returned ``deliver`` says only this: every byte of the batch was handed to the server's
socket *and acknowledged by the server's TCP stack* (we wait until the kernel's
unacknowledged send queue, ``SIOCOUTQ``, is empty, within ``timeout_s``; on platforms
without it, until the bytes left our process). Waiting for the TCP acknowledgement
catches what a bare ``drain()`` would hide: a server host that vanished or a network
that partitioned without a reset (the bytes would sit in our send buffer until TCP gave
up minutes later, after the buffer had freed them). It costs one round trip per batch.

What remains, honestly: the server's kernel acknowledging bytes is not the server
reading them. Records in flight are lost if the server *process* dies (crash, ``kill``,
a restart) while they sit unread in its socket receive buffer, or while they sit in its
memory queues before reaching disk; the kernel then answers with a reset, which we log
as a warning but cannot undo, since we cannot tell how much the server had read. The
window is small (a server normally reads within milliseconds) but real; a deployment
that cannot accept it needs a protocol with acknowledgements (the ``forward`` sink with
``require_ack``, or RELP, which this sink does not speak).

Two cheap checks narrow the window further:

- Before writing a batch, the connection is probed: a server that closed it while we
  were idle (idle timeout, restart) has sent a FIN or a reset, so the socket polls
  readable although syslog servers never send anything. We then give the event loop a
  moment to process it and reconnect *before* writing, instead of writing the batch
  into a dead connection, where the first write succeeds locally and is lost.
- At shutdown, :meth:`close` is a barrier: it half-closes the stream (TLS: sends
  ``close_notify``) and waits, up to ``timeout_s``, for the server to close its side (or
  answer the ``close_notify``). A server reads to the end of the stream before it can
  notice the end, so by then it has read every byte we sent. Per batch this would cost a
  connection (and a TLS handshake) each time, which is why it is only done at shutdown.

A batch interrupted by a timeout, an error or a cancellation is abandoned with a reset
(so the kernel stops sending the rest) and resent whole on the next call. The server
may then see duplicates of the records it had already read, and possibly one truncated
message where the abandoned stream was cut: at-least-once, as with every network sink
here, with the loss window above on top. Order holds within a connection; across a
reconnect a server that serves connections in parallel (rsyslog does) may interleave
what it still had of the old connection with the new one.

Security: log lines and errors name the sink and the address, never record contents.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import select
import socket
import ssl
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from sidecar.config import SyslogSinkConfig
from sidecar.errors import ConfigError, SinkError
from sidecar.protocol.syslog import format_message, frame
from sidecar.record import Shipped

__all__ = ["DEFAULT_TIMEOUT_S", "SyslogDelivery"]

log = logging.getLogger(__name__)

#: How long a connect (with TLS handshake), a batch's flush or the shutdown barrier may
#: take before the attempt counts as failed.
DEFAULT_TIMEOUT_S = 30.0
#: How long a probe lets the event loop process a FIN or reset that already arrived.
_PROBE_S = 0.05
_ACK_POLL_MAX_S = 0.05
_SIOCOUTQ: int | None = None
if sys.platform.startswith("linux"):  # SIOCOUTQ shares its number with TIOCOUTQ
    import fcntl
    import termios

    _SIOCOUTQ = termios.TIOCOUTQ


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(slots=True)
class _Connection:
    """One open stream to the server and the task that watches it for EOF."""

    writer: asyncio.StreamWriter
    watcher: asyncio.Task[bool]
    fd: int

    def gone(self) -> bool:
        """Whether the server closed or reset the stream, as far as the loop knows."""
        return self.watcher.done() or self.writer.is_closing()

    def reset(self) -> bool:
        """Whether the stream ended with an error (a reset) rather than a clean EOF."""
        watcher = self.watcher
        return watcher.done() and not watcher.cancelled() and watcher.result()


class SyslogDelivery:
    """Delivers shipped records to a syslog server as RFC 5424 over TCP or TLS.

    Args:
        config: the sink's configuration (address, TLS, header fields).
        timeout_s: limit for connecting, for one batch to be acknowledged by the
            server's TCP stack, and for the shutdown barrier.
        clock: the time of records that carry none (tests pass a fixed one).

    Raises:
        ConfigError: the CA file cannot be loaded.
    """

    def __init__(
        self,
        config: SyslogSinkConfig,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.name = config.name
        self._address = config.address
        host, _, port = config.address.rpartition(":")
        self._host = host.strip("[]")
        self._port = int(port)
        self._tls = _tls_context(config) if config.tls else None
        self._hostname = config.hostname or socket.gethostname()
        self._app_name = config.app_name
        self._facility = config.facility
        self._procid = os.getpid()
        self._timeout = timeout_s
        self._clock = clock
        self._conn: _Connection | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SyslogDelivery(name={self.name!r}, address={self._address!r})"

    async def deliver(self, records: Sequence[Shipped]) -> None:
        """Send ``records`` in order; return once the server's TCP stack has them all.

        Raises:
            SinkError: no connection, or it failed or timed out during the batch; the
                connection is closed and the next call reconnects.
        """
        if not records:
            return
        now = self._clock()
        payload = b"".join(
            frame(
                format_message(
                    record,
                    hostname=self._hostname,
                    app_name=self._app_name,
                    facility=self._facility,
                    procid=self._procid,
                    now=now,
                )
            )
            for record in records
        )
        async with self._lock:
            conn = await self._usable()
            try:
                conn.writer.write(payload)
                await asyncio.wait_for(self._flushed(conn), self._timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                self._abort(conn)
                raise SinkError(
                    f"syslog sink {self.name!r}: sending {len(records)} records to "
                    f"{self._address} failed: {_reason(exc)}"
                ) from None
            except BaseException:  # cancelled: start the next batch on a clean stream,
                self._abort(conn)  # not queued behind one that may be stuck
                raise

    async def close(self) -> None:
        """Half-close and wait for the server to close its side, then release all."""
        async with self._lock:
            conn, self._conn = self._conn, None
            if conn is None:
                return
            try:
                await asyncio.wait_for(self._barrier(conn), self._timeout)
            except (OSError, asyncio.TimeoutError) as exc:
                log.warning(
                    "syslog sink %r: %s did not confirm the end of the stream: %s",
                    self.name,
                    self._address,
                    _reason(exc),
                )
            finally:
                self._abort(conn)

    async def _usable(self) -> _Connection:
        """The open connection if the server still holds it, else a new one."""
        conn = self._conn
        if conn is not None:
            if not conn.gone() and _readable(conn.fd):  # servers never send: FIN or reset
                await asyncio.wait({conn.watcher}, timeout=_PROBE_S)
            if not conn.gone():
                return conn
            if conn.reset():
                log.warning(
                    "syslog sink %r: %s reset the connection; records it had not read "
                    "yet are lost (syslog has no acknowledgements)",
                    self.name,
                    self._address,
                )
            else:
                log.info("syslog sink %r: %s closed the connection", self.name, self._address)
            self._abort(conn)
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._tls,
                    server_hostname=self._host if self._tls else None,
                ),
                self._timeout,
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise SinkError(
                f"syslog sink {self.name!r}: cannot connect to {self._address}: {_reason(exc)}"
            ) from None
        fd = writer.get_extra_info("socket").fileno()
        self._conn = _Connection(writer, asyncio.create_task(_watch(reader)), fd)
        return self._conn

    async def _flushed(self, conn: _Connection) -> None:
        """Wait until every written byte left our process and the server's TCP acked it."""
        await conn.writer.drain()
        delay = 0.0005
        while conn.writer.transport.get_write_buffer_size() or _unacked(conn.fd):
            if conn.gone():
                raise ConnectionResetError("the server closed the connection mid-batch")
            await asyncio.sleep(delay)
            delay = min(delay * 2, _ACK_POLL_MAX_S)
        if conn.gone():  # the bytes were acked, but by a socket about to discard them
            raise ConnectionResetError("the server closed the connection mid-batch")

    async def _barrier(self, conn: _Connection) -> None:
        """End our side of the stream and wait for the server to end its side."""
        if conn.writer.can_write_eof():
            conn.writer.write_eof()
            await conn.watcher
        # TLS: close() sends close_notify and waits for the server's answer or its EOF.
        conn.writer.close()
        await conn.writer.wait_closed()

    def _abort(self, conn: _Connection) -> None:
        """Drop ``conn`` at once; whatever was unsent is the caller's to resend.

        A zero linger time makes the kernel discard what is still queued and reset the
        connection, rather than go on sending the abandoned batch in the background
        (the default): the retry resends it anyway, and a server that recovers later
        would otherwise get a second, partial copy ending in a torn frame.
        """
        if self._conn is conn:
            self._conn = None
        conn.watcher.cancel()
        sock = conn.writer.get_extra_info("socket")  # None once the transport closed
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.writer.transport.abort()


async def _watch(reader: asyncio.StreamReader) -> bool:
    """Read until EOF, discarding anything a server sends; True if it ended in a reset."""
    try:
        while await reader.read(65536):
            pass
    except OSError:
        return True
    return False


def _tls_context(config: SyslogSinkConfig) -> ssl.SSLContext:
    """A client context verifying the server against ``tls_ca`` (or the system store)."""
    try:
        context = ssl.create_default_context(
            cafile=str(config.tls_ca) if config.tls_ca is not None else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"{config.name}.tls_ca", f"cannot load: {_reason(exc)}") from None
    # The chain is always verified; only the name check can be turned off, for servers
    # addressed by a name their certificate does not carry.
    context.check_hostname = config.tls_verify_hostname
    return context


def _readable(fd: int) -> bool:
    """Whether the socket has something to read (or an EOF or error) right now."""
    poller = select.poll()  # not select(): it fails on descriptors above 1023
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


def _unacked(fd: int) -> int:
    """Bytes of the socket's send queue not yet acknowledged by the peer (Linux)."""
    if _SIOCOUTQ is None:
        return 0
    with contextlib.suppress(OSError):
        (count,) = struct.unpack("i", fcntl.ioctl(fd, _SIOCOUTQ, b"\0\0\0\0"))
        return int(count)
    return 0


def _reason(exc: BaseException) -> str:
    """A short description of a connection error; never carries record contents."""
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS: certificate verify failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc.strerror or type(exc).__name__}"
    return f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc)
