"""Pre-filter backends: the pure-Python one always, Hyperscan when it is installed.

A backend only decides which texts the scanner must look at; the scanner itself, and
so every redaction, is the same whatever the backend. The Hyperscan backend is built
from the very same detector triggers as the pure one (see :mod:`.translate`), so it can
only flag more texts, never fewer, and the output is byte-identical by construction (a
differential property test checks it on random input).

``REDACTOR_BACKEND=python`` forces the pure backend, e.g. to compare the two.

Compiling the Hyperscan database is most of the cost of building a redactor. A process
that starts workers can hand them what it compiled (:func:`export_compiled`,
:func:`import_compiled`) so that they start without compiling it again. And a build
step can compile it ahead of time (``python -m redactor precompile --cache DIR``,
:func:`save_compiled`): every process started with ``REDACTOR_HYPERSCAN_CACHE=DIR``
then loads it instead of compiling (a container image ships it, read-only, next to
the code; a file that is missing, damaged or from another CPU is ignored).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Protocol, cast

from redactor.detectors.base import Detector
from redactor.keys import KeyCatalog
from redactor.prefilter import Prefilter

__all__ = [
    "BACKENDS",
    "CACHE_ENV",
    "BatchPrefilter",
    "available",
    "export_compiled",
    "import_compiled",
    "make_prefilter",
    "save_compiled",
]

BACKENDS = ("python", "hyperscan")
#: Names a directory of databases compiled ahead of time (``python -m redactor
#: precompile``). It is read, never written, at run time: make it part of the image,
#: read-only, like the code (a database decides what is redacted).
CACHE_ENV = "REDACTOR_HYPERSCAN_CACHE"


class BatchPrefilter(Protocol):
    """What the scanner needs from a pre-filter backend."""

    name: str

    def subset(self, text: str) -> frozenset[int]:
        """Return the indices of the detectors that can match in ``text``."""
        ...

    def select(self, texts: Sequence[str]) -> list[frozenset[int]]:
        """Return, per text, the detectors that can match in it (empty: none)."""
        ...


class PythonPrefilter(Prefilter):
    """The pure-Python pre-filter with the batch interface."""

    name = "python"

    def select(self, texts: Sequence[str]) -> list[frozenset[int]]:
        """Test each text in turn."""
        subset = self.subset
        return [subset(text) for text in texts]


def available() -> tuple[str, ...]:
    """Return the backends that can run here, fastest last."""
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return ("python",)
    return BACKENDS


def export_compiled() -> object:
    """Return what this process compiled for its backends, to pass to another process.

    The value is picklable; None when there is nothing worth passing (no Hyperscan).
    """
    try:
        from redactor.backends.hyperscan import export_databases
    except ImportError:
        return None
    return export_databases()


def save_compiled(directory: str | os.PathLike[str]) -> list[str]:
    """Write what this process compiled into an ahead-of-time directory.

    Returns:
        The files written (none without Hyperscan).
    """
    from pathlib import Path

    try:
        from redactor.backends.hyperscan import save_databases
    except ImportError:
        return []
    return [str(path) for path in save_databases(Path(directory))]


def import_compiled(compiled: object) -> int:
    """Reuse what :func:`export_compiled` returned in another process of this machine.

    Anything that does not fit (no Hyperscan here, another Hyperscan build, damaged
    data) is ignored: the redactor then compiles as usual, so this can only save time.

    Returns:
        How many compiled databases were taken over.
    """
    if compiled is None:
        return 0
    try:
        from redactor.backends.hyperscan import Exported, import_databases
    except ImportError:
        return 0
    try:
        return import_databases(cast(Exported, compiled))
    except (TypeError, ValueError):
        return 0


def make_prefilter(
    detectors: Sequence[Detector], catalog: KeyCatalog, backend: str = "auto"
) -> tuple[PythonPrefilter, BatchPrefilter]:
    """Build the pure pre-filter and the fastest available batch pre-filter.

    Args:
        detectors: the detectors in force.
        catalog: their key names.
        backend: ``auto`` (Hyperscan if installed, unless ``REDACTOR_BACKEND`` says
            otherwise), ``python`` or ``hyperscan`` (an error if not installed).

    Returns:
        The pure pre-filter (also used for key positions) and the batch pre-filter.
    """
    pure = PythonPrefilter(detectors, catalog)
    if backend == "auto":
        backend = os.environ.get("REDACTOR_BACKEND", "auto")
        if backend == "auto":
            backend = available()[-1]
    if backend == "python" or pure.always:
        return pure, pure
    if backend != "hyperscan":
        raise ValueError(f"unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    from redactor.backends.hyperscan import HyperscanPrefilter

    return pure, HyperscanPrefilter(detectors, catalog, pure)
