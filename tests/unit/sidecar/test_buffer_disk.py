"""The disk buffer: order, acks, restarts, torn tails, encryption, backpressure, kill -9."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sidecar.archive.keys import ArchiveKey
from sidecar.buffer import DiskBuffer
from sidecar.errors import SinkError
from sidecar.metrics import Metrics
from sidecar.record import Shipped

KEY = ArchiveKey.from_bytes(bytes(range(32)))
REPO = Path(__file__).resolve().parents[3]


def rec(n: int, tier: str = "application") -> Shipped:
    return Shipped(tier, "2024-05-01", json.dumps({"n": n, "card": "[card]"}).encode())


def numbers(records: list[Shipped]) -> list[int]:
    return [json.loads(r.line)["n"] for r in records]


def flat(batches: list[list[int]]) -> list[int]:
    return [n for batch in batches for n in batch]


def run(coro, timeout: float = 5.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def drain_all(buffer: DiskBuffer) -> list[list[int]]:
    """Peek and ack until empty; return the batches' record numbers."""
    out = []
    while buffer.records:
        token, records = await buffer.peek()
        out.append(numbers(records))
        buffer.ack(token)
    return out


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.seg"))


def metric(metrics: Metrics, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    raise AssertionError(f"no sample {name} {labels}")


class TestAppendPeekAck:
    def test_batches_come_back_in_order_and_acks_delete_segments(self, tmp_path):
        """Batches are peeked in append order; acking all of them deletes every segment."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, None)
            await buffer.append([rec(1), rec(2)])
            await buffer.append([rec(3)])
            assert (buffer.records, buffer.batches) == (3, 2)
            got = await drain_all(buffer)
            buffer.close()
            return got

        assert run(scenario()) == [[1, 2], [3]]
        assert segments(tmp_path) == []

    def test_peek_repeats_until_ack(self, tmp_path):
        """Without an ack, peek returns the same batch again."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, None)
            await buffer.append([rec(1)])
            await buffer.append([rec(2)])
            first = await buffer.peek()
            again = await buffer.peek()
            buffer.close()
            return first, again

        first, again = run(scenario())
        assert first == again

    def test_peek_waits_for_an_append(self, tmp_path):
        """peek blocks on an empty buffer and returns as soon as a batch is appended."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, None)
            waiter = asyncio.ensure_future(buffer.peek())
            await asyncio.sleep(0.05)
            assert not waiter.done()
            await buffer.append([rec(7)])
            _, records = await asyncio.wait_for(waiter, 2)
            buffer.close()
            return numbers(records)

        assert run(scenario()) == [7]

    def test_ack_of_another_batch_is_refused(self, tmp_path):
        """ack() with a token other than the last peek's raises ValueError."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, None)
            await buffer.append([rec(1)])
            await buffer.append([rec(2)])
            token, _ = await buffer.peek()
            buffer.ack(token)
            with pytest.raises(ValueError):
                buffer.ack(token)
            buffer.close()

        run(scenario())

    def test_large_append_is_split_into_batches(self, tmp_path):
        """An append larger than batch_bytes becomes several batches, in order."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, None, batch_bytes=100)
            await buffer.append([rec(n) for n in range(10)])
            got = await drain_all(buffer)
            buffer.close()
            return got

        got = run(scenario())
        assert len(got) > 1
        assert flat(got) == list(range(10))


class TestRestart:
    def test_reopen_resumes_at_the_first_unacked_batch(self, tmp_path):
        """After a restart the acked batches are gone and the others come back in order."""

        async def first_run():
            buffer = DiskBuffer(tmp_path, 1 << 20, None, segment_bytes=150)
            for n in range(6):
                await buffer.append([rec(n)])
            for _ in range(4):  # the first segments finish, the 4th is half acked
                token, _ = await buffer.peek()
                buffer.ack(token)
            buffer.close()

        async def second_run():
            buffer = DiskBuffer(tmp_path, 1 << 20, None, segment_bytes=150)
            got = await drain_all(buffer)
            buffer.close()
            return got

        run(first_run())
        assert run(second_run()) == [[4], [5]]

    def test_new_segments_are_numbered_past_the_ack_position(self, tmp_path):
        """A batch appended after everything was acked and deleted survives a restart."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, None)
            await buffer.append([rec(1)])
            await buffer.append([rec(2)])
            token, _ = await buffer.peek()
            buffer.ack(token)  # persists "segment 1, 1 acked"
            buffer.close()
            buffer = DiskBuffer(tmp_path, 1 << 20, None)
            await drain_all(buffer)
            await buffer.append([rec(3)])
            buffer.close()
            buffer = DiskBuffer(tmp_path, 1 << 20, None)
            got = await drain_all(buffer)
            buffer.close()
            return got

        assert run(scenario()) == [[3]]

    def test_a_second_opener_is_refused(self, tmp_path):
        """Two buffers on one directory would corrupt each other: the second open fails."""
        buffer = DiskBuffer(tmp_path, 1 << 20, None)
        try:
            with pytest.raises(SinkError, match="in use"):
                DiskBuffer(tmp_path, 1 << 20, None)
        finally:
            buffer.close()

    def test_a_torn_ack_slot_falls_back_to_the_previous_position(self, tmp_path):
        """A damaged newest ack slot costs one duplicate batch, never a lost one."""

        async def first_run():
            buffer = DiskBuffer(tmp_path, 1 << 20, None)
            for n in range(4):
                await buffer.append([rec(n)])
            for _ in range(2):
                token, _ = await buffer.peek()
                buffer.ack(token)
            buffer.close()

        run(first_run())
        ack = tmp_path / "ack"
        data = bytearray(ack.read_bytes())
        data[0] ^= 0xFF  # slot 0 holds generation 2, the newest
        ack.write_bytes(bytes(data))
        buffer = DiskBuffer(tmp_path, 1 << 20, None)
        try:
            assert run(drain_all(buffer)) == [[1], [2], [3]]
        finally:
            buffer.close()


class TestTornTail:
    @pytest.mark.parametrize("key", [None, KEY], ids=["plain", "encrypted"])
    def test_torn_last_frame_is_discarded_counted_and_cut_off(self, tmp_path, key):
        """A cut final frame is dropped, counted once, and the batches before it survive."""
        metrics = Metrics(sinks=["fwd"])

        async def fill():
            buffer = DiskBuffer(tmp_path, 1 << 20, key)
            await buffer.append([rec(1)])
            await buffer.append([rec(2), rec(3)])
            buffer.close()

        run(fill())
        (segment,) = segments(tmp_path)
        os.truncate(segment, segment.stat().st_size - 5)
        buffer = DiskBuffer(tmp_path, 1 << 20, key, name="fwd", metrics=metrics)
        assert buffer.torn == 1
        assert metric(metrics, "sidecar_errors_total", component="buffer", reason="read") == 1
        buffer.close()
        buffer = DiskBuffer(tmp_path, 1 << 20, key)
        assert buffer.torn == 0  # truncated at the first open: reported once
        try:
            assert run(drain_all(buffer)) == [[1]]
        finally:
            buffer.close()

    def test_zero_filled_tail_is_a_torn_tail(self, tmp_path):
        """Zeros after the last frame (size extended, data never landed) are tolerated."""
        run(_fill(tmp_path, [[1], [2]]))
        (segment,) = segments(tmp_path)
        with segment.open("ab") as handle:
            handle.write(bytes(64))
        buffer = DiskBuffer(tmp_path, 1 << 20, None)
        try:
            assert buffer.torn == 1
            assert run(drain_all(buffer)) == [[1], [2]]
        finally:
            buffer.close()

    def test_a_damaged_frame_loses_only_the_rest_of_its_segment(self, tmp_path):
        """A flipped byte inside the first segment does not touch later segments."""
        run(_fill(tmp_path, [[1], [2], [3], [4]], segment_bytes=150))
        first = segments(tmp_path)[0]
        data = bytearray(first.read_bytes())
        data[30] ^= 0x01  # inside the first frame's payload
        first.write_bytes(bytes(data))
        buffer = DiskBuffer(tmp_path, 1 << 20, None, segment_bytes=150)
        try:
            assert buffer.torn == 1
            got = flat(run(drain_all(buffer)))
        finally:
            buffer.close()
        assert 1 not in got
        assert got == sorted(got) and 4 in got


async def _fill(directory: Path, batches: list[list[int]], **kw) -> None:
    buffer = DiskBuffer(directory, 1 << 20, None, **kw)
    for batch in batches:
        await buffer.append([rec(n) for n in batch])
    buffer.close()


class TestEncryption:
    def test_segments_hold_no_plaintext(self, tmp_path):
        """With a key, no record text appears in the segment files."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, KEY)
            await buffer.append([rec(123456789)])
            buffer.close()

        run(scenario())
        data = b"".join(p.read_bytes() for p in segments(tmp_path))
        assert data and b"123456789" not in data and b"[card]" not in data

    def test_an_encrypted_backlog_needs_its_key(self, tmp_path):
        """Opening encrypted segments without their key fails instead of deleting them."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, KEY)
            await buffer.append([rec(1)])
            buffer.close()

        run(scenario())
        for key in (None, ArchiveKey.from_bytes(bytes(32))):
            with pytest.raises(SinkError, match="key"):
                DiskBuffer(tmp_path, 1 << 20, key)
        assert len(segments(tmp_path)) == 1

    def test_a_plaintext_backlog_is_still_delivered_once_a_key_is_set(self, tmp_path):
        """Turning encryption on keeps old plaintext batches readable, in order."""
        run(_fill(tmp_path, [[1]]))

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, KEY)
            await buffer.append([rec(2)])
            got = await drain_all(buffer)
            buffer.close()
            return got

        assert run(scenario()) == [[1], [2]]


