"""Tests of sidecar.sources.tail: following real files through rotation and truncation."""

from __future__ import annotations

import os
import shutil
import tracemalloc
from pathlib import Path

from sidecar.checkpoint import FileCheckpoint, Fingerprint
from sidecar.config import MultilineConfig
from sidecar.sources.tail import Tailer, TailOutput


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(tmp_path: Path, clock: Clock | None = None, **kw: object) -> Tailer:
    options: dict[str, object] = {"poll_s": 0.0, "linger_s": 60.0, "clock": clock or CLOCK}
    options.update(kw)
    return Tailer([str(tmp_path / "*.log")], **options)  # type: ignore[arg-type]


CLOCK = Clock()


def drain(tailer: Tailer, limit: int = 1000, clock: Clock = CLOCK) -> list[TailOutput]:
    """Poll until nothing comes, even after the 1 s idle flush; return what came."""
    out: list[TailOutput] = []
    for _ in range(50):
        got = tailer.poll(limit)
        if not got.texts:
            clock.now += 1.5
            got = tailer.poll(limit)
            if not got.texts:
                break
        out.append(got)
    return out


def texts(outputs: list[TailOutput]) -> list[str]:
    return [t for o in outputs for t in o.texts]


def offset(output: TailOutput) -> int | None:
    """The single checkpoint offset an output commits."""
    (checkpoint,) = output.updates.values()
    return checkpoint.offset if checkpoint is not None else None


def append(path: Path, data: str | bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)


