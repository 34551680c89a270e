"""The disk buffer matches an in-memory FIFO under random append/peek/ack/restart/crash runs.

The model is a list of batches. ``append`` adds one, ``peek`` must return the first,
``ack`` removes it; a graceful restart keeps everything unacked; a crash in the middle
of an ``append`` (simulated by cutting the segment that append grew anywhere inside
the bytes it added, then reopening) must look as if that append never happened, since
it never returned and so no source advanced past it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from sidecar.archive.keys import ArchiveKey
from sidecar.buffer import BatchToken, DiskBuffer
from sidecar.record import Shipped

KEY = ArchiveKey.from_bytes(bytes(range(32)))
#: tmpfs where there is one: every append fsyncs, and on a disk that would make each
#: example cost a second. The crashes here are simulated by truncation, not by power loss.
FAST_TMP = "/dev/shm" if os.path.isdir("/dev/shm") else None

records_st = st.lists(
    st.builds(
        Shipped,
        tier=st.sampled_from(["application", "error", "audit"]),
        day=st.just("2024-05-01"),
        line=st.binary(max_size=30),
    ),
    min_size=1,
    max_size=4,
)


class BufferModel(RuleBasedStateMachine):
    key: ArchiveKey | None = None

    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="buffer-model-", dir=FAST_TMP))
        self.loop = asyncio.new_event_loop()
        self.model: list[list[Shipped]] = []
        self.token: BatchToken | None = None
        self.buffer = self.open()

    def open(self) -> DiskBuffer:
        # Tiny segments, so runs cross segment boundaries and delete segments often.
        return DiskBuffer(self.dir, 1 << 30, self.key, segment_bytes=160)

    def run(self, coro):
        return self.loop.run_until_complete(asyncio.wait_for(coro, 5))

    def segments(self) -> list[Path]:
        return sorted(self.dir.glob("*.seg"))

    @rule(records=records_st)
    def append(self, records):
        self.run(self.buffer.append(records))
        self.model.append(list(records))

    @precondition(lambda self: self.model)
    @rule()
    def peek(self):
        token, records = self.run(self.buffer.peek())
        assert records == self.model[0]
        if self.token is not None:
            assert token == self.token, "peek without ack must return the same batch"
        self.token = token

    @precondition(lambda self: not self.model)
    @rule()
    def peek_waits_when_empty(self):
        async def attempt():
            try:
                await asyncio.wait_for(self.buffer.peek(), 0.002)
            except asyncio.TimeoutError:
                return True
            return False

        assert self.loop.run_until_complete(attempt())

    @precondition(lambda self: self.token is not None)
    @rule()
    def ack(self):
        self.buffer.ack(self.token)
        self.token = None
        self.model.pop(0)

    @rule()
    def restart(self):
        self.buffer.close()
        self.buffer = self.open()
        self.token = None

    @rule(records=records_st, cut=st.integers(min_value=1))
    def crash_during_append(self, records, cut):
        before = {p: p.stat().st_size for p in self.segments()}
        self.run(self.buffer.append(records))
        newest = self.segments()[-1]
        grown = newest.stat().st_size - before.get(newest, 0)
        assert grown > 0
        self.buffer.close()  # kill -9: no cleanup beyond the kernel closing the files
        os.truncate(newest, newest.stat().st_size - (cut % grown + 1))
        self.buffer = self.open()
        self.token = None
        # Zero only if the cut fell exactly on the frame's start: then nothing is torn.
        assert self.buffer.torn <= 1

    @invariant()
    def counts_match(self):
        assert self.buffer.records == sum(len(b) for b in self.model)
        assert self.buffer.batches == len(self.model)
        assert (self.buffer.nbytes > 0) == bool(self.model)

    @invariant()
    def nothing_left_on_disk_when_empty(self):
        if not self.model:
            assert self.segments() == []

    def teardown(self) -> None:
        self.buffer.close()
        self.loop.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class EncryptedBufferModel(BufferModel):
    key = KEY


_settings = settings(max_examples=25, stateful_step_count=25, deadline=None)
TestBufferModel = BufferModel.TestCase
TestBufferModel.settings = _settings
TestBufferModel.__doc__ = "A plaintext disk buffer behaves as the in-memory FIFO model."
TestEncryptedBufferModel = EncryptedBufferModel.TestCase
TestEncryptedBufferModel.settings = _settings
TestEncryptedBufferModel.__doc__ = "An encrypted disk buffer behaves as the in-memory FIFO model."