class TestBackpressure:
    def test_append_waits_until_acks_make_room(self, tmp_path):
        """Past max_bytes an append waits; an ack lets it through; nothing is dropped."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 300, None)  # room for two of these batches
            await buffer.append([rec(1), rec(2)])
            await buffer.append([rec(3), rec(4)])
            assert 200 < buffer.nbytes <= 300
            blocked = asyncio.ensure_future(buffer.append([rec(5), rec(6)]))
            await asyncio.sleep(0.1)
            assert not blocked.done() and buffer.records == 4
            token, _ = await buffer.peek()
            buffer.ack(token)
            await asyncio.wait_for(blocked, 2)
            got = await drain_all(buffer)
            buffer.close()
            return got

        assert run(scenario()) == [[3, 4], [5, 6]]

    def test_one_batch_larger_than_the_limit_enters_an_empty_buffer(self, tmp_path):
        """A batch bigger than max_bytes is still taken when the buffer is empty."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 10, None)
            await buffer.append([rec(n) for n in range(5)])
            got = await drain_all(buffer)
            buffer.close()
            return got

        assert run(scenario()) == [[0, 1, 2, 3, 4]]

    def test_close_releases_a_blocked_append_with_sink_error(self, tmp_path):
        """Closing the buffer ends a waiting append with SinkError instead of a hang."""

        async def scenario():
            buffer = DiskBuffer(tmp_path, 10, None)
            await buffer.append([rec(1)])
            blocked = asyncio.ensure_future(buffer.append([rec(2)]))
            await asyncio.sleep(0.05)
            buffer.close()
            with pytest.raises(SinkError):
                await asyncio.wait_for(blocked, 2)

        run(scenario())


