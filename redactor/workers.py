"""Worker processes that survive each other's death: one pipe per worker, not a shared one.

Redaction is CPU-bound Python, so the command line and the sidecar scale by processes.
Neither uses ``multiprocessing.Pool`` nor ``concurrent.futures.ProcessPoolExecutor``:

* ``Pool`` replaces a worker killed by the OOM killer but loses the task it held, and
  ``imap`` then waits for that result forever (``python -m redactor --workers 2`` hung
  after ``kill -9`` of a worker, output cut mid-stream).
* ``ProcessPoolExecutor`` notices a death, but its workers share one result pipe: a
  worker killed while writing a result (a big batch's result takes a while) leaves half
  a message there, its manager thread waits for the rest forever, no future completes
  again and exit hangs joining that thread (8 of 21 kill timings hung in a test here).

Here each worker has its own pipe, fed and read by its own thread, one job at a time:
a death is an end of file on that pipe alone. The job it held fails with
:class:`WorkerLost` (the caller decides: retry, or do it in process) and only that
worker is started again, on its next job.

The protocol: the pool first sends each worker a *greeting* (typically a compiled
Hyperscan database, made once in the parent, possibly while the workers start), then
jobs ``(function, args)``; each job gets one reply ``(True, result)`` or
``(False, exception)``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import multiprocessing
import pickle
import queue
import signal
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

__all__ = ["GREETING_WAIT_S", "WorkerLost", "WorkerPool", "serve"]

#: How long a worker waits for its greeting before starting without one.
GREETING_WAIT_S = 30.0

_Job = tuple["concurrent.futures.Future[Any]", Callable[..., Any], tuple[Any, ...]]


class WorkerLost(Exception):
    """The worker process running a job died; the job itself is not known to be at fault."""


class WorkerPool:
    """``workers`` spawn-started processes, each set up by ``initializer``.

    Args:
        workers: how many processes.
        initializer: importable function run first in each worker as
            ``initializer(greeting, *args)``.
        args: its further arguments (picklable).
        greeting: called once, in a thread, for the greeting every worker gets first
            (None if it raises); the workers start meanwhile.
    """

    def __init__(
        self,
        workers: int,
        initializer: Callable[..., None],
        args: tuple[Any, ...] = (),
        greeting: Callable[[], object] | None = None,
    ) -> None:
        self._initializer = initializer
        self._args = args
        self._stopping = False
        self._closed = False
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._greeting: object = None
        self._greeted = threading.Event()
        if greeting is None:
            self._greeted.set()
        else:
            threading.Thread(
                target=self._greet, args=(greeting,), name="greeting", daemon=True
            ).start()
        self._slots = [_Slot(self, n) for n in range(workers)]

    def _greet(self, make: Callable[[], object]) -> None:
        try:
            self._greeting = make()
        except Exception:  # the workers then set up without it
            self._greeting = None
        finally:
            self._greeted.set()

    @property
    def pids(self) -> list[int | None]:
        """The process id of each worker (None while it is not running)."""
        return [slot.pid for slot in self._slots]

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
        """Stop the worker processes now; jobs not done fail with :class:`WorkerLost`."""
        self._closed = True
        for _ in self._slots:
            self._jobs.put(None)
        for slot in self._slots:
            slot.kill()


class _Slot:
    """One worker process and the thread that feeds it one job at a time."""

    def __init__(self, pool: WorkerPool, number: int) -> None:
        self._pool = pool
        self._name = f"worker-{number}"
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        threading.Thread(target=self._serve, name=self._name, daemon=True).start()

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None else None

    def _start(self) -> None:
        pool = self._pool
        context = multiprocessing.get_context("spawn")
        mine, theirs = context.Pipe(duplex=True)
        process = context.Process(
            target=serve,
            args=(theirs, pool._initializer, pool._args),
            name=f"redactor-{self._name}",
            daemon=True,
        )
        process.start()
        theirs.close()  # only the worker holds its end now: its death is EOF on ours
        with self._lock:
            self._process, self._conn = process, mine
        if pool._closed:  # closed while this one was starting
            self.kill()
            return
        pool._greeted.wait()
        with contextlib.suppress(OSError):
            mine.send(pool._greeting)

    def _serve(self) -> None:
        pool = self._pool
        self._start()
        while (job := pool._jobs.get()) is not None:
            future, fn, args = job
            if not future.set_running_or_notify_cancel():
                continue
            if self._conn is None:  # died on an earlier job
                if pool._stopping or pool._closed:
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
        """Stop the worker now: it holds nothing its caller cannot redo."""
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


def serve(conn: Connection, initializer: Callable[..., None], args: tuple[Any, ...]) -> None:
    """A worker's whole life: greeting, ``initializer``, then jobs until told to stop.

    ``None`` or an end of file (the parent is gone) ends the worker. SIGINT is ignored:
    Ctrl-C in a terminal reaches the whole process group and the parent decides what
    happens to jobs in flight. SIGTERM stays fatal, so a stop of the whole group stops
    the workers too.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    greeting: object = None
    if conn.poll(GREETING_WAIT_S):
        with contextlib.suppress(EOFError):
            greeting = conn.recv()
    initializer(greeting, *args)
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        fn, job_args = job
        try:
            reply: tuple[bool, object] = (True, fn(*job_args))
        except Exception as exc:
            reply = (False, _portable(exc))
        try:
            conn.send(reply)
        except OSError:  # the parent is gone
            return


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else one that names its type (never its text)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__} in a worker (not picklable)")
    return exc
