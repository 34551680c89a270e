"""The file sink: layout, durability, encryption, rotation, restarts and purging."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from sidecar.archive.format import TruncatedTailError
from sidecar.archive.keys import ArchiveKey
from sidecar.archive.purge import purge
from sidecar.archive.reader import iter_lines
from sidecar.config import FileSinkConfig
from sidecar.errors import SinkError
from sidecar.record import Shipped
from sidecar.sinks import file as file_sink
from sidecar.sinks.file import ArchiveSink

KEY = ArchiveKey.from_bytes(bytes(range(32)))
RING = {KEY.key_id: KEY}
TIERS = {"application": 30, "audit": 365, "short": 1}
START = datetime(2024, 5, 1, 12, 30, 45, tzinfo=timezone.utc)
NAME = re.compile(r"20240501T123045Z-(\d+)-(\d{6})\.jsonl\.gz(\.enc)?")


def rec(n: int, tier: str = "application", day: str = "2024-05-01") -> Shipped:
    return Shipped(tier=tier, day=day, line=json.dumps({"n": n, "card": "[card]"}).encode())


def sink(tmp_path: Path, key: ArchiveKey | None = None, **kw) -> ArchiveSink:
    config = FileSinkConfig(path=tmp_path / "archive", **kw)
    return ArchiveSink(config, TIERS, key, clock=lambda: START)


def files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def read_all(paths, ring=None) -> list[bytes]:
    return [line for path in paths for line in iter_lines(path, ring)]


class TestLayout:
    def test_tier_day_folders_and_names(self, tmp_path):
        """Records land in <tier>/<day>/ files named <start>-<pid>-<seq>.jsonl.gz."""
        s = sink(tmp_path)
        records = [rec(1), rec(2, "audit"), rec(3, day="2024-05-02"), rec(4)]
        asyncio.run(s.write(records))
        asyncio.run(s.close())
        root = tmp_path / "archive"
        by_folder = {p.parent.relative_to(root).as_posix(): p for p in files(root)}
        assert sorted(by_folder) == ["application/2024-05-01", "application/2024-05-02",
                                     "audit/2024-05-01"]  # fmt: skip
        for path in by_folder.values():
            match = NAME.fullmatch(path.name)
            assert match and int(match.group(1)) == os.getpid() and not match.group(3)
        first = by_folder["application/2024-05-01"]
        assert list(iter_lines(first)) == [records[0].line, records[3].line]

    def test_permissions(self, tmp_path):
        """Files are created 0o600 and folders 0o700, whatever the umask allows beyond."""
        old = os.umask(0)
        try:
            s = sink(tmp_path)
            asyncio.run(s.write([rec(1)]))
            asyncio.run(s.close())
        finally:
            os.umask(old)
        root = tmp_path / "archive"
        for path in [root, *root.rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode == (0o600 if path.is_file() else 0o700), path


class TestDurability:
    def test_readable_by_another_process_before_close(self, tmp_path):
        """After write returns, another process reads every record, the sink still open."""
        s = sink(tmp_path, KEY)

        async def scenario() -> str:
            await s.write([rec(1), rec(2)])
            await s.write([rec(3)])
            path = files(tmp_path / "archive")[0]
            code = (
                "import sys; from sidecar.archive import ArchiveKey, iter_lines;"
                "k = ArchiveKey.from_bytes(bytes(range(32)));"
                "[print(l.decode()) for l in iter_lines(sys.argv[1], {k.key_id: k})]"
            )
            out = subprocess.run(
                [sys.executable, "-c", code, str(path)],
                capture_output=True,
                check=True,
                cwd=Path(__file__).resolve().parents[3],
                timeout=30,
            )
            await s.close()
            return out.stdout.decode()

        assert scenario_lines(asyncio.run(scenario())) == [rec(n).line for n in (1, 2, 3)]

    def test_restart_never_appends_to_old_files(self, tmp_path):
        """A new sink (same second, same pid) starts new files; a torn old tail stays there."""
        first = sink(tmp_path, KEY)
        asyncio.run(first.write([rec(1)]))
        asyncio.run(first.write([rec(2)]))
        old = files(tmp_path / "archive")[0]
        with open(old, "r+b") as f:  # simulate a crash mid-append of the second batch
            f.truncate(old.stat().st_size - 7)
        second = sink(tmp_path, KEY)
        asyncio.run(second.write([rec(3)]))
        asyncio.run(second.close())
        asyncio.run(first.close())
        paths = files(tmp_path / "archive")
        assert len(paths) == 2 and paths[0] == old
        got = []
        with pytest.raises(TruncatedTailError):
            for line in iter_lines(old, RING):
                got.append(line)
        assert got == [rec(1).line]
        assert list(iter_lines(paths[1], RING)) == [rec(3).line]


def scenario_lines(text: str) -> list[bytes]:
    return [line.encode() for line in text.splitlines()]


class TestEncryption:
    def test_encrypted_file_holds_no_plaintext(self, tmp_path):
        """With a key, files end in .enc, decrypt with the key and contain no record text."""
        marker = "Zq9-unique-marker-4711"
        records = [Shipped("application", "2024-05-01", f'{{"m":"{marker}-{i}"}}'.encode())
                   for i in range(50)]  # fmt: skip
        s = sink(tmp_path, KEY)
        asyncio.run(s.write(records))
        asyncio.run(s.close())
        [path] = files(tmp_path / "archive")
        assert path.name.endswith(".jsonl.gz.enc")
        raw = path.read_bytes()
        assert marker.encode() not in raw and b'"m"' not in raw
        assert list(iter_lines(path, RING)) == [r.line for r in records]


class TestRotation:
    def test_new_file_past_max_file_bytes(self, tmp_path):
        """Past max_file_bytes a new file starts; files in name order hold every record."""
        records = [Shipped("application", "2024-05-01",
                           json.dumps({"r": os.urandom(400).hex()}).encode())
                   for _ in range(30)]  # fmt: skip
        s = sink(tmp_path, KEY, max_file_bytes=4096)
        for i in range(0, 30, 3):
            asyncio.run(s.write(records[i : i + 3]))
        asyncio.run(s.close())
        paths = files(tmp_path / "archive")
        assert len(paths) > 3
        for path in paths[:-1]:
            assert path.stat().st_size <= 4096 or len(list(iter_lines(path, RING))) == 3
        assert read_all(paths, RING) == [r.line for r in records]

    def test_large_group_split_into_batches(self, tmp_path, monkeypatch):
        """A group past BATCH_BYTES is written as several members that read back in order."""
        monkeypatch.setattr(file_sink, "BATCH_BYTES", 1000)
        records = [rec(i) for i in range(200)]
        s = sink(tmp_path)
        asyncio.run(s.write(records))
        asyncio.run(s.close())
        [path] = files(tmp_path / "archive")
        assert path.read_bytes().count(b"\x1f\x8b\x08") > 5
        assert list(iter_lines(path)) == [r.line for r in records]


class TestErrors:
    def test_unknown_tier_refused(self, tmp_path):
        """A record of an unconfigured tier raises SinkError and writes nothing."""
        s = sink(tmp_path)
        with pytest.raises(SinkError, match="'retired' is not configured"):
            asyncio.run(s.write([rec(1), rec(2, tier="retired")]))
        assert not (tmp_path / "archive").exists()

    @pytest.mark.parametrize("day", ["../../etc", "2024-5-1", "2024-02-30", ""])
    def test_bad_day_refused(self, tmp_path, day):
        """A day that is not YYYY-MM-DD (e.g. a path) raises SinkError without echoing it."""
        with pytest.raises(SinkError, match="YYYY-MM-DD") as info:
            asyncio.run(sink(tmp_path).write([rec(1, day=day)]))
        assert not day or day not in str(info.value)

    def test_newline_in_record_refused_without_content(self, tmp_path):
        """A record containing a newline is refused; the message holds no record text."""
        bad = Shipped("application", "2024-05-01", b'{"pan":"4111"}\n{"x":1}')
        with pytest.raises(SinkError) as info:
            asyncio.run(sink(tmp_path).write([rec(1), bad]))
        assert "4111" not in str(info.value)
        assert not (tmp_path / "archive").exists()  # nothing of the batch was written

    def test_frame_cap_refused_before_writing(self, tmp_path, monkeypatch):
        """A batch too large for one encrypted frame raises SinkError and writes nothing."""
        monkeypatch.setattr(file_sink, "MAX_PLAINTEXT_BYTES", 64)
        big = Shipped("application", "2024-05-01", os.urandom(100).hex().encode())
        with pytest.raises(SinkError, match="frame size cap"):
            asyncio.run(sink(tmp_path, KEY).write([big]))
        assert not (tmp_path / "archive").exists()

    def test_io_error_becomes_sink_error(self, tmp_path):
        """An archive path under a regular file fails with SinkError naming the path only."""
        (tmp_path / "archive").write_bytes(b"a file, not a folder")
        with pytest.raises(SinkError, match="cannot write") as info:
            asyncio.run(sink(tmp_path).write([rec(1)]))
        assert '"n"' not in str(info.value)

    def test_write_after_close(self, tmp_path):
        """Writing after close raises SinkError."""
        s = sink(tmp_path)
        asyncio.run(s.close())
        with pytest.raises(SinkError, match="after close"):
            asyncio.run(s.write([rec(1)]))


class TestPurge:
    def test_purge_now_removes_expired_and_closes_files(self, tmp_path):
        """purge_now removes expired folders (open ones too); later writes still land."""
        s = sink(tmp_path)
        asyncio.run(s.write([rec(1, "short", "2024-05-01"), rec(2, "application")]))
        removed = asyncio.run(s.purge_now(date(2024, 5, 2)))
        root = tmp_path / "archive"
        assert removed == [root / "short" / "2024-05-01"]
        asyncio.run(s.write([rec(3, "short", "2024-05-02"), rec(4, "application")]))
        asyncio.run(s.close())
        assert read_all(files(root / "application")) == [rec(2).line, rec(4).line]
        assert read_all(files(root / "short")) == [rec(3, "short").line]

    def test_external_purge_of_an_open_file(self, tmp_path):
        """If the folder of an open file is purged by another process, the next write
        recreates it instead of writing into the unlinked file."""
        s = sink(tmp_path)
        asyncio.run(s.write([rec(1, "short")]))
        root = tmp_path / "archive"
        assert purge(root, TIERS, date(2024, 5, 2)) == [root / "short" / "2024-05-01"]
        asyncio.run(s.write([rec(2, "short")]))
        asyncio.run(s.close())
        assert read_all(files(root)) == [rec(2, "short").line]

    def test_purge_loop_purges_at_start(self, tmp_path):
        """purge_loop purges immediately, then sleeps until cancelled."""
        old = tmp_path / "archive" / "application" / "2000-01-01"
        old.mkdir(parents=True)
        s = sink(tmp_path, purge_interval_s=3600.0)

        async def scenario() -> None:
            task = asyncio.create_task(s.purge_loop())
            for _ in range(200):
                await asyncio.sleep(0.01)
                if not old.exists():
                    break
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(scenario())
        assert not old.exists()
