"""Tests of sidecar.sources.file: batches, commits, restarts and rotation with real files."""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import threading
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest

from sidecar.checkpoint import CheckpointError
from sidecar.config import FileSourceConfig, MultilineConfig
from sidecar.record import SourceBatch
from sidecar.sources.file import FileSource


def settings(tmp_path: Path, **kw: object) -> FileSourceConfig:
    (tmp_path / "logs").mkdir(exist_ok=True)
    base = FileSourceConfig(
        name="app",
        paths=(str(tmp_path / "logs" / "*.log"),),
        poll_ms=10,
        multiline=MultilineConfig(flush_ms=30),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


async def commit(batch: SourceBatch) -> None:
    result = batch.commit()
    if inspect.isawaitable(result):
        await result


def run_once(config: FileSourceConfig, data: Path, commits: int | None = None) -> list[SourceBatch]:
    """Run a once-mode source; commit the first ``commits`` batches (all if None)."""

    async def main() -> list[SourceBatch]:
        out: list[SourceBatch] = []
        async for batch in FileSource(config, data, once=True).batches():
            if commits is None or len(out) < commits:
                await commit(batch)
            out.append(batch)
        return out

    return asyncio.run(main())


def texts(batches: list[SourceBatch]) -> list[str]:
    return [t for b in batches for t in b.texts]


def checkpoint(data: Path) -> list[dict[str, object]]:
    files: list[dict[str, object]] = json.loads((data / "checkpoints" / "app.json").read_text())[
        "files"
    ]
    return files


class TestFileSource:
    def test_once_reads_everything_in_bounded_batches(self, tmp_path: Path) -> None:
        """Once mode yields every line in batches of at most batch_lines, then ends."""
        log = tmp_path / "logs" / "app.log"
        config = settings(tmp_path, batch_lines=4)
        log.write_text("".join(f"line {i}\n" for i in range(10)) + "tail")
        batches = run_once(config, tmp_path / "data")
        assert texts(batches) == [f"line {i}" for i in range(10)] + ["tail"]
        assert [len(b.texts) for b in batches] == [4, 4, 3]
        assert sum(b.nbytes for b in batches) == log.stat().st_size
        assert {b.meta["path"] for b in batches} == {str(log)}
        assert {b.source for b in batches} == {"app"}

    def test_traceback_is_one_record(self, tmp_path: Path) -> None:
        """A logged Python traceback in a file arrives as one record."""
        lines = [
            "2024-05-01 ERROR failed",
            "Traceback (most recent call last):",
            '  File "app.py", line 3, in <module>',
            "    main()",
            "ValueError: nope",
        ]
        (tmp_path / "logs").mkdir()
        (tmp_path / "logs" / "app.log").write_text("\n".join([*lines, "2024-05-01 INFO ok"]))
        assert texts(run_once(settings(tmp_path), tmp_path / "data")) == [
            "\n".join(lines),
            "2024-05-01 INFO ok",
        ]

    def test_commits_resume_where_delivery_stopped(self, tmp_path: Path) -> None:
        """After everything was committed, a new run delivers only what was appended."""
        log = tmp_path / "logs" / "app.log"
        config = settings(tmp_path)
        log.write_text("a\nb\n")
        assert texts(run_once(config, tmp_path / "data")) == ["a", "b"]
        assert texts(run_once(config, tmp_path / "data")) == []
        with open(log, "a") as handle:
            handle.write("c\n")
        assert texts(run_once(config, tmp_path / "data")) == ["c"]
        assert checkpoint(tmp_path / "data")[0]["offset"] == 6

    def test_uncommitted_batches_are_delivered_again(self, tmp_path: Path) -> None:
        """Lines of batches that were never committed come again (at-least-once)."""
        config = settings(tmp_path, batch_lines=2)
        (tmp_path / "logs").mkdir(exist_ok=True)
        (tmp_path / "logs" / "app.log").write_text("1\n2\n3\n4\n5\n")
        first = run_once(config, tmp_path / "data", commits=1)
        assert texts(first) == ["1", "2", "3", "4", "5"]
        assert texts(run_once(config, tmp_path / "data")) == ["3", "4", "5"]

    def test_late_commit_of_an_earlier_batch_does_not_go_back(self, tmp_path: Path) -> None:
        """Committing batch 2 covers batch 1; batch 1's own commit afterwards is a no-op."""
        config = settings(tmp_path, batch_lines=1)
        (tmp_path / "logs" / "app.log").write_text("1\n2\n3\n")

        async def main() -> None:
            source = FileSource(config, tmp_path / "data", once=True)
            held: list[SourceBatch] = []
            async for batch in source.batches():
                held.append(batch)
            await commit(held[1])
            await commit(held[0])

        asyncio.run(main())
        assert checkpoint(tmp_path / "data")[0]["offset"] == 4

    def test_restart_after_rename_rotation_is_exactly_once(self, tmp_path: Path) -> None:
        """A new source finishes the renamed file from its checkpoint, then the new file."""
        logs, data = tmp_path / "logs", tmp_path / "data"
        config = settings(tmp_path, read_from="end")
        with open(logs / "app.log", "a") as writer:
            writer.write("a\nb\n")
            writer.flush()
            assert texts(run_once(replace(config, read_from="beginning"), data)) == ["a", "b"]
            writer.write("c\n")
            writer.flush()
            os.rename(logs / "app.log", logs / "app.log.1")
            writer.write("d\n")
        (logs / "app.log").write_text("e\n")
        assert texts(run_once(config, data)) == ["c", "d", "e"]
        entries = checkpoint(data)
        assert [(e["path"], e["offset"]) for e in entries] == [(str(logs / "app.log"), 2)]
        assert texts(run_once(config, data)) == []

    def test_read_from_end_position_survives_a_crash(self, tmp_path: Path) -> None:
        """A new file's end position is saved at once, so a crash cannot skip lines."""
        log = tmp_path / "logs" / "app.log"
        config = settings(tmp_path, read_from="end")
        log.write_text("old\n")
        assert texts(run_once(config, tmp_path / "data", commits=0)) == []
        with open(log, "a") as handle:
            handle.write("new\n")
        assert texts(run_once(config, tmp_path / "data", commits=0)) == ["new"]
        assert texts(run_once(config, tmp_path / "data")) == ["new"]

    def test_file_found_while_following_survives_a_crash(self, tmp_path: Path) -> None:
        """A file created after startup is saved at offset 0 at once, not on first commit."""
        logs, data = tmp_path / "logs", tmp_path / "data"
        config = settings(tmp_path, read_from="end")
        (logs / "a.log").write_text("old\n")

        async def main() -> list[str]:
            source = FileSource(config, data)
            asyncio.get_running_loop().call_later(0.1, (logs / "b.log").write_text, "b1\n")
            async for batch in source.batches():
                source.stop()  # "crash": never commit
                return batch.texts
            return []

        assert asyncio.run(asyncio.wait_for(main(), 10)) == ["b1"]
        assert texts(run_once(config, data)) == ["b1"]

    def test_closed_rotated_file_is_forgotten(self, tmp_path: Path) -> None:
        """A rotated file, once drained and closed, leaves the checkpoint without a batch."""
        logs, data = tmp_path / "logs", tmp_path / "data"
        config = settings(tmp_path)
        (logs / "app.log").write_text("a\n")

        async def main() -> list[dict[str, object]]:
            source = FileSource(config, data, linger_s=0.05)

            async def consume() -> None:
                async for batch in source.batches():
                    await commit(batch)
                    os.rename(logs / "app.log", logs / "app.log.1")

            task = asyncio.create_task(consume())
            entries: list[dict[str, object]] = [{}]
            for _ in range(300):
                await asyncio.sleep(0.01)
                if (data / "checkpoints" / "app.json").exists():
                    entries = checkpoint(data)
                if not entries:
                    break
            source.stop()
            await task
            return entries

        assert asyncio.run(asyncio.wait_for(main(), 10)) == []

    def test_counts_invalid_utf8_and_oversized_lines(self, tmp_path: Path) -> None:
        """Batches count replaced bytes and placeholders without carrying the content."""
        log = tmp_path / "logs" / "app.log"
        config = settings(tmp_path, max_line_bytes=1024)
        log.write_bytes(b"ok\nbad \xff\n" + b"S" * 5000 + b"\nend\n")
        batches = run_once(config, tmp_path / "data")
        assert sum(b.invalid_utf8 for b in batches) == 1
        assert sum(b.oversized for b in batches) == 1
        assert texts(batches)[2] == f"[oversized line: 5000 bytes at offset 9 in {log}]"

    def test_corrupt_checkpoint_is_an_error_unless_reset(self, tmp_path: Path) -> None:
        """A damaged checkpoint stops the source, naming the file; reset starts over."""
        config = settings(tmp_path)
        (tmp_path / "logs" / "app.log").write_text("a\n")
        store = tmp_path / "data" / "checkpoints" / "app.json"
        store.parent.mkdir(parents=True)
        store.write_text("{not json")
        with pytest.raises(CheckpointError, match=re.escape(str(store))):
            FileSource(config, tmp_path / "data")
        source = FileSource(config, tmp_path / "data", once=True, reset_checkpoint=True)

        async def main() -> list[str]:
            return [t async for b in source.batches() for t in b.texts]

        assert asyncio.run(main()) == ["a"]

    def test_follow_lag_new_files_and_stop(self, tmp_path: Path) -> None:
        """Following: lag drops on commit, a later file is picked up, stop() ends it."""
        logs = tmp_path / "logs"
        config = settings(tmp_path)
        (logs / "a.log").write_text("one\n")

        async def main() -> list[str]:
            source = FileSource(config, tmp_path / "data")
            seen: list[str] = []
            async for batch in source.batches():
                seen += batch.texts
                if seen == ["one"]:
                    assert source.lag_bytes() == 4
                    await commit(batch)
                    assert source.lag_bytes() == 0
                    (logs / "b.log").write_text("two\n")
                else:
                    source.stop()
            return seen

        assert asyncio.run(asyncio.wait_for(main(), 10)) == ["one", "two"]

    def test_stop_ends_an_idle_source_promptly(self, tmp_path: Path) -> None:
        """stop() wakes a source that is waiting for new lines."""
        config = settings(tmp_path, poll_ms=5000)

        async def main() -> float:
            source = FileSource(config, tmp_path / "data")
            loop = asyncio.get_running_loop()
            started = time.monotonic()
            loop.call_later(0.2, source.stop)
            async for _ in source.batches():
                pass
            return time.monotonic() - started

        assert asyncio.run(main()) < 2.0

    def test_rename_rotation_while_writing_delivers_each_line_once(self, tmp_path: Path) -> None:
        """A writer rotating by rename mid-stream loses and duplicates nothing."""
        logs = tmp_path / "logs"
        config = settings(tmp_path, batch_lines=50)
        total = 400

        def write() -> None:
            handle = open(logs / "app.log", "a")  # noqa: SIM115
            for i in range(total):
                handle.write(f"line {i}\n")
                handle.flush()
                if i == total // 2:
                    os.rename(logs / "app.log", logs / "app.log.1")
                    handle.write("late\n")
                    handle.flush()
                    handle.close()
                    handle = open(logs / "app.log", "a")  # noqa: SIM115
                if i % 50 == 0:
                    time.sleep(0.01)
            handle.close()

        async def main() -> list[SourceBatch]:
            source = FileSource(config, tmp_path / "data", linger_s=0.2)
            got: list[SourceBatch] = []
            writer = threading.Thread(target=write)
            writer.start()
            async for batch in source.batches():
                got.append(batch)
                await commit(batch)
                if len(texts(got)) >= total + 1:
                    source.stop()
            writer.join()
            return got

        batches = asyncio.run(asyncio.wait_for(main(), 15))
        expected = [f"line {i}" for i in range(total)] + ["late"]
        assert Counter(texts(batches)) == Counter(expected)
        per_file: dict[str, list[str]] = {}
        for batch in batches:
            per_file.setdefault(batch.meta["path"], []).extend(batch.texts)
        for lines in per_file.values():
            numbers = [int(t.split()[1]) for t in lines if t != "late"]
            assert numbers == sorted(numbers)
