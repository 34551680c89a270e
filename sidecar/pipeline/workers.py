"""Run batches through :class:`~sidecar.pipeline.process.Processor`, here or in workers.

Redaction is CPU-bound Python, so on a multi-core node the sidecar scales by processes,
not threads. With ``workers = 0`` batches are processed in the main process; with
``workers = N`` a spawn-started process pool holds one compiled redactor per worker
(compiled once, in the initializer) and batches are shipped to it as lists of strings.
Order is kept by the caller: it awaits the futures of one source in submission order.

Start-up: compiling a redactor takes about half a second, most of it the Hyperscan
database. The main process compiles that database in a thread while the workers import
(and while it imports and opens everything else), then hands it to them through a
queue; each worker then only builds the cheap rest. (The main process reuses it too,
for the filter on its own log lines.) The command line starts the workers before it
imports the rest of the sidecar, and what runs inside a worker lives in
:mod:`sidecar.pipeline.in_worker`, which imports no more than processing needs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from redactor import Policy
from redactor.backends import export_compiled
from redactor.compiler import compile_backend
from sidecar.config import RetentionConfig
from sidecar.pipeline import in_worker
from sidecar.pipeline.in_worker import build_processor
from sidecar.pipeline.process import Processed

__all__ = ["BatchRunner", "build_processor"]


class BatchRunner:
    """Processes batches in the main process or in a pool of worker processes.

    Workers start when it is built, so build it as early as start-up allows.

    Args:
        policy: redactor policy file, or None for the default policy.
        retention: tiers and rules.
        workers: 0 for in-process, else the number of worker processes.
    """

    def __init__(self, policy: Path | None, retention: RetentionConfig, workers: int) -> None:
        self.workers = workers
        self._policy = policy
        self._retention = retention
        self._local = build_processor(policy, retention) if workers == 0 else None
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if workers:
            self._pool = self._new_pool()

    def _new_pool(self) -> concurrent.futures.ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        handover: multiprocessing.Queue[object] = context.Queue()
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=context,
            initializer=in_worker.init,
            initargs=(self._policy, self._retention, handover),
        )
        # Workers start on demand; asking each for nothing now starts them (interpreter
        # and imports) while this process compiles, and then opens its sources and
        # sinks, instead of after the first batch was read. A pool never runs more
        # than `workers` processes, so one compiled database per worker is enough.
        for _ in range(self.workers):
            pool.submit(in_worker.ready)
        # Compiling releases the GIL: in a thread it also overlaps this process's own
        # start-up (imports, sources, sinks), not only the workers'.
        threading.Thread(
            target=self._hand_over, args=(handover,), name="compile", daemon=True
        ).start()
        return pool

    def _hand_over(self, handover: multiprocessing.Queue[object]) -> None:
        """Compile the backend and give each worker a copy (or nothing, on failure)."""
        compiled: object = None
        try:
            compile_backend(Policy.from_toml(self._policy) if self._policy else Policy.default())
            compiled = export_compiled()
        except Exception:  # the workers compile on their own and report what is wrong
            compiled = None
        for _ in range(self.workers):
            handover.put(compiled)
        # A worker that never starts leaves its copy unread; exiting must not wait on it.
        handover.cancel_join_thread()

    def recover(self) -> None:
        """Replace a pool broken by a dead worker (idempotent: a sound pool is kept).

        Every batch in flight on a broken pool fails with ``BrokenProcessPool``; each
        caller recovers and resubmits, and only the first one replaces the pool.
        """
        pool = self._pool
        if pool is None or not getattr(pool, "_broken", True):
            return
        pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()

    def submit(
        self, texts: Sequence[str], source: str, fmt: str, day: str
    ) -> asyncio.Future[Processed]:
        """Start processing one batch; await the returned future for its result."""
        loop = asyncio.get_running_loop()
        if self._pool is None:
            assert self._local is not None
            future: asyncio.Future[Processed] = loop.create_future()
            try:
                future.set_result(self._local.run(texts, source, fmt, day))
            except BaseException as exc:  # surfaced to the awaiting delivery task
                future.set_exception(exc)
            return future
        batch = list(texts)
        try:
            submitted = self._pool.submit(in_worker.run, batch, source, fmt, day)
        except BrokenProcessPool:  # a worker died since the last batch: new workers
            self.recover()
            assert self._pool is not None
            submitted = self._pool.submit(in_worker.run, batch, source, fmt, day)
        return asyncio.wrap_future(submitted, loop=loop)

    def close(self) -> None:
        """Stop the worker processes (pending batches are not needed: they replay)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
