"""The metrics server on a real socket: endpoints, status codes and its DoS limits.

The server runs on an event loop in a background thread, so the tests can use plain
blocking clients (urllib.request and raw sockets) the way Prometheus and the kubelet do.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.http import MetricsServer
from sidecar.metrics import CONTENT_TYPE, Metrics

T = TypeVar("T")


class Loop:
    """An event loop running in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


@pytest.fixture(scope="module")
def loop() -> Iterator[Loop]:
    runner = Loop()
    yield runner
    runner.close()


class Served:
    def __init__(self, loop: Loop, **limits: Any) -> None:
        self.metrics = Metrics(sources=["app"], sinks=["stdout"])
        self.server = MetricsServer(self.metrics, "127.0.0.1", 0, **limits)
        self.loop = loop
        self.port = loop.run(self.server.start())

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url(path), method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, dict(answer.headers), answer.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        return sock


@pytest.fixture
def served(loop: Loop) -> Iterator[Served]:
    item = Served(loop)
    yield item
    loop.run(item.server.stop())


def read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def exchange(served: Served, data: bytes) -> bytes:
    with served.connect() as sock:
        sock.sendall(data)
        return read_all(sock)


class TestEndpoints:
    def test_metrics_exposition(self, served: Served):
        """GET /metrics answers 200 with the 0.0.4 content type and parseable metrics."""
        served.metrics.records_in("app", 3, 30)
        status, headers, body = served.get("/metrics")
        assert status == 200
        assert headers["Content-Type"] == CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"
        names = {family.name for family in text_string_to_metric_families(body.decode())}
        assert {"sidecar_source_records", "sidecar_up"} <= names
        assert b'sidecar_source_records_total{source="app"} 3.0' in body

    def test_query_string_is_ignored(self, served: Served):
        """A query string does not change the route."""
        assert served.get("/metrics?name[]=x")[0] == 200

    def test_healthz_follows_health(self, served: Served):
        """/healthz is 200 "ok" while healthy and 503 with the reason token once unhealthy."""
        assert served.get("/healthz")[::2] == (200, b"ok\n")
        served.metrics.set_healthy(False, "sink_stalled")
        status, _, body = served.get("/healthz")
        assert (status, body) == (503, b"unhealthy: sink_stalled\n")

    def test_readyz_follows_readiness(self, served: Served):
        """/readyz is 503 until the runner marks the sidecar ready, then 200."""
        assert served.get("/readyz")[0] == 503
        served.metrics.set_ready(True)
        assert served.get("/readyz")[::2] == (200, b"ready\n")
        served.metrics.set_healthy(False, "checkpoint")
        assert served.get("/readyz")[0] == 503

    def test_unknown_path_is_404(self, served: Served):
        """Any other path answers 404."""
        assert served.get("/metrics/extra")[0] == 404
        assert served.get("/")[0] == 404

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "HEAD"])
    def test_other_methods_are_405(self, served: Served, method: str):
        """Methods other than GET answer 405 with Allow: GET."""
        status, headers, _ = served.get("/metrics", method=method)
        assert status == 405
        assert headers["Allow"] == "GET"

    def test_bad_request_line_is_400(self, served: Served):
        """A request line that is not HTTP/1.x answers 400."""
        answer = exchange(served, b"GARBAGE\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 400 ")

    def test_one_request_per_connection(self, served: Served):
        """The answer says Connection: close and the server closes after it."""
        answer = exchange(served, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"\r\nConnection: close" in head
        assert b"\r\nContent-Length: 3" in head
        assert body == b"ok\n"

    def test_request_in_pieces_and_bare_newlines(self, served: Served):
        """A request sent byte by byte, or with bare LF line ends, is still understood."""
        with served.connect() as sock:
            for byte in b"GET /healthz HTTP/1.1\r\n\r\n":
                sock.send(bytes([byte]))
            assert read_all(sock).startswith(b"HTTP/1.1 200 ")
        assert exchange(served, b"GET /healthz HTTP/1.0\n\n").startswith(b"HTTP/1.1 200 ")

    def test_port_zero_and_double_start(self, served: Served, loop: Loop):
        """start() returns the real bound port and refuses a second start."""
        assert served.port > 0
        with pytest.raises(RuntimeError):
            loop.run(served.server.start())


class TestLimits:
    def test_oversized_head_gets_431_and_close(self, served: Served):
        """A request head past 8 KiB without its end answers 431 and is disconnected."""
        answer = exchange(served, b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000)
        assert answer.startswith(b"HTTP/1.1 431 ")

    def test_oversized_complete_head_gets_431(self, served: Served):
        """A complete request head longer than the limit also answers 431."""
        big = b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n"
        assert exchange(served, big).startswith(b"HTTP/1.1 431 ")

    def test_slow_client_timed_out_while_another_is_served(self, loop: Loop):
        """A client stuck mid-request is cut off at the deadline; others are served meanwhile."""
        served = Served(loop, header_timeout_s=1.0)
        try:
            with served.connect() as slow:
                started = time.monotonic()
                slow.sendall(b"GET /metrics HTTP/1.1\r\n")
                assert served.get("/healthz")[0] == 200
                slow.setblocking(False)
                with pytest.raises(BlockingIOError):  # still waiting: served the other first
                    slow.recv(1)
                slow.settimeout(5)
                answer = read_all(slow)
                waited = time.monotonic() - started
            assert answer.startswith(b"HTTP/1.1 408 ")
            assert 0.9 <= waited < 4
        finally:
            loop.run(served.server.stop())

    def test_dribbling_client_hits_the_total_deadline(self, loop: Loop):
        """A client sending one byte every 50 ms is cut off at the deadline for the whole head."""
        served = Served(loop, header_timeout_s=0.5)
        try:
            with served.connect() as slow:
                slow.settimeout(0.05)
                started = time.monotonic()
                answer = b""
                for _ in range(100):  # 5 s of dribbling at most
                    try:
                        slow.send(b"x")
                        answer += slow.recv(4096)
                    except TimeoutError:
                        continue
                    except OSError:
                        break
                    if answer:
                        break
                waited = time.monotonic() - started
            assert answer.startswith(b"HTTP/1.1 408 ")
            assert waited < 2
        finally:
            loop.run(served.server.stop())

    def test_connections_beyond_the_limit_get_503(self, loop: Loop):
        """With max_connections busy, the next connection is answered 503 at once."""
        served = Served(loop, max_connections=2, header_timeout_s=5)
        try:
            held = [served.connect(), served.connect()]
            for sock in held:
                sock.sendall(b"GET /metrics")
            time.sleep(0.2)  # let the server accept both
            assert exchange(served, b"GET /healthz HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 503 ")
            for sock in held:
                sock.close()
        finally:
            loop.run(served.server.stop())

    def test_stop_cuts_off_open_connections(self, loop: Loop):
        """stop() returns promptly and closes connections still waiting for a request."""
        served = Served(loop, header_timeout_s=30)
        with served.connect() as idle:
            idle.sendall(b"GET /")
            time.sleep(0.1)
            started = time.monotonic()
            loop.run(served.server.stop())
            assert time.monotonic() - started < 2
            assert read_all(idle) == b""
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", served.port), timeout=1).close()
