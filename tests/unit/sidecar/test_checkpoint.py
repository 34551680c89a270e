"""Tests of sidecar.checkpoint: fingerprints, atomic saves, corrupt files, reset."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sidecar.checkpoint import (
    FINGERPRINT_BYTES,
    CheckpointError,
    CheckpointStore,
    FileCheckpoint,
    Fingerprint,
)


def entry(offset: int = 10, path: str = "/var/log/app.log") -> FileCheckpoint:
    return FileCheckpoint(
        dev=2049, ino=1311, path=path, offset=offset, fingerprint=Fingerprint.of(b"head\n")
    )


class TestFingerprint:
    def test_covers_at_most_the_head(self) -> None:
        """Only the first FINGERPRINT_BYTES bytes count, so appending does not change it."""
        head = b"x" * FINGERPRINT_BYTES
        assert Fingerprint.of(head + b"more") == Fingerprint.of(head)
        assert Fingerprint.of(head).length == FINGERPRINT_BYTES

    def test_short_fingerprint_matches_the_grown_file(self, tmp_path: Path) -> None:
        """A fingerprint taken while the file was short still matches after it grew."""
        log = tmp_path / "a.log"
        log.write_bytes(b"first line\n")
        fp = Fingerprint.of(log.read_bytes())
        log.write_bytes(b"first line\nsecond line\n")
        assert fp.matches_path(str(log))

    def test_changed_or_shorter_head_does_not_match(self, tmp_path: Path) -> None:
        """A file with other head bytes, or too short to hold them, is another file."""
        log = tmp_path / "a.log"
        log.write_bytes(b"first line\n")
        fp = Fingerprint.of(b"first line\n")
        log.write_bytes(b"other line\n")
        assert not fp.matches_path(str(log))
        log.write_bytes(b"first")
        assert not fp.matches_path(str(log))
        assert not fp.matches_path(str(tmp_path / "missing.log"))

    def test_matches_an_open_descriptor(self, tmp_path: Path) -> None:
        """matches_fd reads the head without moving the descriptor's position."""
        log = tmp_path / "a.log"
        log.write_bytes(b"abc\ndef\n")
        fd = os.open(log, os.O_RDONLY)
        try:
            os.lseek(fd, 4, os.SEEK_SET)
            assert Fingerprint.of_fd(fd).matches_fd(fd)
            assert os.lseek(fd, 0, os.SEEK_CUR) == 4
        finally:
            os.close(fd)


class TestCheckpointStore:
    def test_missing_file_means_no_checkpoint(self, tmp_path: Path) -> None:
        """A source that never saved has no entries rather than an error."""
        assert CheckpointStore(tmp_path / "checkpoints" / "app.json").load() == ()

    def test_save_then_load_round_trips(self, tmp_path: Path) -> None:
        """Saved entries load back equal, and the directory is created on demand."""
        store = CheckpointStore.for_source(tmp_path, "app")
        files = (entry(10), entry(20, "/var/log/b.log"))
        store.save(files)
        assert store.path == tmp_path / "checkpoints" / "app.json"
        assert store.load() == files

    def test_save_replaces_without_leaving_temporary_files(self, tmp_path: Path) -> None:
        """A second save replaces the first and only the checkpoint file remains."""
        store = CheckpointStore.for_source(tmp_path, "app")
        store.save([entry(10)])
        store.save([entry(99)])
        assert store.load() == (entry(99),)
        assert os.listdir(tmp_path / "checkpoints") == ["app.json"]
        assert (store.path.stat().st_mode & 0o777) == 0o600

    def test_corrupt_json_is_an_error_naming_the_file(self, tmp_path: Path) -> None:
        """Garbage is reported with the file's path and is not silently reset."""
        store = CheckpointStore.for_source(tmp_path, "app")
        store.path.parent.mkdir(parents=True)
        store.path.write_bytes(b'{"version": 1, "files": [')
        with pytest.raises(CheckpointError, match=r"app\.json.*not valid JSON"):
            store.load()
        assert store.path.exists()

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"offset": -1}, r"files\[0\]\.offset"),
            ({"dev": "2049"}, r"files\[0\]\.dev"),
            ({"path": ""}, r"files\[0\]\.path"),
            ({"fingerprint": {"length": 5, "sha256": "zz" * 32}}, "not hex"),
            ({"fingerprint": {"length": 5000, "sha256": "00" * 32}}, "length"),
            ({"fingerprint": None}, "fingerprint"),
        ],
    )
    def test_invalid_fields_name_the_field(
        self, tmp_path: Path, change: dict[str, object], message: str
    ) -> None:
        """Each malformed field is reported by its position in the file."""
        store = CheckpointStore.for_source(tmp_path, "app")
        store.save([entry()])
        document = json.loads(store.path.read_text())
        document["files"][0].update(change)
        store.path.write_text(json.dumps(document))
        with pytest.raises(CheckpointError, match=message):
            store.load()

    def test_wrong_version_is_an_error(self, tmp_path: Path) -> None:
        """A checkpoint from an unknown format version is not guessed at."""
        store = CheckpointStore.for_source(tmp_path, "app")
        store.path.parent.mkdir(parents=True)
        store.path.write_text('{"version": 7, "files": []}')
        with pytest.raises(CheckpointError, match="version"):
            store.load()

    def test_unreadable_path_is_an_error(self, tmp_path: Path) -> None:
        """A path that cannot be read as a file (here a directory) is an error."""
        store = CheckpointStore.for_source(tmp_path, "app")
        store.path.mkdir(parents=True)
        with pytest.raises(CheckpointError, match="cannot read"):
            store.load()

    def test_reset_starts_over(self, tmp_path: Path) -> None:
        """reset removes even a corrupt checkpoint, and is harmless when there is none."""
        store = CheckpointStore.for_source(tmp_path, "app")
        store.path.parent.mkdir(parents=True)
        store.path.write_bytes(b"\x00garbage")
        store.reset()
        assert store.load() == ()
        store.reset()

    def test_source_name_cannot_escape_the_directory(self, tmp_path: Path) -> None:
        """A source name with a path separator is refused instead of writing elsewhere."""
        with pytest.raises(CheckpointError):
            CheckpointStore.for_source(tmp_path, "../etc")
