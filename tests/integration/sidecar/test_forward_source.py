"""The forward source against real Fluent clients on 127.0.0.1, port 0.

The peers are the Python ``fluent-logger`` (Message mode, no acks, no handshake in
0.11) and the Node ``@fluent-org/logger`` client (every mode, acks, shared key and user
auth, TLS), run through ``tests/peers/node/fluent_client.js``. The source runs on an
event loop in a thread (:class:`LiveSource`) with a consumer that parses every batch and
commits it, or holds the commits to show that acks wait for them. A missing peer fails
the test rather than skipping it, so CI is never green without having run it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest
from fluent.handler import FluentHandler, FluentRecordFormatter
from fluent.sender import FluentSender
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config import ForwardSourceConfig
from sidecar.metrics import Metrics
from sidecar.protocol import encode_packed_forward, new_chunk_id
from sidecar.record import SourceBatch
from sidecar.sources.forward import ForwardSource
from tests.integration.sidecar.certs import write_ca, write_server

NODE_DIR = Path(__file__).resolve().parents[2] / "peers" / "node"
NODE_CLIENT = NODE_DIR / "fluent_client.js"
TIMEOUT = 10.0


class LiveSource:
    """A ForwardSource on its own event loop thread, consumed as the runner would.

    Args:
        commit: commit each batch as soon as it is parsed; otherwise hold them until
            :meth:`commit_held`.
        pull: iterate ``batches()`` from the start; otherwise wait for :meth:`start_pulling`.
        options: keyword arguments for :class:`ForwardSource` (stall_timeout_s, ...).
        fields: :class:`ForwardSourceConfig` fields besides name and listen.
    """

    def __init__(
        self,
        *,
        commit: bool = True,
        pull: bool = True,
        options: dict[str, Any] | None = None,
        **fields: Any,
    ) -> None:
        self.metrics = Metrics(sources=["fwd"])
        config = ForwardSourceConfig(name="fwd", listen="127.0.0.1:0", **fields)
        self.records: list[dict[str, Any]] = []
        self.batch_sizes: list[int] = []
        self.held: list[SourceBatch] = []
        self._commit = commit
        self._lock = threading.Lock()
        self.loop = asyncio.new_event_loop()
        self.loop_errors: list[str] = []
        self.loop.set_exception_handler(lambda _, ctx: self.loop_errors.append(ctx["message"]))
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.source = self.call(self._make(config, options or {}))
        self.port: int = self.call(self.source.start())
        self._consumer: asyncio.Future[None] | None = None
        if pull:
            self.start_pulling()

    async def _make(self, config: ForwardSourceConfig, options: dict[str, Any]) -> ForwardSource:
        return ForwardSource(config, self.metrics, **options)

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    def start_pulling(self) -> None:
        self._consumer = asyncio.run_coroutine_threadsafe(self._consume(), self.loop)

    async def _consume(self) -> None:
        async for batch in self.source.batches():
            parsed = [json.loads(text) for text in batch.texts]
            with self._lock:
                self.records += parsed
                self.batch_sizes.append(len(parsed))
            if self._commit:
                batch.commit()
            else:
                self.held.append(batch)

    def stop(self) -> None:
        """Call ``stop()`` on the source, as the runner does on SIGTERM."""
        self.loop.call_soon_threadsafe(self.source.stop)

    def consumer_ended(self, timeout: float = TIMEOUT) -> bool:
        """Whether ``batches()`` ended (waiting up to ``timeout``)."""
        assert self._consumer is not None
        try:
            self._consumer.result(timeout)
        except TimeoutError:
            return False
        return True

    def commit_held(self) -> None:
        async def commit() -> None:
            for batch in self.held:
                batch.commit()
            self.held.clear()

        self.call(commit())

    def wait_records(self, n: int, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.records) >= n:
                    return list(self.records)
            time.sleep(0.02)
        pytest.fail(f"{len(self.records)} of {n} records arrived within {timeout:.0f}s")

    def wait_run(self, run: str, n: int, timeout: float = TIMEOUT) -> list[int]:
        """Wait until ``n`` records with ``"run": run`` arrived; return their seqs, sorted."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                found = seqs(self.records, run)
            if len(found) >= n:
                return found
            time.sleep(0.01)
        pytest.fail(f"{len(found)} of {n} records of {run!r} arrived within {timeout:.0f}s")

    def errors(self, reason: str) -> float:
        text = self.metrics.render().decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "sidecar_errors_total"
            and sample.labels == {"component": "source", "name": "fwd", "reason": reason}
        )

    def faults(self) -> tuple[int, float]:
        """Exceptions that escaped into the event loop, internal errors counted."""
        return len(self.loop_errors), self.errors("other")

    def assert_healthy(self) -> None:
        assert self.loop_errors == []
        assert self.errors("other") == 0

    def close(self) -> None:
        """Stop the source as the runner would, then require that nothing went wrong."""
        self.loop.call_soon_threadsafe(self.source.stop)
        if self._consumer is not None:
            self._consumer.result(TIMEOUT)
        self.call(self.source.wait_closed())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(TIMEOUT)
        self.loop.close()
        self.assert_healthy()


