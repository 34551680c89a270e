"""The forward sink against a real aggregator: FluentServer from @fluent-org/logger.

The peer is ``tests/peers/node/fluent_server.js`` (installed by ``tests/peers/install.sh``),
started per test on a loopback port; it prints one JSON line per received entry. Nothing
here is faked: the sink speaks TCP (and TLS) to that process, and the disk buffer lives
in the test's temporary directory. A missing peer fails the test, never skips it.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sidecar.buffer import BufferedSink, DiskBuffer
from sidecar.config import BufferConfig, ForwardSinkConfig
from sidecar.errors import SinkError
from sidecar.metrics import Metrics
from sidecar.record import Shipped
from sidecar.sinks.forward import ForwardDelivery, build_forward_sink
from tests.integration.sidecar.certs import write_ca, write_server

NODE_DIR = Path(__file__).resolve().parents[2] / "peers" / "node"
SCRIPT = NODE_DIR / "fluent_server.js"


class FluentServer:
    """A running fluent_server.js; ``entries`` fills as it prints them."""

    def __init__(self, port: int = 0, env: dict[str, str] | None = None, args=()) -> None:
        node = shutil.which("node")
        assert node, "node is required (tests/peers/install.sh)"
        assert (NODE_DIR / "node_modules" / "@fluent-org" / "logger").is_dir(), (
            "@fluent-org/logger missing: run tests/peers/install.sh"
        )
        self.proc = subprocess.Popen(
            [node, str(SCRIPT), "--port", str(port), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        assert self.proc.stdout is not None
        first = self.proc.stdout.readline()
        assert first, f"fluent_server.js did not start: {self.proc.stderr.read()}"  # type: ignore[union-attr]
        self.port: int = json.loads(first)["port"]
        self.entries: list[dict] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.entries.append(json.loads(line))

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def records(self, count: int = 0, timeout: float = 5.0) -> list[dict]:
        """The records received so far, after waiting for at least ``count`` of them.

        The server acks a frame before it prints the entries, so a test that just saw
        ``deliver`` return waits a moment for the lines.
        """
        if count:
            self.wait_for(count, timeout)
        with self._lock:
            return [e["record"] for e in self.entries]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict]:
        """Wait until ``count`` entries arrived; return them (tag, time, record)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.entries) >= count:
                    return list(self.entries)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.entries)} of {count} entries arrived")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self._thread.join(2)


