"""What runs inside a worker process of :class:`sidecar.pipeline.workers.BatchRunner`.

Kept apart from the pool's own module so that a spawned worker imports only what it
needs to process batches: not ``asyncio`` and the rest of the main process's plumbing,
which would add tens of milliseconds to every worker's start (and a worker restarted
after a crash starts again).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from redactor import Policy, Redactor, default_redactor
from redactor.backends import import_compiled
from sidecar import heap
from sidecar.config import RetentionConfig
from sidecar.pipeline.classify import Classifier
from sidecar.pipeline.process import Processed, Processor

__all__ = ["build_processor", "compile_redactor", "imported_databases", "init", "run"]

_WORKER: Processor | None = None
#: How many compiled databases this worker took over from the main process.
_IMPORTED = 0


def build_processor(policy: Path | None, retention: RetentionConfig) -> Processor:
    """Compile the redactor and the classifier (the expensive, once-per-process part)."""
    # The default policy shares the process-wide redactor, which the sidecar's own log
    # filter uses too: one compile instead of two at start-up.
    return Processor(compile_redactor(policy), Classifier(retention))


def compile_redactor(policy: Path | None) -> Redactor:
    """Compile the redactor of ``policy`` in this process (shared, if the default)."""
    return Redactor(Policy.from_toml(policy)) if policy is not None else default_redactor()


def init(greeting: object, policy: Path | None, retention: RetentionConfig) -> None:
    """A worker's set-up: take over the compiled database (if any), build the processor."""
    global _WORKER, _IMPORTED
    if greeting is not None:
        _IMPORTED = import_compiled(greeting)
    _WORKER = build_processor(policy, retention)
    heap.settle()


def imported_databases() -> int:
    """How many compiled databases this worker took over (run in a worker: a check)."""
    return _IMPORTED


def run(texts: Sequence[str], source: str, fmt: str, day: str) -> Processed:
    """Process one batch with this worker's processor."""
    assert _WORKER is not None, "worker not initialized"
    return _WORKER.run(texts, source, fmt, day)
