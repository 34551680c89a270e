"""Forward -> forward throughput: one sidecar between a Fluent client and an aggregator.

What is measured, on one generated corpus (realistic text and JSON lines, ~3 % carrying a
card, a key or another secret, from :mod:`benchmarks.corpus`): JSON lines are sent as
their objects, text lines as ``{"message": line}``, as a fluent-logger app would.

* **direct**: a Python client sends the records straight to the receiver: the floor set
  by the client, the loopback and the receiver, with no sidecar;
* **sidecar, redaction**: the same client sends to a ``python -m sidecar`` process
  (``forward`` source -> ``forward`` sink, ``require_ack``, tag prefix ``pci``) with
  the default redaction policy, and the sidecar forwards to the receiver;
* **sidecar, no redaction**: the same with ``[pipeline] policy`` naming a policy file
  with ``rules = []``, which switches every kind off (the redactor still walks each
  record and finds nothing; parsing, classification, the disk buffer, the fsync per
  batch and both network hops stay), so the ratio isolates the cost of redaction.

The client (:func:`send`) is :class:`sidecar.protocol.ClientConnection` over a plain
socket: PackedForward frames of ``--batch`` records (1000), each with a ``chunk``, at
most ``--window`` frames unacked. Frames are encoded before the clock starts, so the
client costs only ``sendall`` and reading acks. The clock runs from the first byte sent
until the receiver has counted every record; the sidecar is started, and ready, before.
An ack from the sidecar means the batch is fsync'd into its disk buffer; its forward
sink then delivers to the receiver, so end to end covers both hops.

The receiver is either a minimal Python aggregator on
:class:`sidecar.protocol.ServerConnection` in its own process (decodes each frame,
counts its records, acks at once; the default, being the faster of the two here) or
``tests/peers/node/fluent_server.js`` (@fluent-org/logger's FluentServer, which prints
one JSON line per record; counted by newline). ``--receiver`` picks one.

Each sidecar run also checks ``sidecar_redactions_total`` on its ``/metrics``: above
zero with redaction, zero without, so the two rows really differ in what they do.

Run from the repository root::

    python -m benchmarks.forward_throughput                  # 100k records, best of 3
    python -m benchmarks.forward_throughput --lines 20000 --reps 1
    python -m benchmarks.forward_throughput --receiver node --window 1 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.corpus import generate
from sidecar.protocol import (
    Acked,
    ClientConnection,
    Entries,
    EventTime,
    ProtocolViolation,
    ServerConnection,
    ServerState,
    new_chunk_id,
)

__all__ = ["Counter", "Result", "main", "pack_frames", "records_of", "send"]

REPO = Path(__file__).resolve().parents[1]
NODE_SERVER = REPO / "tests" / "peers" / "node" / "fluent_server.js"
TAG = "app.payments"


@dataclass(frozen=True, slots=True)
class Result:
    """One timed run."""

    name: str
    seconds: float
    lines_per_s: float
    mb_per_s: float


def records_of(lines: Sequence[str]) -> list[dict[str, Any]]:
    """The records a fluent-logger app would send for ``lines``."""
    out: list[dict[str, Any]] = []
    for line in lines:
        value = json.loads(line) if line.startswith("{") else None
        out.append(value if isinstance(value, dict) else {"message": line})
    return out


def pack_frames(records: Sequence[dict[str, Any]], batch: int) -> list[tuple[str, bytes]]:
    """PackedForward frames of ``batch`` records, each with its own chunk id."""
    conn = ClientConnection()
    now = EventTime.from_ns(time.time_ns())
    frames = []
    for start in range(0, len(records), batch):
        chunk = new_chunk_id()
        entries = [(now, record) for record in records[start : start + batch]]
        frames.append((chunk, conn.pack_forward(TAG, entries, chunk=chunk)))
    return frames


def send(port: int, frames: Sequence[tuple[str, bytes]], window: int) -> None:
    """Send ``frames`` with at most ``window`` unacked; return once all are acked."""
    conn = ClientConnection()
    pending = deque(frames)
    waiting: set[str] = set()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while pending or waiting:
            while pending and len(waiting) < window:
                chunk, data = pending.popleft()
                waiting.add(chunk)
                sock.sendall(data)
            data = sock.recv(65536)
            if not data:
                raise SystemExit(f"the peer closed with {len(waiting)} chunk(s) unacked")
            for event in conn.receive(data):
                if isinstance(event, Acked):
                    waiting.discard(event.chunk)
                elif isinstance(event, ProtocolViolation) and event.fatal:
                    raise SystemExit(f"protocol violation from the peer: {event.reason}")


# -- receivers ---------------------------------------------------------------------------


class Counter:
    """Records a receiver has counted, and when the last of them arrived (monotonic)."""

    port: int

    def count(self) -> int:
        """Records received so far."""
        raise NotImplementedError

    def last(self) -> float:
        """``time.monotonic()`` of the latest arrival."""
        raise NotImplementedError

    def wait(self, target: int, timeout: float) -> float:
        """Wait until ``target`` records were counted; return when the last one came."""
        deadline = time.monotonic() + timeout
        while self.count() < target:
            if time.monotonic() > deadline:
                raise SystemExit(f"receiver has {self.count()} of {target} records")
            time.sleep(0.002)
        return self.last()

    def close(self) -> None:
        """Stop the receiver."""


def _python_receiver(port: Any, count: Any, last: Any) -> None:
    """Child process: count and ack every frame, forever (CLOCK_MONOTONIC is system-wide)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = ServerConnection(max_frame_bytes=256 << 20)
        while conn.state is not ServerState.CLOSED:
            events = conn.receive(await reader.read(1 << 20))
            out = bytearray(conn.data_to_send())
            for event in events:
                if isinstance(event, Entries):
                    last.value = time.monotonic()  # before the count: the reader polls count
                    count.value += len(event.entries)
                    if event.chunk is not None:
                        out += conn.send_ack(event.chunk)
            if out:
                writer.write(out)
        writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port.value = server.sockets[0].getsockname()[1]
        await server.serve_forever()

    asyncio.run(serve())


