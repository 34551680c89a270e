"""Crashes and signals: ``kill -9`` mid-stream loses nothing, SIGTERM/SIGINT exit cleanly.

A writer thread appends numbered lines (text and JSON, some with a test card) to
``logs/app.log`` while the sidecar follows it. Delivery is at-least-once: after any
number of ``kill -9`` and restarts every line must be in the archive, and duplicates are
bounded by what can be shipped but not yet checkpointed when the process dies. A
graceful stop (SIGTERM, SIGINT) flushes and checkpoints everything it shipped, so the
next start ships nothing twice.

With ``pipeline.workers`` set, a redaction worker may die on its own (the OOM killer
picks the biggest process) or with its group (systemd's default ``KillMode``, a
terminal's Ctrl-C): the batches it held must be replayed, never shipped as
``redaction_failed`` placeholders in place of the records, which would lose them.

The archive file a killed process was writing may end in a torn frame; the reader
reports it as a truncated tail after every complete batch, so the decrypt exit status
1 is accepted here as long as every complaint is a truncated tail.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.integration.sidecar.conftest import (
    TEST_PANS,
    Archive,
    SidecarFactory,
    base_config,
    free_port,
    seqs_of,
)

BATCH_LINES = 100
#: Batches a source may have in flight (the runner's queue depth).
IN_FLIGHT = 4


class Writer(threading.Thread):
    """Appends numbered lines, ``chunk`` every ``pause_s``, until stopped or ``limit``.

    The limit keeps the work (and so the test's time) fixed on a slow machine.
    """

    def __init__(
        self, path: Path, chunk: int = 20, pause_s: float = 0.01, limit: int = 10_000
    ) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.chunk = chunk
        self.pause_s = pause_s
        self.limit = limit
        self.seq = 0
        self._halt = threading.Event()

    def line(self, seq: int) -> str:
        if seq % 3 == 0:
            return f'{{"seq": {seq}, "level": "info", "msg": "order placed", "n": {seq * 7}}}'
        if seq % 97 == 5:
            return f"2026-01-01T00:00:00Z INFO pay seq={seq} card {TEST_PANS[seq % 4]} ok"
        return f"2026-01-01T00:00:00Z INFO api seq={seq} request served in {seq % 50} ms"

    def run(self) -> None:
        with open(self.path, "a", encoding="utf-8") as handle:
            while not self._halt.is_set() and self.seq < self.limit:
                lines = [self.line(self.seq + i) for i in range(self.chunk)]
                handle.write("\n".join(lines) + "\n")
                handle.flush()
                self.seq += self.chunk
                time.sleep(self.pause_s)

    def finish(self) -> int:
        """Stop writing; return how many lines were written."""
        self._halt.set()
        self.join(timeout=10)
        return self.seq


def _config(write_config: Callable[..., Path], port: int) -> Path:
    source = {"paths": ["logs/app.log"], "poll_ms": 20, "batch_lines": BATCH_LINES}
    return write_config(base_config(port, source=source))


def _tally(archive: Archive, written: int) -> tuple[int, list[int]]:
    """Decrypt the archive; return (duplicates, missing seqs)."""
    seqs = seqs_of(archive.records(allow_torn=True))
    counts = collections.Counter(seqs)
    assert set(counts) <= set(range(written)), "the archive holds lines never written"
    return len(seqs) - len(counts), sorted(set(range(written)) - set(counts))


def _drain(sidecars: SidecarFactory, config: Path) -> None:
    """Ship whatever is left with ``--once`` (flush, checkpoint, exit 0)."""
    done = sidecars.run("--config", str(config), "--once")
    assert done.returncode == 0, done.stderr.decode()


def test_kill_9_mid_stream_loses_nothing(
    workdir: Path,
    write_config: Callable[..., Path],
    sidecars: SidecarFactory,
    archive: Archive,
) -> None:
    """After repeated kill -9 and restarts every line is archived; duplicates are bounded."""
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    port = free_port()
    config = _config(write_config, port)
    writer = Writer(workdir / "logs" / "app.log", limit=30_000)  # writes until the loop ends
    writer.start()
    crashes = 4
    try:
        for _ in range(crashes):
            child = sidecars.start(config, port=port)
            child.wait_ready()
            # The writer ran on while the sidecar was down: kill it while it works
            # through that backlog, at a random point after its first shipment.
            child.wait_metric("sidecar_sink_records_total", 1, 5, fail=False, sink="archive")
            time.sleep(rng.uniform(0.0, 0.3))
            child.kill()
            assert child.proc.returncode == -signal.SIGKILL
    finally:
        written = writer.finish()
    _drain(sidecars, config)

    duplicates, missing = _tally(archive, written)
    print(f"kill -9 x{crashes} (seed {seed}): {written} lines, {duplicates} duplicates")
    assert not missing, f"seed {seed}: {len(missing)} lines lost, first {missing[:10]}"
    bound = BATCH_LINES * IN_FLIGHT * crashes
    assert duplicates <= bound, f"seed {seed}: {duplicates} duplicates > {bound}"


def test_sigterm_and_sigint_exit_0_and_checkpoint(
    workdir: Path,
    write_config: Callable[..., Path],
    sidecars: SidecarFactory,
    archive: Archive,
) -> None:
    """SIGTERM, then SIGINT after a restart, while lines stream in: exit 0, nothing twice."""
    port = free_port()
    config = _config(write_config, port)
    writer = Writer(workdir / "logs" / "app.log")
    writer.start()
    try:
        for signum in (signal.SIGTERM, signal.SIGINT):
            child = sidecars.start(config, port=port)
            child.wait_ready()
            child.wait_metric("sidecar_sink_records_total", 300, sink="archive")
            status, elapsed = child.stop(signum)
            name = signal.Signals(signum).name
            assert status == 0, f"{name}: {child.stderr()}"
            assert elapsed < 6, f"{name}: exit took {elapsed:.1f}s"
            assert "Traceback" not in child.stderr(), name
    finally:
        written = writer.finish()
    _drain(sidecars, config)

    duplicates, missing = _tally(archive, written)
    assert not missing, f"{len(missing)} lines lost, first {missing[:10]}"
    assert duplicates == 0, f"{duplicates} lines shipped twice after graceful stops"


def _backlog(path: Path, count: int) -> None:
    writer = Writer(path)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("".join(writer.line(seq) + "\n" for seq in range(count)))


#: Lines of the worker tests: five big batches, all read and submitted at once, so the
#: workers are busy with several of them when one dies, and the source has no more.
WORKER_BATCH = 5000
WORKER_LINES = 5 * WORKER_BATCH


def _worker_config(write_config: Callable[..., Path], port: int) -> Path:
    source = {"paths": ["logs/app.log"], "poll_ms": 20, "batch_lines": WORKER_BATCH}
    config = base_config(port, source=source)
    config["pipeline"]["workers"] = 2
    return write_config(config)


def test_kill_9_of_a_worker_process_loses_nothing(
    workdir: Path,
    write_config: Callable[..., Path],
    sidecars: SidecarFactory,
    archive: Archive,
) -> None:
    """A redaction worker killed mid-batch (the OOM killer) costs no line, only a replay."""
    lines = WORKER_LINES
    _backlog(workdir / "logs" / "app.log", lines)
    port = free_port()
    config = _worker_config(write_config, port)
    child = sidecars.start(config, port=port)
    child.wait_ready()
    # Kill as soon as records flow: the workers are busy with the backlog then.
    child.wait_metric("sidecar_sink_records_total", 1, sink="archive")
    workers = child.workers()
    assert len(workers) == 2, "expected two worker processes"
    os.kill(workers[0], signal.SIGKILL)
    # Recovering in place or exiting for a restart are both fine; losing lines is not.
    child.wait_metric("sidecar_sink_records_total", lines, 8, fail=False, sink="archive")
    status = child.proc.poll()
    if status is None:
        status, _ = child.stop(signal.SIGTERM)
    _drain(sidecars, config)

    records = archive.records(allow_torn=True)
    placeholders = sum(1 for r in records if r.get("sidecar_error"))
    _, missing = _tally(archive, lines)
    assert not missing, child.stderr()[-3000:] + (
        f"{len(missing)} lines lost (first {missing[:3]}), {placeholders} placeholders "
        f"shipped in their place; sidecar exit {status}"
    )


def test_sigterm_to_the_process_group_with_workers_exits_0(
    workdir: Path,
    write_config: Callable[..., Path],
    sidecars: SidecarFactory,
    archive: Archive,
) -> None:
    """SIGTERM to the whole group (systemd, Ctrl-C) mid-stream: exit 0 and no line lost."""
    lines = WORKER_LINES
    _backlog(workdir / "logs" / "app.log", lines)
    port = free_port()
    config = _worker_config(write_config, port)
    child = sidecars.start(config, port=port, new_session=True)
    child.wait_ready()
    child.wait_metric("sidecar_sink_records_total", 1, sink="archive")
    assert len(child.workers()) == 2
    start = time.monotonic()
    os.killpg(child.proc.pid, signal.SIGTERM)
    status = child.wait(10)
    elapsed = time.monotonic() - start
    _drain(sidecars, config)

    records = archive.records(allow_torn=True)
    placeholders = sum(1 for r in records if r.get("sidecar_error"))
    _, missing = _tally(archive, lines)
    assert not missing, child.stderr()[-3000:] + (
        f"{len(missing)} lines lost (first {missing[:3]}), {placeholders} placeholders "
        f"shipped in their place; sidecar exit {status}"
    )
    assert status == 0, f"exit {status} after {elapsed:.1f}s:\n{child.stderr()[-2000:]}"
    assert elapsed < 6


def test_sigterm_with_a_sink_stuck_exits_0_after_the_shutdown_timeout(
    workdir: Path,
    write_config: Callable[..., Path],
    sidecars: SidecarFactory,
) -> None:
    """A sink that cannot take more (aggregator down, buffer full) does not hang a stop.

    The batches stuck behind it are not checkpointed, so they replay on the next start:
    giving up on them after ``shutdown_timeout_s`` is a clean stop, exit 0, no traceback.
    """
    _backlog(workdir / "logs" / "app.log", 20_000)
    port = free_port()
    config = base_config(port)
    config["pipeline"]["shutdown_timeout_s"] = 2
    config["sinks"].append(
        {
            "type": "forward",
            "name": "aggregator",
            "address": f"127.0.0.1:{free_port()}",  # nothing listens there
            "buffer": {"max_bytes": 65536},
        }
    )
    child = sidecars.start(write_config(config), port=port)
    child.wait_ready()
    # The archive took the first batches; the full buffer now holds the pipeline up.
    child.wait_metric("sidecar_sink_records_total", 1, sink="archive")
    status, elapsed = child.stop(signal.SIGTERM, timeout=15)
    stderr = child.stderr()
    assert status == 0, f"exit {status}:\n{stderr[-2000:]}"
    assert "not delivered within 2s" in stderr
    assert "Traceback" not in stderr
    assert elapsed < 8
