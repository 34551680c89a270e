"""The disk buffer's consumer position, persisted in two alternating checksummed slots.

Theory of operation: the position is :class:`AckState`, *(segment, batches acked in
it)*. Each update overwrites the older of two 32-byte slots in place and fdatasyncs;
a torn write can only damage the slot being written, whose checksum then fails, so a
reader falls back to the other slot: one batch earlier, a duplicate delivery, never a
lost one. This costs one small write and one fdatasync per acknowledged batch, and no
rename or directory sync.

Slot layout (big-endian): ``"BACK" | generation u64 | segment u64 | acked u64 |
crc32 of the preceding 28 bytes``. The valid slot with the higher generation wins; no
valid slot means nothing was ever acknowledged.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from sidecar.buffer._segment import Guarded

__all__ = ["AckFile", "AckState"]

_ACK_SLOT = struct.Struct(">4sQQQI")
_ACK_MAGIC = b"BACK"


@dataclass(frozen=True, slots=True)
class AckState:
    """How far the consumer got: ``acked`` batches of segment ``segment`` are done.

    Every segment numbered below ``segment`` is done entirely; every one above it is
    untouched.
    """

    segment: int = 0
    acked: int = 0


class AckFile(Guarded):
    """The persisted :class:`AckState` of one buffer (see the module docstring).

    Args:
        path: the ack file; created empty if missing.
    """

    def __init__(self, path: Path) -> None:
        super().__init__(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        self._generation = 0
        self.state = AckState()
        data = os.pread(self._fd, 2 * _ACK_SLOT.size, 0)
        best: tuple[int, AckState] | None = None
        for i in range(2):
            slot = data[i * _ACK_SLOT.size : (i + 1) * _ACK_SLOT.size]
            if len(slot) < _ACK_SLOT.size:
                continue
            magic, gen, segment, acked, crc = _ACK_SLOT.unpack(slot)
            if magic != _ACK_MAGIC or zlib.crc32(slot[:-4]) != crc:
                continue
            if best is None or gen > best[0]:
                best = (gen, AckState(segment, acked))
        if best is not None:
            self._generation, self.state = best

    def save(self, state: AckState) -> None:
        """Persist ``state`` (fdatasync'd before returning).

        Raises:
            OSError: the write failed; the previous state stays readable.
        """
        with self._lock:
            fd = self._check()
            gen = self._generation + 1
            body = _ACK_SLOT.pack(_ACK_MAGIC, gen, state.segment, state.acked, 0)[:-4]
            slot = body + zlib.crc32(body).to_bytes(4, "big")
            os.pwrite(fd, slot, (gen % 2) * _ACK_SLOT.size)
            if hasattr(os, "fdatasync"):
                os.fdatasync(fd)
            else:  # pragma: no cover - macOS
                os.fsync(fd)
            self._generation = gen
            self.state = state