class PythonReceiver(Counter):
    """A minimal forward aggregator on ``ServerConnection``, in its own process."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._port = ctx.Value("i", 0, lock=False)
        self._count = ctx.Value("q", 0, lock=False)
        self._last = ctx.Value("d", 0.0, lock=False)
        self._proc = ctx.Process(
            target=_python_receiver, args=(self._port, self._count, self._last), daemon=True
        )
        self._proc.start()
        deadline = time.monotonic() + 30
        while not self._port.value:
            if time.monotonic() > deadline or not self._proc.is_alive():
                raise SystemExit("the Python receiver did not start")
            time.sleep(0.01)
        self.port: int = self._port.value

    def count(self) -> int:
        return int(self._count.value)

    def last(self) -> float:
        return float(self._last.value)

    def close(self) -> None:
        self._proc.terminate()
        self._proc.join(5)


class NodeReceiver(Counter):
    """``fluent_server.js`` (FluentServer from @fluent-org/logger): one stdout line a record."""

    def __init__(self) -> None:
        node = shutil.which("node")
        if node is None or not (NODE_SERVER.parent / "node_modules").is_dir():
            raise SystemExit("--receiver node needs node and tests/peers/install.sh")
        self._proc = subprocess.Popen(
            [node, str(NODE_SERVER), "--port", "0"], stdout=subprocess.PIPE, bufsize=0
        )
        assert self._proc.stdout is not None
        self._out = self._proc.stdout
        first = b""
        while not first.endswith(b"\n"):
            byte = self._out.read(1)
            if not byte:
                raise SystemExit("fluent_server.js did not start")
            first += byte
        self.port = int(json.loads(first)["port"])
        self._lines = 0
        self._last = 0.0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := self._out.read(1 << 20):
            self._last = time.monotonic()
            self._lines += chunk.count(b"\n")

    def count(self) -> int:
        return self._lines

    def last(self) -> float:
        return self._last

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait(5)


# -- the sidecar -------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _http(port: int, path: str) -> bytes | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
            body: bytes = answer.read()
            return body
    except OSError:
        return None


def _redactions(metrics_port: int) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    body = _http(metrics_port, "/metrics") or b""
    return sum(
        sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name == "sidecar_redactions_total"
    )


class Sidecar:
    """A ``python -m sidecar`` process: forward source -> forward sink to ``target``."""

    def __init__(
        self, root: Path, target: int, batch: int, workers: int, policy: Path | None
    ) -> None:
        root.mkdir(parents=True)
        self.port = _free_port()
        self.metrics_port = _free_port()
        config = root / "sidecar.toml"
        policy_line = f'policy = "{policy}"' if policy is not None else ""
        config.write_text(
            f"""
data_dir = "data"

[[sources]]
type = "forward"
name = "apps"
listen = "127.0.0.1:{self.port}"
batch_lines = {batch}

[[sinks]]
type = "forward"
name = "aggregator"
address = "127.0.0.1:{target}"
tag_prefix = "pci"
require_ack = true

[pipeline]
workers = {workers}
{policy_line}