class TestMetrics:
    def test_gauges_follow_the_level(self, tmp_path):
        """sidecar_buffer_records and _bytes rise on append and return to zero on ack."""
        metrics = Metrics(sinks=["fwd"])

        async def scenario():
            buffer = DiskBuffer(tmp_path, 1 << 20, None, name="fwd", metrics=metrics)
            await buffer.append([rec(1), rec(2)])
            level = (
                metric(metrics, "sidecar_buffer_records", sink="fwd"),
                metric(metrics, "sidecar_buffer_bytes", sink="fwd"),
            )
            await drain_all(buffer)
            buffer.close()
            return level

        records, nbytes = run(scenario())
        assert records == 2 and nbytes > 0
        assert metric(metrics, "sidecar_buffer_records", sink="fwd") == 0
        assert metric(metrics, "sidecar_buffer_bytes", sink="fwd") == 0


_WRITER = textwrap.dedent(
    """
    import asyncio, json, sys
    from pathlib import Path
    from sidecar.buffer import DiskBuffer
    from sidecar.record import Shipped

    async def main():
        buffer = DiskBuffer(Path(sys.argv[1]), 1 << 30, None, segment_bytes=4096)
        n = 0
        while True:
            batch = [Shipped("application", "2024-05-01", json.dumps({"n": n + i}).encode())
                     for i in range(50)]
            await buffer.append(batch)
            n += 50
            print(n, flush=True)

    asyncio.run(main())
    """
)


class TestKill:
    def test_kill_9_mid_append_loses_no_returned_append(self, tmp_path):
        """After kill -9, every record whose append returned is there, in order, once."""
        child = subprocess.Popen(
            [sys.executable, "-c", _WRITER, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        assert child.stdout is not None
        deadline = time.monotonic() + 10
        returned = 0
        while returned < 1000 and time.monotonic() < deadline:
            returned = int(child.stdout.readline())
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert returned >= 1000
        buffer = DiskBuffer(tmp_path, 1 << 30, None)
        try:
            got = flat(run(drain_all(buffer), timeout=20))
        finally:
            buffer.close()
        assert got == list(range(len(got)))
        assert len(got) >= returned
