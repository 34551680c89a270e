"""Run batches through :class:`~sidecar.pipeline.process.Processor`, here or in workers.

Redaction is CPU-bound Python, so on a multi-core node the sidecar scales by processes,
not threads. With ``workers = 0`` batches are processed in the main process; with
``workers = N`` there are N spawn-started worker processes, each holding one compiled
redactor, and batches are shipped to them as lists of strings. Order is kept by the
caller: it awaits the futures of one source in submission order.

The processes come from :class:`redactor.workers.WorkerPool`: one pipe per worker, so
a worker that dies (the OOM killer) fails only the batch it held, with
:class:`~redactor.workers.WorkerLost` (the runner retries it), and only that worker is
started again.

Start-up: compiling a redactor takes about half a second, most of it the Hyperscan
database. The main process compiles that database in a thread while the workers import
(and while it imports and opens everything else), then sends it to each worker as its
greeting, before the first batch; each worker then only builds the cheap rest. (The
main process reuses it too, for the filter on its own log lines.) The command line
starts the workers before it imports the rest of the sidecar, and what runs inside a
worker lives in :mod:`sidecar.pipeline.in_worker`, which imports no more than
processing needs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from redactor import Policy
from redactor.backends import export_compiled
from redactor.compiler import compile_backend
from redactor.workers import WorkerLost, WorkerPool
from sidecar.config import RetentionConfig
from sidecar.pipeline import in_worker
from sidecar.pipeline.in_worker import build_processor
from sidecar.pipeline.process import Processed

__all__ = ["BatchRunner", "WorkerLost", "build_processor"]


class BatchRunner:
    """Processes batches in the main process or in worker processes.

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
        self._pool: WorkerPool | None = None
        if workers:
            self._pool = WorkerPool(
                workers, in_worker.init, (policy, retention), greeting=self._compile
            )

    def _compile(self) -> object:
        """Compile the backend once, for every worker (run in a thread: it frees the GIL)."""
        compile_backend(Policy.from_toml(self._policy) if self._policy else Policy.default())
        return export_compiled()

    @property
    def pids(self) -> list[int | None]:
        """The worker processes' ids (None for one not running)."""
        return self._pool.pids if self._pool is not None else []

    def submit(
        self, texts: Sequence[str], source: str, fmt: str, day: str, *, here: bool = False
    ) -> asyncio.Future[Processed]:
        """Start processing one batch; await the returned future for its result.

        ``here`` processes it in this process even when there are workers: at shutdown,
        when a SIGTERM to the process group stopped the workers too, starting new ones
        (interpreters, imports, redactors) would take longer than finishing the few
        batches still in flight here.
        """
        loop = asyncio.get_running_loop()
        if self._pool is None or here:
            if self._local is None:
                self._local = build_processor(self._policy, self._retention)
            future: asyncio.Future[Processed] = loop.create_future()
            try:
                future.set_result(self._local.run(texts, source, fmt, day))
            except BaseException as exc:  # surfaced to the awaiting delivery task
                future.set_exception(exc)
            return future
        return asyncio.wrap_future(self.call(in_worker.run, list(texts), source, fmt, day))

    def call(self, fn: Callable[..., Any], *args: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args)`` in whichever worker is free (``fn`` must be importable)."""
        assert self._pool is not None, "no workers"
        return self._pool.call(fn, *args)

    def stop(self) -> None:
        """Shutting down: a worker that dies is no longer replaced."""
        if self._pool is not None:
            self._pool.stop()

    def close(self) -> None:
        """Stop the worker processes (pending batches are not needed: they replay)."""
        if self._pool is not None:
            self._pool.close()
