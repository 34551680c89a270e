"""A tiny HTTP/1.1 server for ``/metrics``, ``/healthz`` and ``/readyz``; no framework.

Theory of operation: :class:`MetricsServer` listens with :func:`asyncio.start_server`
and answers exactly one request per connection, then closes it (``Connection: close``),
so there is no keep-alive state, no pipelining and no request body to handle. A
connection is read until the blank line that ends the request head, and then:

* ``GET /metrics`` gets the Prometheus text exposition from :meth:`Metrics.render`;
* ``GET /healthz`` gets 200 while :meth:`Metrics.health` says healthy, else 503 with the
  short reason token (the kubelet restarts the container);
* ``GET /readyz`` gets 200 once the runner marked the sidecar ready, else 503;
* any other path gets 404, any other method 405 with ``Allow: GET``; a request line
  that is not HTTP/1.x gets 400. A query string is ignored.

The port is reachable by anything in the pod network, so it is treated as hostile:

* the request head is limited to ``max_header_bytes`` (8 KiB): past that the client gets
  431 and is disconnected, so memory per connection is bounded;
* the whole head must arrive within ``header_timeout_s``, a total deadline rather than a
  per-read one, so a client dribbling one byte a second (slowloris) is cut off (408);
* writing the answer has its own deadline, for clients that never read;
* at most ``max_connections`` are served at once; the next ones get 503 straight away;
* nothing from the request is logged or echoed back, and the endpoints expose only
  metric names, configured names and counts (see :mod:`sidecar.metrics`).

After an error answer the server half-closes and briefly discards what the client is
still sending, so the client reads the status instead of a connection reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from sidecar.metrics import CONTENT_TYPE, Metrics

__all__ = ["MetricsServer"]

_log = logging.getLogger(__name__)
_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}
_TEXT = "text/plain; charset=utf-8"
#: How long, and how much, is discarded after an error answer before closing.
_LINGER_S = 0.5
_LINGER_BYTES = 64 * 1024


class _HeadTooLarge(Exception):
    """The request head grew past the limit before its blank line arrived."""


class MetricsServer:
    """Serves the metrics and probe endpoints of one :class:`Metrics` object.

    Args:
        metrics: what ``/metrics`` renders and the probes report.
        host: address to bind; ``0.0.0.0`` in a pod so the kubelet and Prometheus reach it.
        port: TCP port; 0 picks a free one (see :meth:`start`).
        max_header_bytes: largest accepted request head (request line and headers).
        header_timeout_s: deadline for the whole request head to arrive.
        write_timeout_s: deadline for the answer to be sent.
        max_connections: connections served at once; more get 503 immediately.
    """

    def __init__(
        self,
        metrics: Metrics,
        host: str = "127.0.0.1",
        port: int = 9880,
        *,
        max_header_bytes: int = 8 * 1024,
        header_timeout_s: float = 5.0,
        write_timeout_s: float = 5.0,
        max_connections: int = 64,
    ) -> None:
        if max_header_bytes < 64 or max_connections < 1:
            raise ValueError("max_header_bytes must be at least 64, max_connections at least 1")
        self._metrics = metrics
        self._host = host
        self._port = port
        self._max_header = max_header_bytes
        self._header_timeout = header_timeout_s
        self._write_timeout = write_timeout_s
        self._max_connections = max_connections
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def start(self) -> int:
        """Bind and start serving in the background.

        Returns:
            The bound port (the chosen one when ``port`` was 0).

        Raises:
            OSError: the address cannot be bound.
            RuntimeError: the server is already started.
        """
        if self._server is not None:
            raise RuntimeError("the metrics server is already started")
        self._server = await asyncio.start_server(
            self._serve, self._host, self._port, reuse_address=True
        )
        port: int = self._server.sockets[0].getsockname()[1]
        self._port = port
        _log.info("metrics server listening on %s:%d", self._host, port)
        return port

    async def stop(self) -> None:
        """Stop listening and cut off the connections still being served."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    # -- one connection ---------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # start_server runs every callback in a task
        self._tasks.add(task)
        try:
            if len(self._tasks) > self._max_connections:
                await self._answer(writer, 503, b"busy\n")
                await self._linger(reader, writer)
                return
            try:
                head = await asyncio.wait_for(self._read_head(reader), self._header_timeout)
            except asyncio.TimeoutError:
                await self._answer(writer, 408, b"request head too slow\n")
                return
            except _HeadTooLarge:
                await self._answer(writer, 431, b"request head too large\n")
                await self._linger(reader, writer)
                return
            if head is None:  # the client went away before finishing its request
                return
            status, body, content_type, extra = self._route(head)
            await self._answer(writer, status, body, content_type, extra)
            if status == 400:
                await self._linger(reader, writer)
        except (ConnectionError, asyncio.TimeoutError):
            pass  # the client went away or never read; nothing to tell anyone
        except asyncio.CancelledError:
            # stop() cut the connection off. This task is ours and ends here; returning
            # normally keeps asyncio's stream callback from logging the cancellation.
            pass
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), self._write_timeout)

    async def _read_head(self, reader: asyncio.StreamReader) -> bytes | None:
        buffer = bytearray()
        searched = 0
        while True:
            # Search from just before the new bytes: the blank line may straddle reads.
            end = _END_OF_HEAD.search(buffer, max(0, searched - 3))
            searched = len(buffer)
            if end is not None:
                if end.start() > self._max_header:
                    raise _HeadTooLarge
                return bytes(buffer[: end.start()])
            if len(buffer) > self._max_header:
                raise _HeadTooLarge
            chunk = await reader.read(4096)
            if not chunk:
                return None
            buffer += chunk

    def _route(self, head: bytes) -> tuple[int, bytes, str, tuple[tuple[str, str], ...]]:
        line = head.split(b"\n", 1)[0].rstrip(b"\r").decode("latin-1")
        parts = line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, b"bad request line\n", _TEXT, ()
        method, target, _ = parts
        if method != "GET":
            return 405, b"only GET\n", _TEXT, (("Allow", "GET"),)
        path = target.split("?", 1)[0]
        if path == "/metrics":
            try:
                return 200, self._metrics.render(), CONTENT_TYPE, ()
            except Exception:  # a broken collector must not kill the server
                self._metrics.error("metrics", "http", "render")
                _log.exception("rendering metrics failed")
                return 500, b"render failed\n", _TEXT, ()
        health = self._metrics.health()
        if path == "/healthz":
            if health.healthy:
                return 200, b"ok\n", _TEXT, ()
            return 503, f"unhealthy: {health.reason}\n".encode(), _TEXT, ()
        if path == "/readyz":  # an unhealthy process is never ready either
            if health.ready and health.healthy:
                return 200, b"ready\n", _TEXT, ()
            return 503, b"not ready\n", _TEXT, ()
        return 404, b"not found\n", _TEXT, ()

    async def _answer(
        self,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = _TEXT,
        extra: tuple[tuple[str, str], ...] = (),
    ) -> None:
        lines = [
            f"HTTP/1.1 {status} {_REASONS[status]}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(body)}",
            "Cache-Control: no-store",
            "X-Content-Type-Options: nosniff",
            "Connection: close",
            *(f"{name}: {value}" for name, value in extra),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await asyncio.wait_for(writer.drain(), self._write_timeout)

    async def _linger(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Closing a socket with unread input makes the kernel send a reset, which can
        # destroy the answer before the client reads it; so half-close (the client sees
        # the end of the answer) and read a little of what it still sends first.
        if writer.can_write_eof():
            writer.write_eof()

        async def discard() -> None:
            total = 0
            while total < _LINGER_BYTES:
                chunk = await reader.read(4096)
                if not chunk:
                    return
                total += len(chunk)

        with contextlib.suppress(asyncio.TimeoutError, ConnectionError):
            await asyncio.wait_for(discard(), _LINGER_S)
