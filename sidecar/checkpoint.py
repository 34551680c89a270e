"""Per-source checkpoints: which files a file source follows and how far it has shipped.

Theory of operation: a file is known by its device and inode number, which survive a
rename (``app.log`` → ``app.log.1``), plus a *fingerprint* of its head: the SHA-256 of
its first ``length`` bytes (``length`` is at most :data:`FINGERPRINT_BYTES`). The
fingerprint tells a renamed file apart from a new file that happens to reuse a freed
inode, and finds the copy ``logrotate copytruncate`` leaves behind (same head, another
inode). While a file is still shorter than :data:`FINGERPRINT_BYTES`, its fingerprint
covers fewer bytes and grows with the file; a longer fingerprint is always a prefix
extension of a shorter one, so a stored fingerprint is checked against exactly the
bytes it covers.

One JSON document per source lives in ``<data_dir>/checkpoints/<source>.json``::

    {"version": 1, "files": [{"dev": 2049, "ino": 1311, "path": "/var/log/app.log",
      "offset": 5120, "fingerprint": {"length": 1024, "sha256": "9f86…"}}]}

``offset`` is the byte offset just after the last record every sink has accepted;
after a crash reading resumes there (at-least-once). The file is replaced atomically:
written to a temporary file, fsynced, renamed over the old one, and the directory is
fsynced, so a crash leaves either the old or the new checkpoint, never a torn one.

A checkpoint that cannot be read or parsed is an error naming the file: silently
starting over would re-ship (or, with ``read_from = "end"``, skip) whole log files.
:meth:`CheckpointStore.reset` is the explicit way to start over.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sidecar.errors import SidecarError

__all__ = [
    "FINGERPRINT_BYTES",
    "CheckpointError",
    "CheckpointStore",
    "FileCheckpoint",
    "Fingerprint",
]

#: How much of a file's head identifies it. Enough to hold a few timestamped lines, so
#: two different log files rarely share it; small enough to hash on every poll.
FINGERPRINT_BYTES = 1024

_VERSION = 1


class CheckpointError(SidecarError):
    """A checkpoint file is unreadable, corrupt or cannot be written; names the file."""


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The SHA-256 of a file's first ``length`` bytes.

    Attributes:
        length: how many head bytes are covered (0 to :data:`FINGERPRINT_BYTES`).
        sha256: hex digest of those bytes.
    """

    length: int
    sha256: str

    @classmethod
    def of(cls, head: bytes) -> Fingerprint:
        """Fingerprint ``head``, cut to :data:`FINGERPRINT_BYTES`."""
        head = head[:FINGERPRINT_BYTES]
        return cls(len(head), hashlib.sha256(head).hexdigest())

    @classmethod
    def of_fd(cls, fd: int) -> Fingerprint:
        """Fingerprint the head of the open file ``fd`` (reads at offset 0, no seek).

        Raises:
            OSError: the file cannot be read.
        """
        return cls.of(os.pread(fd, FINGERPRINT_BYTES, 0))

    def matches_fd(self, fd: int) -> bool:
        """Whether the open file ``fd`` starts with the bytes this fingerprint covers.

        Raises:
            OSError: the file cannot be read.
        """
        head = os.pread(fd, self.length, 0) if self.length else b""
        return len(head) == self.length and hashlib.sha256(head).hexdigest() == self.sha256

    def matches_path(self, path: str) -> bool:
        """Like :meth:`matches_fd` for a path; False when it cannot be opened."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return False
        try:
            return self.matches_fd(fd)
        except OSError:
            return False
        finally:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class FileCheckpoint:
    """Where one followed file stands.

    Attributes:
        dev: ``st_dev`` of the file.
        ino: ``st_ino`` of the file.
        path: the path it was last seen under (rotation looks in its directory).
        offset: byte offset just after the last committed record.
        fingerprint: the file's head, to recognise it after a rename and to tell a
            reused inode apart.
    """

    dev: int
    ino: int
    path: str
    offset: int
    fingerprint: Fingerprint


class CheckpointStore:
    """Loads and atomically saves one source's checkpoint file.

    Args:
        path: the JSON file, usually ``<data_dir>/checkpoints/<source>.json``; its
            directory is created on the first save.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def for_source(cls, data_dir: Path, source: str) -> CheckpointStore:
        """The store of source ``source`` under ``data_dir``.

        Raises:
            CheckpointError: ``source`` is not a plain file name.
        """
        if not source or source in (".", "..") or "/" in source or "\\" in source:
            raise CheckpointError(f"source name {source!r} cannot name a checkpoint file")
        return cls(data_dir / "checkpoints" / f"{source}.json")

    def __repr__(self) -> str:
        return f"CheckpointStore({str(self.path)!r})"

    def load(self) -> tuple[FileCheckpoint, ...]:
        """Read the checkpoint; no file yet means no checkpoint (an empty tuple).

        Raises:
            CheckpointError: the file exists but is unreadable or not a valid
                checkpoint. The message names the file and suggests :meth:`reset`.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return ()
        except OSError as exc:
            raise self._corrupt(f"cannot read it ({exc.strerror})") from None
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise self._corrupt("it is not valid JSON") from None
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            raise self._corrupt(f"expected an object with version {_VERSION}")
        files = data.get("files")
        if not isinstance(files, list):
            raise self._corrupt("'files' is not a list")
        return tuple(self._entry(i, item) for i, item in enumerate(files))

    def save(self, files: Iterable[FileCheckpoint]) -> None:
        """Atomically replace the checkpoint with ``files``.

        Raises:
            CheckpointError: the directory or file cannot be written.
        """
        document = {
            "version": _VERSION,
            "files": [
                {
                    "dev": f.dev,
                    "ino": f.ino,
                    "path": f.path,
                    "offset": f.offset,
                    "fingerprint": {
                        "length": f.fingerprint.length,
                        "sha256": f.fingerprint.sha256,
                    },
                }
                for f in files
            ],
        }
        payload = json.dumps(document, separators=(",", ":")).encode()
        directory = self.path.parent
        tmp = directory / f".{self.path.name}.{os.getpid()}.tmp"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            _fsync_dir(directory)
        except OSError as exc:
            raise CheckpointError(
                f"{self.path}: cannot write checkpoint ({exc.strerror})"
            ) from None

    def reset(self) -> None:
        """Start over: delete the checkpoint, so every file is treated as new.

        Raises:
            CheckpointError: the file exists and cannot be removed.
        """
        try:
            self.path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise CheckpointError(f"{self.path}: cannot remove ({exc.strerror})") from None
        # The unlink happened; only its durability across a power cut is unsure.
        with contextlib.suppress(OSError):
            _fsync_dir(self.path.parent)

    def _corrupt(self, why: str) -> CheckpointError:
        return CheckpointError(
            f"{self.path}: corrupt checkpoint, {why}; fix or delete the file, "
            "or reset the source's checkpoint, to start over (files are re-read)"
        )

    def _entry(self, index: int, item: Any) -> FileCheckpoint:
        where = f"files[{index}]"
        if not isinstance(item, dict):
            raise self._corrupt(f"{where} is not an object")
        fp = item.get("fingerprint")
        if not isinstance(fp, dict):
            raise self._corrupt(f"{where}.fingerprint is not an object")
        for key in ("dev", "ino", "offset"):
            if not _natural(item.get(key)):
                raise self._corrupt(f"{where}.{key} is not a non-negative integer")
        length: Any = fp.get("length")
        digest: Any = fp.get("sha256")
        if not _natural(length) or length > FINGERPRINT_BYTES:
            raise self._corrupt(f"{where}.fingerprint.length is out of range")
        if not isinstance(digest, str) or len(digest) != 64:
            raise self._corrupt(f"{where}.fingerprint.sha256 is not a SHA-256 hex digest")
        try:
            bytes.fromhex(digest)
        except ValueError:
            raise self._corrupt(f"{where}.fingerprint.sha256 is not hex") from None
        path = item.get("path")
        if not isinstance(path, str) or not path:
            raise self._corrupt(f"{where}.path is not a path")
        return FileCheckpoint(
            dev=item["dev"],
            ino=item["ino"],
            path=path,
            offset=item["offset"],
            fingerprint=Fingerprint(length, digest),
        )


def _natural(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _fsync_dir(directory: Path) -> None:
    """Make a rename or unlink in ``directory`` durable (POSIX needs the directory fsynced)."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
