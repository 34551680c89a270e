"""Log rotation under a running sidecar: rename rotation and copytruncate lose no line.

The test plays both the application (an append-mode handle it keeps writing to, as a
logging handler does until told to reopen) and logrotate (renames, copies, truncates),
against a sidecar following ``logs/app.log`` with a short ``poll_ms``. The glob names
the live file only, as deployments should: a glob that also matched the rotated copies
would read them again as files of their own.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from tests.integration.sidecar.conftest import (
    Archive,
    SidecarFactory,
    base_config,
    free_port,
    seqs_of,
)


class App:
    """The application: numbered lines through an append-mode handle it reopens on demand."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seq = 0
        self.handle: BinaryIO = open(path, "ab")  # noqa: SIM115 - reopened on rotation

    def write(self, n: int) -> None:
        for _ in range(n):
            pad = "x" * (self.seq % 37)
            line = f"2026-01-01T00:00:00.000Z INFO rotation seq={self.seq} {pad}\n"
            self.handle.write(line.encode())
            self.seq += 1
        self.handle.flush()

    def reopen(self) -> None:
        self.handle.close()
        self.handle = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        self.handle.close()


def _shift(logs: Path, count: int) -> None:
    """logrotate's numbering: app.log.N -> app.log.N+1, highest first."""
    for n in range(count, 0, -1):
        old = logs / f"app.log.{n}"
        if old.exists():
            os.rename(old, logs / f"app.log.{n + 1}")


def test_rename_and_copytruncate_rotation_lose_nothing(
    workdir: Path,
    write_config: Callable[..., Path],
    sidecars: SidecarFactory,
    archive: Archive,
) -> None:
    """Every numbered line written across rename and copytruncate rotations is archived."""
    logs = workdir / "logs"
    port = free_port()
    source = {"paths": ["logs/app.log"], "poll_ms": 20, "batch_lines": 200}
    config = write_config(base_config(port, source=source))
    app = App(logs / "app.log")
    app.write(200)  # already there at start
    child = sidecars.start(config, port=port)
    child.wait_ready()

    def read_past(seq: int) -> None:
        """Wait until the sidecar has read line ``seq``, so it saw that file generation.

        Two rotations between two polls would hide a whole generation from any tailer
        (inherent to copytruncate); real rotations are minutes apart.
        """
        child.wait_metric("sidecar_source_records_total", seq + 1, source="app", fail=False)

    try:
        # /readyz answers before the source's first scan; a file renamed away before
        # that scan (with no checkpoint yet) is out of the glob's sight, so wait for it.
        read_past(0)
        app.write(300)

        # Rename rotation while the sidecar is likely still reading: the app keeps
        # writing to the renamed file until it reopens, then writes to the new one.
        os.rename(logs / "app.log", logs / "app.log.1")
        app.write(100)
        app.reopen()
        first = app.seq
        app.write(300)
        read_past(first)

        # copytruncate once the sidecar has caught up: the file shrinks under it.
        read_past(app.seq - 1)
        _shift(logs, 1)
        shutil.copyfile(logs / "app.log", logs / "app.log.1")
        os.truncate(logs / "app.log", 0)
        first = app.seq
        app.write(50)
        read_past(first)

        # copytruncate right after a burst: the sidecar is behind, must finish the
        # old content from the copy, and the file regrows past its old offset.
        app.write(3000)
        _shift(logs, 2)
        shutil.copyfile(logs / "app.log", logs / "app.log.1")
        os.truncate(logs / "app.log", 0)
        first = app.seq
        app.write(1500)
        read_past(first)

        # One more rename, then the app keeps writing to the new file.
        app.write(100)
        _shift(logs, 3)
        os.rename(logs / "app.log", logs / "app.log.1")
        app.reopen()
        app.write(150)
        child.wait_metric("sidecar_sink_records_total", app.seq, sink="archive", fail=False)
    finally:
        app.close()

    status, elapsed = child.stop(signal.SIGTERM)
    assert status == 0, child.stderr()
    assert elapsed < 8, f"SIGTERM took {elapsed:.1f}s"

    seqs = seqs_of(archive.records())
    counts = collections.Counter(seqs)
    missing = sorted(set(range(app.seq)) - set(counts))
    warnings = [line for line in child.stderr().splitlines() if " INFO " not in line]
    assert not missing, f"{len(missing)} of {app.seq} lines lost: {_ranges(missing)}; {warnings}"
    duplicates = len(seqs) - len(counts)
    print(f"rotation: {app.seq} lines, {duplicates} duplicates")


def _ranges(numbers: list[int]) -> str:
    """Compress sorted numbers into ``a-b`` ranges for a readable failure."""
    out: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}-{prev}" if prev != start else str(start))
        if n is not None:
            start = prev = n
    return ", ".join(out)
