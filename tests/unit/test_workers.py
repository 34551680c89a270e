"""redactor.workers: real spawned processes, killed with SIGKILL at awkward moments."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from redactor.workers import WorkerLost, WorkerPool

GREETINGS: list[object] = []


def remember(greeting: object, tag: str) -> None:
    """Run in a worker: keep what the pool sent first, with the initializer's argument."""
    GREETINGS.append((greeting, tag))


def greetings() -> list[object]:
    return list(GREETINGS)


def big_reply(size: int) -> bytes:
    """A reply that takes a while to write down the pipe."""
    return b"x" * size


def fail(text: str) -> None:
    raise ValueError(text)


class Unpicklable(Exception):
    def __init__(self, handle: object) -> None:
        super().__init__("secret 4111111111111111")
        self.handle = handle


def fail_unpicklably() -> None:
    raise Unpicklable(lambda: None)


@pytest.fixture
def pool() -> Iterator[WorkerPool]:
    workers = WorkerPool(2, remember, ("tag",), greeting=lambda: {"db": 1})
    yield workers
    workers.close()


def test_each_worker_is_greeted_then_initialized(pool: WorkerPool) -> None:
    """The greeting made in the parent reaches every worker's initializer once."""
    seen = [pool.call(greetings).result(60) for _ in range(4)]
    assert all(s == [({"db": 1}, "tag")] for s in seen)


def test_a_failing_greeting_leaves_the_workers_to_set_up_alone() -> None:
    """If making the greeting raises, workers get None and still run jobs."""

    def broken() -> object:
        raise RuntimeError("no compiler")

    workers = WorkerPool(1, remember, ("t",), greeting=broken)
    try:
        assert workers.call(greetings).result(60) == [(None, "t")]
    finally:
        workers.close()


def test_a_job_that_raises_fails_its_future_only(pool: WorkerPool) -> None:
    """An exception comes back as itself; an unpicklable one by its type, not its text."""
    with pytest.raises(ValueError, match="boom"):
        pool.call(fail, "boom").result(60)
    with pytest.raises(RuntimeError, match="Unpicklable") as caught:
        pool.call(fail_unpicklably).result(60)
    assert "4111" not in str(caught.value)
    assert pool.call(os.getpid).result(60) in pool.pids


def test_killed_while_sending_a_big_result_the_others_carry_on(pool: WorkerPool) -> None:
    """Killed mid-reply: that job fails with WorkerLost, every other one completes.

    This is where ``ProcessPoolExecutor`` hangs for good: its workers share one result
    pipe, and half a message from a dead worker blocks its reader forever.
    """
    pool.call(os.getpid).result(60)
    futures = [pool.call(big_reply, 300_000_000) for _ in range(4)]
    time.sleep(1.0)  # both workers are building or sending their replies now
    os.kill(pool.pids[0] or 0, signal.SIGKILL)
    outcomes = []
    for future in futures:
        try:
            outcomes.append(len(future.result(60)))
        except WorkerLost:
            outcomes.append(-1)
    assert outcomes.count(-1) <= 1 and outcomes.count(300_000_000) >= 3
    # The dead worker is started again on its next job: two workers still answer.
    pids = {pool.call(os.getpid).result(60) for _ in range(8)}
    assert pids <= set(pool.pids) and None not in pool.pids


def test_after_close_jobs_fail_at_once(pool: WorkerPool) -> None:
    """A closed pool runs nothing and leaves no process behind."""
    pids = [pool.call(os.getpid).result(60) for _ in range(2)]
    pool.close()
    with pytest.raises(WorkerLost):
        pool.call(os.getpid).result(5)
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
