"""What runs inside a worker process of :class:`sidecar.pipeline.workers.BatchRunner`.

Kept apart from the pool's own module so that a spawned worker imports only what it
needs to process batches: not ``asyncio`` and the rest of the main process's plumbing,
which would add tens of milliseconds to every worker's start (and a worker restarted
after a crash starts again).
"""

from __future__ import annotations

import contextlib
import pickle
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from redactor import Policy, Redactor, default_redactor
from redactor.backends import import_compiled
from sidecar import heap
from sidecar.config import RetentionConfig
from sidecar.pipeline.classify import Classifier
from sidecar.pipeline.process import Processed, Processor

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

__all__ = ["build_processor", "compile_redactor", "imported_databases", "run", "serve"]

_WORKER: Processor | None = None
#: How many compiled databases this worker took over from the main process.
_IMPORTED = 0
#: How long a worker waits for the compiled database before compiling its own.
HANDOVER_S = 30.0


def build_processor(policy: Path | None, retention: RetentionConfig) -> Processor:
    """Compile the redactor and the classifier (the expensive, once-per-process part)."""
    # The default policy shares the process-wide redactor, which the sidecar's own log
    # filter uses too: one compile instead of two at start-up.
    return Processor(compile_redactor(policy), Classifier(retention))


def compile_redactor(policy: Path | None) -> Redactor:
    """Compile the redactor of ``policy`` in this process (shared, if the default)."""
    return Redactor(Policy.from_toml(policy)) if policy is not None else default_redactor()


def serve(conn: Connection, policy: Path | None, retention: RetentionConfig) -> None:
    """A worker's whole life: take over the compiled database, then run jobs until told.

    Jobs arrive as ``(function, args)`` and each gets one reply, ``(True, result)`` or
    ``(False, exception)``. ``None`` or an end-of-file (the main process is gone) ends
    the worker.
    """
    global _WORKER, _IMPORTED
    # The main process owns shutdown: Ctrl-C in a terminal reaches the whole process
    # group and must not kill workers under in-flight batches. SIGTERM stays fatal: a
    # SIGTERM to the group (systemd) stops them, and the main process finishes the
    # batches they held itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # If the main process is slow or gone, the worker compiles on its own instead.
    if conn.poll(HANDOVER_S):
        with contextlib.suppress(EOFError):
            _IMPORTED = import_compiled(conn.recv())
    _WORKER = build_processor(policy, retention)
    heap.settle()
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        fn, args = job
        try:
            reply: tuple[bool, object] = (True, fn(*args))
        except Exception as exc:
            reply = (False, _portable(exc))
        try:
            conn.send(reply)
        except OSError:  # the main process is gone
            return


def _portable(exc: Exception) -> Exception:
    """``exc`` if it survives pickling, else one that names its type (never its text)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__} in a worker (not picklable)")
    return exc


def imported_databases() -> int:
    """How many compiled databases this worker took over (run in a worker: a check)."""
    return _IMPORTED


def run(texts: Sequence[str], source: str, fmt: str, day: str) -> Processed:
    """Process one batch with this worker's processor."""
    assert _WORKER is not None, "worker not initialized"
    return _WORKER.run(texts, source, fmt, day)