[metrics]
listen = "127.0.0.1:{self.metrics_port}"
"""
        )
        env = dict(os.environ, SIDECAR_LOG_LEVEL="WARNING")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        self._stderr = (root / "stderr").open("wb")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "sidecar", "--config", str(config)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        self._root = root
        deadline = time.monotonic() + 60
        while _http(self.metrics_port, "/readyz") is None:
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"sidecar did not start: {self.stderr()}")
            time.sleep(0.05)

    def stderr(self) -> str:
        """The sidecar's log so far (its own lines; never record contents)."""
        return (self._root / "stderr").read_text(errors="replace")[-2000:]

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) the sidecar and its workers used so far; None off Linux."""
        total, stack = 0, [self._proc.pid]
        try:
            while stack:
                pid = stack.pop()
                stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(stat[11]) + int(stat[12])
                for task in Path(f"/proc/{pid}/task").iterdir():
                    stack += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            return None
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        """SIGTERM and wait."""
        self._proc.terminate()
        try:
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._stderr.close()


# -- main --------------------------------------------------------------------------------


def _timed(
    frames: Sequence[tuple[str, bytes]],
    port: int,
    receiver: Counter,
    opts: Any,
    sidecar: Sidecar | None = None,
) -> tuple[float, float | None]:
    """Send the corpus once; return (wall seconds, sidecar CPU seconds or None)."""
    target = receiver.count() + opts.lines
    cpu = sidecar.cpu_seconds() if sidecar is not None else None
    start = time.monotonic()
    send(port, frames, opts.window)
    end = receiver.wait(target, timeout=600)
    if sidecar is not None and cpu is not None:
        after = sidecar.cpu_seconds()
        cpu = after - cpu if after is not None else None
    return end - start, cpu


def _sidecar_run(
    root: Path,
    frames: Sequence[tuple[str, bytes]],
    receiver: Counter,
    opts: Any,
    policy: Path | None,
) -> tuple[float, float | None]:
    """Start a sidecar, time one pass through it, check its redaction count, stop it."""
    sidecar = Sidecar(root, receiver.port, opts.batch, opts.workers, policy)
    try:
        result = _timed(frames, sidecar.port, receiver, opts, sidecar)
        found = _redactions(sidecar.metrics_port)
    finally:
        sidecar.stop()
    if (found > 0) != (policy is None):
        raise SystemExit(f"{root.name}: sidecar_redactions_total is {found:.0f}")
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="records per frame")
    parser.add_argument("--window", type=int, default=1, help="unacked frames at most")
    parser.add_argument("--workers", type=int, default=0, help="[pipeline] workers")
    parser.add_argument("--reps", type=int, default=3, help="best of N per row")
    parser.add_argument("--receiver", choices=("python", "node"), default="python")
    opts = parser.parse_args(argv)

    corpus = generate(opts.lines)
    frames = pack_frames(records_of(corpus.lines), opts.batch)
    receiver: Counter = PythonReceiver() if opts.receiver == "python" else NodeReceiver()
    names = ("direct", "sidecar, redaction", "sidecar, no redaction")
    best: dict[str, tuple[float, float | None]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="forward-bench-") as tmp:
            root = Path(tmp)
            empty = root / "no-redaction.toml"
            empty.write_text("rules = []  # every kind off: parse and walk, redact nothing\n")
            for rep in range(opts.reps):  # interleaved, so machine noise hits every row
                runs = {
                    names[0]: _timed(frames, receiver.port, receiver, opts),
                    names[1]: _sidecar_run(root / f"r{rep}", frames, receiver, opts, None),
                    names[2]: _sidecar_run(root / f"n{rep}", frames, receiver, opts, empty),
                }
                for name, run in runs.items():
                    print(f"  rep {rep + 1}, {name}: {run[0]:.2f} s", file=sys.stderr)
                    best[name] = min(best.get(name, run), run, key=lambda r: r[0])
    finally:
        receiver.close()
    _report(opts, corpus.nbytes, sum(len(d) for _, d in frames), names, best)
    return 0


def _report(
    opts: Any,
    nbytes: int,
    wire: int,
    names: Sequence[str],
    best: dict[str, tuple[float, float | None]],
) -> None:
    rows = [
        Result(name, best[name][0], opts.lines / best[name][0], nbytes / best[name][0] / 1e6)
        for name in names
    ]
    print(
        f"corpus: {opts.lines} records, {nbytes / 1e6:.1f} MB of log text "
        f"({wire / 1e6:.1f} MB msgpack); frames of {opts.batch}, window {opts.window}, "
        f"workers {opts.workers}, receiver {opts.receiver}, best of {opts.reps}"
    )
    print(f"{'run':24} {'seconds':>8} {'lines/s':>10} {'MB/s':>7} {'sidecar CPU/record':>19}")
    for row in rows:
        cpu = best[row.name][1]
        per = f"{cpu / opts.lines * 1e6:.0f} us" if cpu is not None else "-"
        print(
            f"{row.name:24} {row.seconds:>8.2f} {row.lines_per_s:>10,.0f} "
            f"{row.mb_per_s:>7.1f} {per:>19}"
        )
    direct, red, plain = (row.lines_per_s for row in rows)
    print(f"with / without redaction: {red / plain:.2f}x")
    print(f"sidecar with redaction / direct: {red / direct:.2f}x")
    print(f"sidecar without redaction / direct: {plain / direct:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