class TestTailer:
    def test_reads_complete_lines_and_keeps_the_partial_one(self, tmp_path: Path) -> None:
        """A final line without a newline waits for it while following."""
        log = tmp_path / "app.log"
        log.write_text("a\nb\npart")
        tailer = make(tmp_path)
        first, second = drain(tailer)
        assert (first.texts, offset(first)) == (["a"], 2)
        assert (second.texts, offset(second)) == (["b"], 4)
        append(log, "ial\n")
        assert texts(drain(tailer)) == ["partial"]
        tailer.close()

    def test_pending_record_waits_for_idle_flush(self, tmp_path: Path) -> None:
        """The last record is handed out only after flush_ms without new bytes."""
        clock = Clock()
        (tmp_path / "app.log").write_text("a\n  b\n")
        tailer = make(tmp_path, clock, multiline=MultilineConfig(flush_ms=500))
        assert tailer.poll(10).texts == []
        clock.now += 0.4
        assert tailer.poll(10).texts == []
        clock.now += 0.2
        output = tailer.poll(10)
        assert output.texts == ["a\n  b"]
        assert offset(output) == 6 and output.nbytes == 6
        tailer.close()

    def test_once_mode_flushes_at_end_of_input(self, tmp_path: Path) -> None:
        """In once mode the pending record and the unterminated line come out at EOF."""
        (tmp_path / "app.log").write_text("a\n  b\nlast")
        tailer = make(tmp_path, once=True)
        assert texts(drain(tailer)) == ["a\n  b", "last"]
        assert tailer.exhausted
        tailer.close()

    def test_limit_bounds_each_poll(self, tmp_path: Path) -> None:
        """A poll returns at most ``limit`` records; the rest come on later polls."""
        (tmp_path / "app.log").write_text("".join(f"{i}\n" for i in range(10)))
        tailer = make(tmp_path, once=True)
        sizes = []
        while not tailer.exhausted:
            sizes.append(len(tailer.poll(3).texts))
        assert sizes[:4] == [3, 3, 3, 1]
        tailer.close()

    def test_read_from_end_skips_existing_but_not_new_files(self, tmp_path: Path) -> None:
        """Files found at startup start at their end; a file created later at its start."""
        old = tmp_path / "old.log"
        old.write_text("old 1\nold 2\n")
        tailer = make(tmp_path, read_from="end")
        assert drain(tailer) == []
        append(old, "old 3\n")
        (tmp_path / "new.log").write_text("new 1\n")
        assert sorted(texts(drain(tailer))) == ["new 1", "old 3"]
        tailer.close()

    def test_new_file_matching_the_glob_is_picked_up(self, tmp_path: Path) -> None:
        """A file that appears later is found on the next scan; others are ignored."""
        tailer = make(tmp_path)
        assert drain(tailer) == []
        (tmp_path / "later.log").write_text("hello\n")
        (tmp_path / "later.txt").write_text("ignored\n")
        (output,) = drain(tailer)
        assert output.texts == ["hello"]
        assert output.path == str(tmp_path / "later.log")
        tailer.close()

    def test_new_files_are_announced_with_their_start(self, tmp_path: Path) -> None:
        """A newly found file is reported with its starting point, to be saved at once."""
        (tmp_path / "app.log").write_text("x\n")
        tailer = make(tmp_path, read_from="end")
        assert [c.offset for c in tailer.start().values()] == [2]
        (tmp_path / "b.log").write_text("y\n")
        output = tailer.poll(10)
        assert [c.offset for c in output.opened.values()] == [0]
        assert output.texts == []

    def test_rename_rotation_while_writing(self, tmp_path: Path) -> None:
        """The renamed file is read to its end, late writes included, before the new one."""
        clock = Clock()
        log = tmp_path / "app.log"
        writer = open(log, "a")  # noqa: SIM115
        writer.write("1\n2\n")
        writer.flush()
        tailer = make(tmp_path, clock, linger_s=5.0)
        assert texts(drain(tailer, clock=clock)) == ["1", "2"]
        writer.write("3\n")
        writer.flush()
        os.rename(log, tmp_path / "app.log.1")
        writer.write("4\n")  # the writer has not reopened yet
        writer.flush()
        log.write_text("5\n6\n")
        assert texts(drain(tailer, clock=clock)) == ["3", "4", "5", "6"]
        writer.write("7\n")  # late, but within linger_s
        writer.close()
        assert texts(drain(tailer, clock=clock)) == ["7"]
        clock.now += 10
        closing = tailer.poll(100)
        assert closing.texts == [] and list(closing.updates.values()) == [None]
        append(log, "8\n")
        assert texts(drain(tailer, clock=clock)) == ["8"]
        tailer.close()

    def test_copytruncate_reads_the_missing_tail_from_the_copy(self, tmp_path: Path) -> None:
        """Lines written before the copy but not yet read come from the copy, then 0 again."""
        log = tmp_path / "app.log"
        log.write_text("".join(f"line {i}\n" for i in range(1, 4)))
        tailer = make(tmp_path)
        assert texts(drain(tailer)) == ["line 1", "line 2", "line 3"]
        append(log, "line 4\nline 5\n")
        shutil.copyfile(log, tmp_path / "app.log.1")
        os.truncate(log, 0)
        append(log, "new 1\n")
        copied = tailer.poll(1)
        assert copied.texts == ["line 4"] and offset(copied) == 28
        rest = tailer.poll(1)
        assert rest.texts == ["line 5"] and offset(rest) == 35
        restarted = tailer.poll(100)  # "new 1" waits for its idle flush
        assert restarted.texts == [] and offset(restarted) == 0
        CLOCK.now += 1.5
        fresh = tailer.poll(100)
        assert fresh.texts == ["new 1"] and offset(fresh) == 6
        (checkpoint,) = fresh.updates.values()
        assert checkpoint is not None and checkpoint.path == str(log)
        assert checkpoint.fingerprint == Fingerprint.of(b"new 1\n")
        tailer.close()

    def test_copytruncate_between_two_scans_is_not_read_as_new_lines(self, tmp_path: Path) -> None:
        """A file truncated and written past our offset before the next scan is caught.

        Reading on at the old offset would ship the middle of the new content as the
        rest of the old and lose the old tail (the rotation integration test saw it
        under load); the read notices the changed head and takes the tail from the copy.
        """
        log = tmp_path / "app.log"
        log.write_text("".join(f"old {i:03d}\n" for i in range(3)))
        tailer = make(tmp_path, poll_s=3600.0)  # no scan again during this test
        assert texts(drain(tailer)) == [f"old {i:03d}" for i in range(3)]
        append(log, "old 003\nold 004\n")
        shutil.copyfile(log, tmp_path / "app.log.1")
        os.truncate(log, 0)
        append(log, "".join(f"new {i:03d}\n" for i in range(20)))
        expected = ["old 003", "old 004", *(f"new {i:03d}" for i in range(20))]
        assert texts(drain(tailer)) == expected
        tailer.close()

    def test_truncation_without_a_copy_restarts_at_zero(self, tmp_path: Path) -> None:
        """With no copy to read from, the truncated file is read again from its start."""
        log = tmp_path / "app.log"
        log.write_text("aaaa\nbbbb\n")
        tailer = make(tmp_path)
        assert texts(drain(tailer)) == ["aaaa", "bbbb"]
        log.write_text("c\n")  # truncate + rewrite, shorter than our offset
        assert texts(drain(tailer)) == ["c"]
        tailer.close()

    def test_rewritten_head_is_noticed_even_when_longer(self, tmp_path: Path) -> None:
        """A file replaced in place by longer content is detected by its fingerprint."""
        log = tmp_path / "app.log"
        log.write_text("first\n")
        tailer = make(tmp_path)
        assert texts(drain(tailer)) == ["first"]
        with open(log, "r+") as handle:
            handle.write("other\nmore lines\n")
        assert texts(drain(tailer)) == ["other", "more lines"]
        tailer.close()

    def test_huge_line_is_replaced_without_being_held(self, tmp_path: Path) -> None:
        """A 10 MB line over a 1 KiB limit becomes a placeholder; memory stays small."""
        log = tmp_path / "app.log"
        with open(log, "wb") as handle:
            handle.write(b"before\n")
            for _ in range(10):
                handle.write(b"x" * (1024 * 1024))
            handle.write(b"\nafter\n")
        tailer = make(tmp_path, max_line_bytes=1024, chunk_bytes=256 * 1024)
        tracemalloc.start()
        try:
            outputs = drain(tailer)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert texts(outputs) == [
            "before",
            f"[oversized line: {10 * 1024 * 1024} bytes at offset 7 in {log}]",
            "after",
        ]
        assert sum(o.oversized for o in outputs) == 1
        assert peak < 2 * 1024 * 1024
        tailer.close()

    def test_invalid_utf8_is_flagged(self, tmp_path: Path) -> None:
        """Undecodable bytes are replaced and the record is flagged."""
        (tmp_path / "app.log").write_bytes(b"ok\nbad \xff\n")
        outputs = drain(make(tmp_path, once=True))
        assert texts(outputs) == ["ok", "bad \ufffd"]
        assert sum(o.invalid_utf8 for o in outputs) == 1

    def test_resumes_a_renamed_file_from_its_checkpoint(self, tmp_path: Path) -> None:
        """After a restart, the checkpointed inode is found under its new name."""
        log = tmp_path / "app.log"
        log.write_text("a\nb\n")
        st = log.stat()
        cp = FileCheckpoint(st.st_dev, st.st_ino, str(log), 2, Fingerprint.of(b"a\nb\n"))
        append(log, "c\n")
        os.rename(log, tmp_path / "app.log.1")
        log.write_text("d\n")
        tailer = make(tmp_path, checkpoints=[cp], read_from="end", once=True)
        assert texts(drain(tailer)) == ["b", "c", "d"]
        tailer.close()

    def test_resumes_a_rotated_symlink_target(self, tmp_path: Path) -> None:
        """Through a symlink (as in Kubernetes), the rotated target is found by its inode."""
        pods, links = tmp_path / "pods", tmp_path / "containers"
        pods.mkdir()
        links.mkdir()
        (pods / "0.log").write_text("a\nb\n")
        (links / "app.log").symlink_to(pods / "0.log")
        st = (pods / "0.log").stat()
        cp = FileCheckpoint(st.st_dev, st.st_ino, str(links / "app.log"), 2, Fingerprint.of(b"a\n"))
        append(pods / "0.log", "c\n")
        os.rename(pods / "0.log", pods / "0.log.1")
        (pods / "0.log").write_text("d\n")
        tailer = Tailer([str(links / "*.log")], checkpoints=[cp], once=True, clock=CLOCK)
        assert texts(drain(tailer)) == ["b", "c", "d"]
        tailer.close()

    def test_resumes_from_a_copy_after_copytruncate_while_down(self, tmp_path: Path) -> None:
        """A checkpointed file truncated while we were down is finished from its copy."""
        log = tmp_path / "app.log"
        log.write_text("a\nb\nc\n")
        st = log.stat()
        cp = FileCheckpoint(st.st_dev, st.st_ino, str(log), 2, Fingerprint.of(b"a\nb\nc\n"))
        shutil.copyfile(log, tmp_path / "app.log.1")
        os.truncate(log, 0)
        append(log, "new\n")
        tailer = make(tmp_path, checkpoints=[cp], once=True)
        assert texts(drain(tailer)) == ["b", "c", "new"]
        tailer.close()

    def test_reused_inode_is_not_resumed(self, tmp_path: Path) -> None:
        """Same inode, other head: the file is new and read from its start."""
        log = tmp_path / "app.log"
        log.write_text("fresh content\n")
        st = log.stat()
        cp = FileCheckpoint(st.st_dev, st.st_ino, str(log), 8, Fingerprint.of(b"old stuff\n"))
        tailer = make(tmp_path, checkpoints=[cp], once=True)
        assert texts(drain(tailer)) == ["fresh content"]
        tailer.close()

    def test_vanished_checkpointed_file_is_dropped(self, tmp_path: Path) -> None:
        """A checkpoint entry whose file is nowhere to be found is dropped."""
        cp = FileCheckpoint(1, 2, str(tmp_path / "gone.log"), 5, Fingerprint.of(b"zzzzz"))
        tailer = make(tmp_path, checkpoints=[cp])
        assert tailer.start() == {}
        assert tailer.sizes() == {}