@pytest.fixture
def servers() -> Iterator[list[FluentServer]]:
    started: list[FluentServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def start(servers):
    def start(**kw) -> FluentServer:
        server = FluentServer(**kw)
        servers.append(server)
        return server

    return start


def rec(n: int, tier: str = "application", **fields) -> Shipped:
    return Shipped(tier, "2024-05-01", json.dumps({"n": n, "msg": "[card]", **fields}).encode())


def config(*addresses: str, **kw) -> ForwardSinkConfig:
    kw.setdefault("ack_timeout_s", 3.0)
    return ForwardSinkConfig(name="fwd", address=addresses, **kw)


async def deliver(cfg: ForwardSinkConfig, *batches: list[Shipped], **kw) -> None:
    delivery = ForwardDelivery(cfg, **kw)
    try:
        for batch in batches:
            await delivery.deliver(batch)
    finally:
        await delivery.close()


def run(coro, timeout: float = 15.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TestModes:
    def test_packed_forward_tags_each_tier_and_keeps_order(self, start):
        """Records arrive tagged <prefix>.<tier>, in order per tier, with their own time."""
        server = start()
        batch = [rec(1), rec(2, "audit"), rec(3, time=1700000000.25), rec(4, "audit")]
        run(deliver(config(server.address, tag_prefix="shop", require_ack=False), batch))
        entries = server.wait_for(4)
        by_tag = {
            tag: [e["record"]["n"] for e in entries if e["tag"] == tag]
            for tag in {e["tag"] for e in entries}
        }
        assert by_tag == {"shop.application": [1, 3], "shop.audit": [2, 4]}
        timed = next(e for e in entries if e["record"]["n"] == 3)
        assert timed["time"] == {"epoch": 1700000000, "nano": 250000000}
        assert entries[0]["record"] == {"n": 1, "msg": "[card]"}

    def test_compressed_packed_forward_with_acks(self, start):
        """CompressedPackedForward frames are inflated and acked by the aggregator."""
        server = start()
        run(deliver(config(server.address, compress=True), [rec(n) for n in range(50)]))
        assert [r["n"] for r in server.records(50)] == list(range(50))

    def test_deliver_returns_once_acked(self, start):
        """With require_ack, every record is at the aggregator when deliver returns."""
        server = start()
        run(deliver(config(server.address), [rec(1), rec(2, "error")], [rec(3)]))
        assert len(server.wait_for(3, timeout=1.0)) == 3

    def test_integer_beyond_64_bits_is_sent_as_text(self, start):
        """A record msgpack cannot carry as is (a huge integer) still goes, as a string."""
        server = start()
        huge = 123456789012345678901234567890
        line = b'{"n": 1, "big": %d}' % huge
        run(deliver(config(server.address), [Shipped("application", "2024-05-01", line)]))
        assert server.records(1) == [{"n": 1, "big": str(huge)}]

    def test_missing_ack_times_out_and_retries_on_a_new_connection(self):
        """A peer that never acks: SinkError after ack_timeout_s, and the retry reconnects."""

        async def scenario():
            accepted = []

            async def silent(reader, writer):
                accepted.append(writer)
                await reader.read()  # takes frames, never answers

            server = await asyncio.start_server(silent, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            delivery = ForwardDelivery(config(f"127.0.0.1:{port}", ack_timeout_s=0.3))
            for _ in range(2):
                began = time.monotonic()
                with pytest.raises(SinkError, match="no ack"):
                    await delivery.deliver([rec(1)])
                assert time.monotonic() - began < 2
            unacked = ForwardDelivery(config(f"127.0.0.1:{port}", require_ack=False))
            await unacked.deliver([rec(2)])  # without acks, writing is delivering
            await unacked.close()
            await delivery.close()
            server.close()
            return len(accepted)

        assert run(scenario()) == 3


class TestAuthentication:
    def test_shared_key_handshake(self, start):
        """With the right shared key the handshake passes and records arrive."""
        server = start(env={"FLUENT_SHARED_KEY": "s3cret-key"})
        run(deliver(config(server.address, shared_key="s3cret-key"), [rec(1)]))
        assert server.records(1) == [{"n": 1, "msg": "[card]"}]

    def test_wrong_shared_key_is_refused_retried_and_delivers_nothing(self, start, tmp_path):
        """A wrong key: every attempt fails and is counted; the batch stays buffered."""
        server = start(env={"FLUENT_SHARED_KEY": "right-key"})
        metrics = Metrics(sinks=["fwd"])

        async def scenario():
            delivery = ForwardDelivery(config(server.address, shared_key="wrong-key"))
            sink = BufferedSink(
                "fwd", delivery, DiskBuffer(tmp_path, 1 << 20, None), metrics, retry_max_s=0.05
            )
            await sink.write([rec(1)])
            assert not await sink.drain(1.0)
            retries, left = sink.retries, sink.buffer.records
            await sink.close()
            return retries, left

        retries, left = run(scenario())
        assert retries >= 3 and left == 1
        assert server.records() == []
        assert "sidecar_sink_retries_total" in metrics.render().decode()
        with pytest.raises(SinkError, match="shared key mismatch") as info:
            run(deliver(config(server.address, shared_key="wrong-key"), [rec(1)]))
        assert "wrong-key" not in str(info.value) and "right-key" not in str(info.value)

    def test_user_and_password(self, start):
        """User authentication passes with the right password and fails with a wrong one."""
        server = start(
            env={"FLUENT_SHARED_KEY": "k", "FLUENT_USERS": json.dumps({"shipper": "pw-1"})}
        )
        good = config(server.address, shared_key="k", username="shipper", password="pw-1")
        run(deliver(good, [rec(1)]))
        bad = config(server.address, shared_key="k", username="shipper", password="pw-2")
        with pytest.raises(SinkError, match="username/password") as info:
            run(deliver(bad, [rec(2)]))
        assert "pw-" not in str(info.value)
        assert [r["n"] for r in server.records(1)] == [1]


@pytest.fixture
def tls_files(tmp_path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost signed by it, and another CA."""
    ca = write_ca(tmp_path / "ca-good.pem", "test CA good")
    write_ca(tmp_path / "ca-other.pem", "test CA other")
    write_server(ca, tmp_path / "server.pem", tmp_path / "server.key")
    return {
        "ca": tmp_path / "ca-good.pem",
        "other_ca": tmp_path / "ca-other.pem",
        "cert": tmp_path / "server.pem",
        "key": tmp_path / "server.key",
    }


class TestTLS:
    def test_tls_with_the_right_ca_and_a_wrong_one(self, start, tls_files):
        """TLS verified against the test CA delivers; a different CA is refused."""
        server = start(
            args=["--tls-cert", str(tls_files["cert"]), "--tls-key", str(tls_files["key"])],
            env={"FLUENT_SHARED_KEY": "k"},
        )
        good = config(server.address, tls=True, tls_ca=tls_files["ca"], shared_key="k")
        run(deliver(good, [rec(1)]))
        wrong = config(server.address, tls=True, tls_ca=tls_files["other_ca"], shared_key="k")
        with pytest.raises(SinkError, match="certificate"):
            run(deliver(wrong, [rec(2)]))
        plain = config(server.address, shared_key="k", ack_timeout_s=1.0)
        with pytest.raises(SinkError):
            run(deliver(plain, [rec(3)], connect_timeout_s=1.0))
        assert [r["n"] for r in server.records(1)] == [1]


class TestFailover:
    def test_first_address_dead(self, start):
        """With the first address refusing connections, the next one gets the records."""
        server = start()
        cfg = config(f"127.0.0.1:{dead_port()}", server.address)
        run(deliver(cfg, [rec(1)], [rec(2)]))
        assert [r["n"] for r in server.records(2)] == [1, 2]

    def test_no_address_reachable(self):
        """With every address dead, deliver raises SinkError naming the addresses."""
        ports = [dead_port(), dead_port()]
        cfg = config(*(f"127.0.0.1:{p}" for p in ports))
        with pytest.raises(SinkError, match="no address reachable") as info:
            run(deliver(cfg, [rec(1)]))
        assert all(str(p) in str(info.value) for p in ports)


class TestBuffering:
    def test_outage_buffers_then_delivers_everything_in_order(self, start, tmp_path):
        """Aggregator down: writes still return and the buffer grows; back up: all arrive."""
        server = start()
        port = server.port
        key = base64.b64encode(bytes(range(32))).decode()
        cfg = config(
            server.address, buffer=BufferConfig(encryption_key_env="BUF_KEY"), ack_timeout_s=1.0
        )
        metrics = Metrics(sinks=["fwd"])
        sink = build_forward_sink(cfg, tmp_path, metrics, {"BUF_KEY": key}, retry_max_s=0.1)
        buffer_dir = tmp_path / "buffers" / "fwd"

        async def scenario():
            await sink.start()
            await sink.write([rec(n) for n in range(10)])
            assert await sink.drain(5)
            server.stop()
            for start_n in range(10, 60, 10):
                began = time.monotonic()
                await sink.write([rec(n) for n in range(start_n, start_n + 10)])
                assert time.monotonic() - began < 1.0
            await asyncio.sleep(0.3)
            held = sink.buffer.records
            on_disk = b"".join(p.read_bytes() for p in buffer_dir.glob("*.seg"))
            back = FluentServer(port=port)
            try:
                drained = await sink.drain(10)
                await sink.close()
            finally:
                await asyncio.to_thread(back.wait_for, 60 - len(server.records()))
                back.stop()
            return held, on_disk, drained, back.records()

        held, on_disk, drained, later = run(scenario(), timeout=25)
        assert held >= 40
        assert on_disk and b"[card]" not in on_disk  # the buffer is encrypted
        assert drained
        numbers = [r["n"] for r in server.records() + later]
        assert sorted(set(numbers)) == list(range(60))
        first_seen = list(dict.fromkeys(numbers))
        assert first_seen == list(range(60))  # in order (a resent batch may repeat)
        assert list(buffer_dir.glob("*.seg")) == []

    def test_backpressure_blocks_write_until_drained(self, start, tmp_path):
        """With a tiny buffer and no aggregator, write waits; it returns once delivered."""
        port = dead_port()
        cfg = config(f"127.0.0.1:{port}")
        # max_bytes below one batch: a second batch waits until the first is delivered.
        buffer = DiskBuffer(tmp_path, 100, None)
        sink = BufferedSink("fwd", ForwardDelivery(cfg), buffer, None, retry_max_s=0.1)
        holder: list[FluentServer] = []

        async def scenario():
            await sink.write([rec(1), rec(2)])
            blocked = asyncio.ensure_future(sink.write([rec(3), rec(4)]))
            await asyncio.sleep(0.5)
            assert not blocked.done()
            holder.append(await asyncio.to_thread(start, port=port))
            await asyncio.wait_for(blocked, 5)
            assert await sink.drain(5)
            await sink.close()

        run(scenario())
        assert [r["n"] for r in holder[0].records(4)] == [1, 2, 3, 4]

    def test_close_leaves_undelivered_batches_for_the_next_start(self, start, tmp_path):
        """close() keeps what was not delivered; a new sink on the same buffer sends it."""
        port = dead_port()
        cfg = config(f"127.0.0.1:{port}")

        async def first():
            sink = build_forward_sink(cfg, tmp_path, None, {}, retry_max_s=0.1)
            await sink.write([rec(1)])
            await sink.write([rec(2)])
            await sink.close(timeout=1)

        async def second():
            sink = build_forward_sink(cfg, tmp_path, None, {}, retry_max_s=0.1)
            assert sink.buffer.records == 2
            drained = await sink.drain(5)
            await sink.close()
            return drained

        run(first())
        server = start(port=port)
        assert run(second())
        assert [r["n"] for r in server.records(2)] == [1, 2]


def test_event_time_of_iso_timestamps(start):
    """An ISO 8601 ``timestamp`` field becomes the entry's EventTime."""
    server = start()
    stamp = "2024-05-01T12:00:00.5+00:00"
    run(deliver(config(server.address), [rec(1, timestamp=stamp)]))
    (entry,) = server.wait_for(1)
    epoch = int(dt.datetime(2024, 5, 1, 12, tzinfo=dt.timezone.utc).timestamp())
    assert entry["time"] == {"epoch": epoch, "nano": 500_000_000}
