"""Run batches through :class:`~sidecar.pipeline.process.Processor`, here or in workers.

Redaction is CPU-bound Python, so on a multi-core node the sidecar scales by processes,
not threads. With ``workers = 0`` batches are processed in the main process; with
``workers = N`` there are N spawn-started worker processes, each holding one compiled
redactor, and batches are shipped to them as lists of strings. Order is kept by the
caller: it awaits the futures of one source in submission order.

Why not ``concurrent.futures.ProcessPoolExecutor``: its workers share one result pipe,
and a worker killed while writing a result (the OOM killer picks the biggest process,
and a big batch's result takes a while to write) leaves half a message in it. The pool's
manager thread then waits for the rest forever: no batch completes again, and exit hangs
joining that thread. Here each worker has its own pipe, read by its own thread, so a
death is an end-of-file on that pipe alone: the batch it held fails with
:class:`WorkerLost` (the runner retries it) and only that worker is started again.

Start-up: compiling a redactor takes about half a second, most of it the Hyperscan
database. The main process compiles that database in a thread while the workers import
(and while it imports and opens everything else), then sends it down each worker's pipe
before the first batch; each worker then only builds the cheap rest. (The main process
reuses it too, for the filter on its own log lines.) The command line starts the workers
before it imports the rest of the sidecar, and what runs inside a worker lives in
:mod:`sidecar.pipeline.in_worker`, which imports no more than processing needs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import multiprocessing
import queue
import threading
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from redactor import Policy
from redactor.backends import export_compiled
from redactor.compiler import compile_backend
from sidecar.config import RetentionConfig
from sidecar.pipeline import in_worker
from sidecar.pipeline.in_worker import build_processor
from sidecar.pipeline.process import Processed

__all__ = ["BatchRunner", "WorkerLost", "build_processor"]

_Job = tuple["concurrent.futures.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class WorkerLost(Exception):
    """The worker process holding a batch died; the batch itself is not at fault."""


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
        self._stopping = False
        self._closed = False
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._compiled: object = None
        self._compiled_ready = threading.Event()
        self._slots: list[_Slot] = []
        if workers:
            # Compiling releases the GIL: in a thread it overlaps the workers' start-up
            # and this process's own (imports, sources, sinks).
            threading.Thread(target=self._compile, name="compile", daemon=True).start()
            self._slots = [_Slot(self, n) for n in range(workers)]

    def _compile(self) -> None:
        """Compile the backend once, for every worker (None on failure)."""
        try:
            compile_backend(Policy.from_toml(self._policy) if self._policy else Policy.default())
            self._compiled = export_compiled()
        except Exception:  # the workers compile on their own and report what is wrong
            self._compiled = None
        finally:
            self._compiled_ready.set()

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
        if not self._slots or here:
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
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(WorkerLost("the workers are closed"))
        else:
            self._jobs.put((future, fn, args))
        return future

    def stop(self) -> None:
        """Shutting down: a worker that dies is no longer replaced."""
        self._stopping = True

    def close(self) -> None:
        """Stop the worker processes (pending batches are not needed: they replay)."""
        self._closed = True
        for _ in self._slots:
            self._jobs.put(None)
        for slot in self._slots:
            slot.kill()
        self._slots = []


class _Slot:
    """One worker process and the thread that feeds it one batch at a time."""

    def __init__(self, runner: BatchRunner, number: int) -> None:
        self._runner = runner
        self._name = f"worker-{number}"
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        threading.Thread(target=self._serve, name=self._name, daemon=True).start()

    @property
    def pid(self) -> int | None:
        """The worker's process id (None before the first start or after a kill)."""
        process = self._process
        return process.pid if process is not None else None

    def _start(self) -> None:
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=in_worker.serve,
            args=(theirs, self._runner._policy, self._runner._retention),
            name=f"sidecar-{self._name}",
            daemon=True,
        )
        process.start()
        # Only the worker holds its end now: its death is an end-of-file on ours.
        theirs.close()
        with self._lock:
            self._process, self._conn = process, mine
        if self._runner._closed:  # closed while this one was starting
            self.kill()
            return
        # The compiled database goes first (None: the worker compiles on its own).
        self._runner._compiled_ready.wait()
        with contextlib.suppress(OSError):
            mine.send(self._runner._compiled)

    def _serve(self) -> None:
        runner = self._runner
        self._start()
        while (job := runner._jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            if self._conn is None:  # died on an earlier batch
                if runner._stopping or runner._closed:
                    future.set_exception(WorkerLost("worker gone at shutdown"))
                    continue
                self._start()
            conn = self._conn
            if conn is None:  # closed meanwhile
                future.set_exception(WorkerLost("the workers are closed"))
                continue
            try:
                conn.send((fn, args))
                ok, value = conn.recv()
            except (EOFError, OSError) as exc:
                self.kill()
                future.set_exception(WorkerLost(f"{self._name} died ({type(exc).__name__})"))
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def kill(self) -> None:
        """Stop the worker now: it holds nothing that is not replayed."""
        with self._lock:
            process, conn = self._process, self._conn
            self._process = self._conn = None
        if process is not None:
            process.kill()
            process.join(5)
            with contextlib.suppress(ValueError):  # still running after 5 s: leave it
                process.close()
        if conn is not None:
            conn.close()