@pytest.fixture
def live() -> Iterator[Callable[..., LiveSource]]:
    """Start LiveSources for one test; all are stopped at teardown."""
    started: list[LiveSource] = []

    def start(**kwargs: Any) -> LiveSource:
        started.append(LiveSource(**kwargs))
        return started[-1]

    yield start
    for source in started:
        source.close()


def node(port: int, **env: str) -> subprocess.Popen[str]:
    """Start the Node client script with FLUENT_* settings (``count="5"`` -> FLUENT_COUNT)."""
    assert (NODE_DIR / "node_modules" / "@fluent-org" / "logger").is_dir(), (
        "run tests/peers/install.sh: @fluent-org/logger is missing"
    )
    child_env = dict(os.environ, FLUENT_PORT=str(port))
    child_env.update({f"FLUENT_{k.upper()}": v for k, v in env.items()})
    return subprocess.Popen(
        ["node", str(NODE_CLIENT)],
        env=child_env,
        cwd=NODE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(child: subprocess.Popen[str], timeout: float = 20) -> tuple[int, str]:
    """Wait for the Node client; return its exit status and stderr."""
    _, err = child.communicate(timeout=timeout)
    return child.returncode, err


def seqs(records: list[dict[str, Any]], run: str) -> list[int]:
    return sorted(r["seq"] for r in records if r.get("run") == run)


def make_tls(tmp: Path) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate for 127.0.0.1/localhost; returns (ca, cert, key)."""
    paths = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    write_server(write_ca(paths[0], "sidecar test CA"), paths[1], paths[2])
    return paths


class TestPythonFluentLogger:
    def test_sender_records_arrive_with_tag_and_sub_second_time(self, live):
        """FluentSender's records all arrive, with the frame's tag and an ISO time in µs."""
        src = live()
        sender = FluentSender("app", host="127.0.0.1", port=src.port, nanosecond_precision=True)
        try:
            for seq in range(50):
                assert sender.emit("web", {"seq": seq, "run": "py"}), sender.last_error
        finally:
            sender.close()
        records = src.wait_records(50)
        assert seqs(records, "py") == list(range(50))
        assert {r["tag"] for r in records} == {"app.web"}
        stamp = records[0]["time"]
        assert len(stamp) == len("2024-01-01T00:00:00.123456Z") and stamp.endswith("Z")
        parsed = dt.datetime.fromisoformat(stamp[:26] + "+00:00")
        assert abs(parsed.timestamp() - time.time()) < 60

    def test_stdlib_logging_handler_records_arrive(self, live):
        """Records logged through FluentHandler arrive as fields, each exactly once."""
        src = live()
        handler = FluentHandler("svc", host="127.0.0.1", port=src.port)
        handler.setFormatter(
            FluentRecordFormatter({"level": "%(levelname)s", "msg": "%(message)s"})
        )
        logger = logging.getLogger("test_forward_source.handler")
        logger.propagate = False
        logger.addHandler(handler)
        try:
            for i in range(20):
                logger.warning("payment %d done", i)
        finally:
            logger.removeHandler(handler)
            handler.close()
        records = src.wait_records(20)
        assert sorted(r["msg"] for r in records) == sorted(f"payment {i} done" for i in range(20))
        assert {r["level"] for r in records} == {"WARNING"}
        assert {r["tag"] for r in records} == {"svc"}


class TestNodeClient:
    @pytest.mark.parametrize(
        "mode", ["Message", "Forward", "PackedForward", "CompressedPackedForward"]
    )
    def test_every_mode_is_delivered_and_acked(self, live, mode):
        """Each event mode's records all arrive and every chunk is acked after commit."""
        src = live(batch_lines=64)
        status, err = finish(node(src.port, mode=mode, count="300", ack="1", run=mode))
        assert status == 0, err
        assert seqs(src.wait_records(300), mode) == list(range(300))

    def test_event_time_keeps_subsecond_precision(self, live):
        """EventTime from the Node client becomes an ISO time with its fraction kept."""
        src = live()
        status, err = finish(node(src.port, count="5", milliseconds="1", run="ms"))
        assert status == 0, err
        stamps = [r["time"] for r in src.wait_records(5)]
        assert all(s[19] == "." and len(s) == 27 and s.endswith("Z") for s in stamps)
        assert any(s[20:23] != "000" for s in stamps)  # Date.now() milliseconds survive

    def test_acks_are_sent_only_after_commit(self, live):
        """A client requiring acks waits while batches are uncommitted and ends after commit."""
        src = live(commit=False)
        child = node(src.port, count="40", ack="1", run="held", flush_ms="20")
        src.wait_records(40)
        time.sleep(0.7)
        assert child.poll() is None, "the client finished before any commit"
        src.commit_held()
        status, err = finish(child)
        assert status == 0, err

    def test_never_committed_batches_are_never_acked(self, live):
        """Without a commit the client's ack timeout fires and it fails."""
        src = live(commit=False)
        status, err = finish(node(src.port, count="3", ack="1", ack_timeout_ms="800"))
        assert status == 1 and "AckTimeout" in err, err
        assert len(src.wait_records(3)) == 3

    def test_shared_key_and_user_auth(self, live):
        """With the right shared key, user and password every record arrives and is acked."""
        src = live(shared_key="s3cret", users={"app": "pw1"})
        child = node(
            src.port, count="100", ack="1", run="auth",
            shared_key="s3cret", username="app", password="pw1",
        )  # fmt: skip
        status, err = finish(child)
        assert status == 0, err
        assert seqs(src.wait_records(100), "auth") == list(range(100))

    @pytest.mark.parametrize(
        ("key", "password"), [("wrong-key", "pw1"), ("s3cret", "wrong-password")]
    )
    def test_bad_credentials_are_refused_and_counted(self, live, key, password, caplog):
        """A wrong shared key or password is refused, counted, logged without secrets."""
        src = live(shared_key="s3cret", users={"app": "pw1"})
        with caplog.at_level(logging.WARNING, logger="sidecar.sources.forward"):
            status, err = finish(
                node(src.port, count="5", ack="1", shared_key=key, username="app",
                     password=password, timeout_ms="5000"),
            )  # fmt: skip
        assert status != 0, err
        assert src.errors("auth_failed") >= 1
        assert src.records == []
        logged = caplog.text
        assert "auth_failed" in logged and "127.0.0.1:" in logged
        assert key not in logged and password not in logged and "s3cret" not in logged

    def test_tls_with_a_test_ca(self, live, tmp_path):
        """Over TLS with a certificate from a test CA, with a shared key, all is acked."""
        ca, cert, key = make_tls(tmp_path)
        src = live(tls_cert=cert, tls_key=key, shared_key="tls-key")
        child = node(src.port, count="100", ack="1", ca=str(ca), shared_key="tls-key", run="tls")
        status, err = finish(child)
        assert status == 0, err
        assert seqs(src.wait_records(100), "tls") == list(range(100))

    def test_tls_client_without_the_ca_is_refused(self, live, tmp_path):
        """A TLS client that does not trust the server's CA never gets through."""
        _, cert, key = make_tls(tmp_path)
        (tmp_path / "other").mkdir()
        other_ca, _, _ = make_tls(tmp_path / "other")
        src = live(tls_cert=cert, tls_key=key)
        status, err = finish(node(src.port, count="3", ca=str(other_ca), timeout_ms="5000"))
        assert status != 0, err
        assert src.records == []


def read_acks(sock: socket.socket, n: int) -> set[str]:
    """Read ``{"ack": chunk}`` answers until ``n`` arrived."""
    unpacker = msgpack.Unpacker(raw=False)
    acks: set[str] = set()
    sock.settimeout(TIMEOUT)
    while len(acks) < n:
        data = sock.recv(65536)
        assert data, f"closed after {len(acks)} of {n} acks"
        unpacker.feed(data)
        acks |= {message["ack"] for message in unpacker}
    return acks


class TestBatching:
    def test_frames_are_never_split_across_batches(self, live):
        """Batches keep to batch_lines by whole frames; a larger frame travels alone."""
        src = live(pull=False, batch_lines=25, options={"max_pending_lines": 1000})
        sizes = [10] * 6 + [40] + [10] * 3
        with socket.create_connection(("127.0.0.1", src.port)) as sock:
            n = sent = 0
            for size in sizes:
                records = [(1, {"run": "split", "seq": n + i}) for i in range(size)]
                frame = encode_packed_forward("b", records)
                sock.sendall(frame)
                n, sent = n + size, sent + len(frame)
            deadline = time.monotonic() + TIMEOUT
            while src.source.lag_bytes() < sent:  # every frame queued before any batch
                assert time.monotonic() < deadline
                time.sleep(0.01)
            src.start_pulling()
            assert src.wait_run("split", n) == list(range(n))
        assert src.batch_sizes == [20, 20, 20, 40, 20, 10]

    def test_stop_delivers_what_is_queued_then_ends(self, live):
        """After stop the listener is closed, queued frames still come, are acked, and end."""
        src = live(pull=False)
        chunks = [new_chunk_id() for _ in range(3)]
        with socket.create_connection(("127.0.0.1", src.port)) as sock:
            sent = 0
            for seq, chunk in enumerate(chunks):
                entries = [(1, {"run": "stop", "seq": seq})]
                frame = encode_packed_forward("s", entries, chunk=chunk)
                sock.sendall(frame)
                sent += len(frame)
            deadline = time.monotonic() + TIMEOUT
            while src.source.lag_bytes() < sent:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            src.stop()
            src.start_pulling()
            assert src.consumer_ended()
            assert src.wait_run("stop", 3) == [0, 1, 2]
            assert read_acks(sock, 3) == set(chunks)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", src.port), timeout=2).close()


class TestServerLimits:
    def test_backpressure_stops_reading_until_the_pipeline_pulls(self, live):
        """While nothing pulls, the client's writes block; once pulling, everything arrives."""
        src = live(pull=False, batch_lines=100, options={"max_pending_lines": 200})
        payload = "x" * 200
        frame_records = 500
        sent = 0
        with socket.create_connection(("127.0.0.1", src.port)) as sock:
            sock.settimeout(1.0)
            try:
                while sent < 400_000:  # about 120 MB: far beyond any socket buffers
                    records = [(1, {"n": sent + i, "p": payload}) for i in range(frame_records)]
                    sock.sendall(encode_packed_forward("bp", records))
                    sent += frame_records
            except TimeoutError:
                pass
            assert sent < 400_000, "the source kept reading with nobody pulling"
            assert src.source.lag_bytes() < 2 * 1024 * 1024
            src.start_pulling()
            sock.settimeout(None)
        records = src.wait_records(sent - frame_records, timeout=30)
        numbers = {r["n"] for r in records}
        assert set(range(sent - frame_records)) <= numbers

    def test_stalled_client_is_closed_and_others_keep_flowing(self, live):
        """A client stopping mid-frame is closed after the stall timeout; others unaffected."""
        src = live(options={"stall_timeout_s": 0.5})
        frame = encode_packed_forward("st", [(1, {"seq": 0, "run": "ok"})])
        with socket.create_connection(("127.0.0.1", src.port)) as stalled:
            stalled.sendall(frame[: len(frame) // 2])
            with socket.create_connection(("127.0.0.1", src.port)) as good:
                good.sendall(frame)
                src.wait_records(1)
            stalled.settimeout(5)
            started = time.monotonic()
            assert stalled.recv(10) == b""
            assert time.monotonic() - started < 3
        assert src.errors("timeout") == 1

    def test_idle_client_between_frames_is_kept(self, live):
        """A client idle between frames is not a stall: its next frame still arrives."""
        src = live(options={"stall_timeout_s": 0.3})
        with socket.create_connection(("127.0.0.1", src.port)) as sock:
            sock.sendall(encode_packed_forward("idle", [(1, {"seq": 0, "run": "idle"})]))
            time.sleep(0.8)
            sock.sendall(encode_packed_forward("idle", [(1, {"seq": 1, "run": "idle"})]))
            assert seqs(src.wait_records(2), "idle") == [0, 1]
        assert src.errors("timeout") == 0

    def test_connections_beyond_the_limit_are_refused(self, live):
        """The connection past max_connections is closed at once and counted."""
        src = live(max_connections=2)
        with (
            socket.create_connection(("127.0.0.1", src.port)) as a,
            socket.create_connection(("127.0.0.1", src.port)) as b,
        ):
            for sock, run in ((a, "a"), (b, "b")):
                sock.sendall(encode_packed_forward("lim", [(1, {"seq": 0, "run": run})]))
            src.wait_records(2)  # both are being served
            with socket.create_connection(("127.0.0.1", src.port)) as c:
                c.settimeout(5)
                assert c.recv(10) == b""
            b.sendall(encode_packed_forward("lim", [(1, {"seq": 1, "run": "b"})]))
            assert seqs(src.wait_records(3), "b") == [0, 1]
        assert src.errors("connection_limit") == 1
