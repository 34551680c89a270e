"""The Hyperscan pre-filter: every trigger in one compiled database, batches in one pass.

Hyperscan scans a whole batch of lines (joined by newlines) in one call, at over
100 MB/s on these machines, and calls back per match; the callback marks the line the
match ends in. No trigger pattern can match a newline, so a match always lies inside
the line it is reported for.

Scratch space is per thread (Hyperscan's rule); the database itself is shared.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from itertools import accumulate
from pathlib import Path

import hyperscan

from redactor.backends import CACHE_ENV
from redactor.backends.translate import key_pattern, shape_pattern, word_pattern
from redactor.detectors.base import Detector
from redactor.keys import KeyCatalog
from redactor.prefilter import Prefilter

__all__ = [
    "CACHE_ENV",
    "HyperscanPrefilter",
    "compile_single_match",
    "export_databases",
    "import_databases",
    "loaded_from_cache",
    "save_databases",
    "single_match_flags",
]

_NOTHING: frozenset[int] = frozenset()


#: Compiled databases by (expressions, flags): compiling takes a large share of a
#: second, so each distinct pattern set is compiled once per process, or not at all in
#: a process that was handed the serialized database (see :func:`import_databases`).
_DATABASES: dict[tuple[tuple[bytes, ...], tuple[int, ...]], hyperscan.Database] = {}
_LOCK = threading.Lock()
#: Serialized databases are only accepted from the same Hyperscan build.
_VERSION = getattr(hyperscan, "__version__", "") + "/" + repr(hyperscan.HS_MODE_BLOCK)


_FROM_CACHE = 0


def _cache_file(key: tuple[tuple[bytes, ...], tuple[int, ...]], directory: str) -> Path:
    """Where the database of ``key`` lives in an ahead-of-time directory.

    Named by a digest of the Hyperscan build and the full pattern set, so a database is
    only ever used for exactly the patterns it was compiled from.
    """
    digest = hashlib.sha256(repr((_VERSION, key)).encode()).hexdigest()[:40]
    return Path(directory) / f"{digest}.hsdb"


def _load_cached(key: tuple[tuple[bytes, ...], tuple[int, ...]]) -> hyperscan.Database | None:
    """The ahead-of-time database of ``key``, or None (absent, unreadable, other CPU)."""
    global _FROM_CACHE
    directory = os.environ.get(CACHE_ENV)
    if not directory or not key[0]:
        return None
    try:
        blob = _cache_file(key, directory).read_bytes()
        database = hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK)
    except (OSError, hyperscan.error):  # not there, or damaged, or another platform's
        return None
    _FROM_CACHE += 1
    return database


def loaded_from_cache() -> int:
    """How many databases this process loaded from the ahead-of-time directory."""
    return _FROM_CACHE


def _database(expressions: tuple[bytes, ...], flags: tuple[int, ...]) -> hyperscan.Database:
    """Return the database of a pattern set, compiling it on first use.

    Databases are read-only once compiled and safe to share; scratch space is not.
    """
    key = (expressions, flags)
    with _LOCK:
        database = _DATABASES.get(key)
        if database is None:
            database = _load_cached(key)
        if database is None:
            database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            if expressions:
                database.compile(
                    expressions=list(expressions),
                    ids=list(range(len(expressions))),
                    elements=len(expressions),
                    flags=list(flags),
                )
        if key not in _DATABASES:
            if len(_DATABASES) >= 16:  # bounded: one per distinct policy
                _DATABASES.clear()
            _DATABASES[key] = database
        return database


def single_match_flags(flags: tuple[int, ...]) -> tuple[int, ...]:
    """The flags of a database's twin that reports each pattern once (see ``subset``)."""
    return tuple(flag | hyperscan.HS_FLAG_SINGLEMATCH for flag in flags)


def compile_single_match() -> int:
    """Compile the single-match twin of every database compiled so far.

    A process compiles a twin only when a text first floods its callbacks (about a
    second); ahead of time (``python -m redactor precompile``) both are written, so a
    process with the cache directory loads the twin instead.

    Returns:
        How many databases have a twin now.
    """
    with _LOCK:
        keys = [key for key in _DATABASES if key[0]]
    for expressions, flags in keys:
        _database(expressions, single_match_flags(flags))
    return len(keys)


def save_databases(directory: Path) -> list[Path]:
    """Write every database compiled in this process into an ahead-of-time directory.

    Each file is written whole under a temporary name, then renamed: a reader never
    sees half a database.

    Returns:
        The files written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for key, blob in _serialized():
        target = _cache_file(key, str(directory))
        partial = target.with_name(target.name + f".{os.getpid()}.tmp")
        partial.write_bytes(blob)
        os.replace(partial, target)
        written.append(target)
    return written


Exported = tuple[str, list[tuple[tuple[tuple[bytes, ...], tuple[int, ...]], bytes]]]
"""Serialized databases with the Hyperscan build they came from."""


def export_databases() -> Exported:
    """Serialize every database compiled in this process (for worker processes).

    A worker that imports them skips the compile, which dominates its start-up. The
    key of each database is its full pattern set, so a worker only ever uses a
    database for exactly the patterns it would have compiled itself.
    """
    return _VERSION, _serialized()


def _serialized() -> list[tuple[tuple[tuple[bytes, ...], tuple[int, ...]], bytes]]:
    """Every non-empty database of this process, serialized, with its pattern set."""
    with _LOCK:
        items = list(_DATABASES.items())
    return [(key, hyperscan.dumpb(db)) for key, db in items if key[0]]


def import_databases(exported: Exported) -> int:
    """Load databases serialized by :func:`export_databases` in another process.

    Returns:
        How many were loaded: none when the exporting process ran another Hyperscan
        build, in which case databases are compiled here as usual.
    """
    version, items = exported
    if version != _VERSION:
        return 0
    try:
        loaded = {key: hyperscan.loadb(blob, hyperscan.HS_MODE_BLOCK) for key, blob in items}
    except hyperscan.error:  # another CPU's build, or damaged in transit: compile here
        return 0
    with _LOCK:
        _DATABASES.update(loaded)
    return len(loaded)


#: Matches one text may report before its scan is cut short (see ``subset``).
CALLBACK_LIMIT = 64
#: Matches per line a batch may report before it is scanned line by line (``select``).
BATCH_CALLBACKS_PER_LINE = 16


def _collect(pattern: int, _start: int, _end: int, _flags: int, found: list[int]) -> bool:
    """Note a match; ask Hyperscan to stop once the text has reported too many."""
    found.append(pattern)
    return len(found) > CALLBACK_LIMIT


def _gather(pattern: int, _start: int, _end: int, _flags: int, found: list[int]) -> None:
    found.append(pattern)


class HyperscanPrefilter:
    """A batch pre-filter equivalent to (never narrower than) the pure one.

    Args:
        detectors: the detectors in force.
        catalog: their key names.
        pure: the pure pre-filter built from the same detectors, whose triggers this
            one compiles.
    """

    name = "hyperscan"

    def __init__(self, detectors: Sequence[Detector], catalog: KeyCatalog, pure: Prefilter) -> None:
        expressions: list[bytes] = []
        flags: list[int] = []
        owners: list[frozenset[int]] = []
        caseless = hyperscan.HS_FLAG_CASELESS
        for element, indices in pure.owners.items():
            kind = element[0]
            if kind == "anchor":
                expressions.append(re.escape(element[1]).encode())
                flags.append(0)
            elif kind == "shape":
                bounded = (element[1], element[2]) in pure.bounded
                expressions.append(shape_pattern(element[1], element[2], bounded).encode())
                flags.append(0)
            elif kind == "word":
                expressions.append(word_pattern(element[1]).encode())
                flags.append(caseless)
            elif kind == "keyed":
                expressions.append(key_pattern(catalog.terms).encode())
                flags.append(caseless)
            else:  # "always": no pattern; these detectors join every non-empty subset
                continue
            owners.append(indices)
        #: Detectors (by index) behind each pattern id.
        self._owners = tuple(owners)
        self._always = pure.owners.get(("always", ""), frozenset())
        self._empty = not expressions  # then only "always" detectors, handled above
        self._expressions = tuple(expressions)
        self._flags = tuple(flags)
        self._db = _database(self._expressions, self._flags)
        #: The same patterns, each reported at most once per scan: compiled on first use.
        self._flood: hyperscan.Database | None = None
        self._local = threading.local()
        self._unions: dict[frozenset[int], frozenset[int]] = {}

    def _scratch(self) -> hyperscan.Scratch:
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        return scratch

    def subset(self, text: str) -> frozenset[int]:
        """Return the indices of the detectors that can match in ``text``.

        The single-text path of logging integrations: one scan, the pattern ids it
        reports, and a cached union of their detectors.

        Hyperscan calls back into Python once per match, and hostile text (thousands of
        ``@``, long runs of digit groups) matches a trigger at nearly every byte: the
        callbacks alone then cost 20-50 times the scan. After :data:`CALLBACK_LIMIT`
        matches the scan stops and the text is scanned again with a database of the
        same patterns flagged ``HS_FLAG_SINGLEMATCH``, which reports each pattern once
        at most. That database is not the only one because the batch path needs every
        match to tell lines apart, and because it scans normal lines about 20 % slower
        (measured): normal lines report a handful of matches and never reach the limit.
        It is compiled the first time a text needs it (about a second, once per
        process), or loaded from the ahead-of-time directory.
        """
        if self._empty:
            return self._always
        patterns: list[int] = []
        scratch = self._local.__dict__.get("scratch") or self._scratch()
        try:
            # Positional arguments: the binding parses keywords by name on every call,
            # which is a measurable share of a call on a short log line.
            self._db.scan(text.encode("utf-8", "surrogatepass"), _collect, 0, patterns, scratch)  # type: ignore[arg-type]
        except hyperscan.ScanTerminated:
            return self._flood_subset(text)
        return self._union(frozenset(patterns)) if patterns else _NOTHING

    def _flood_subset(self, text: str) -> frozenset[int]:
        """:meth:`subset` of a text with too many matches: each pattern reported once."""
        flood = self._flood
        if flood is None:
            flood = self._flood = _database(self._expressions, single_match_flags(self._flags))
        local = self._local.__dict__
        scratch = local.get("flood_scratch")
        if scratch is None:
            scratch = local["flood_scratch"] = hyperscan.Scratch(flood)
        patterns: list[int] = []
        flood.scan(text.encode("utf-8", "surrogatepass"), _gather, 0, patterns, scratch)  # type: ignore[arg-type]
        return self._union(frozenset(patterns)) if patterns else _NOTHING

    def probe_function(self) -> Callable[[str], frozenset[int] | None]:
        r"""The per-record check of logging integrations, in one Python frame.

        :meth:`subset`, preceded by the JSON escape test (``\u0040`` and ``\/``
        decode to characters that triggers look for, so such a text gets None: "cannot
        vouch"), with every lookup bound in advance. Measured in a logging call, each
        frame and attribute lookup around the scan is a visible share of its cost.
        """
        if self._empty:
            always = self._always

            def constant(text: str) -> frozenset[int] | None:
                return None if "\\u" in text or "\\/" in text else always

            return constant
        scan = self._db.scan
        union = self._union
        local = self._local
        make_scratch = self._scratch
        flood = self._flood_subset
        terminated = hyperscan.ScanTerminated

        def probe(text: str) -> frozenset[int] | None:
            # One search for the backslash both escapes start with; most texts have none.
            if "\\" in text and ("\\u" in text or "\\/" in text):
                return None
            patterns: list[int] = []
            # threading.local: ``local.__dict__`` is the calling thread's own dict.
            scratch = local.__dict__.get("scratch") or make_scratch()
            try:
                scan(text.encode("utf-8", "surrogatepass"), _collect, 0, patterns, scratch)  # type: ignore[arg-type]
            except terminated:  # too many matches: see ``subset``
                return flood(text)
            return union(frozenset(patterns)) if patterns else _NOTHING

        return probe

    def _union(self, patterns: frozenset[int]) -> frozenset[int]:
        """The detectors behind a set of pattern ids (cached: few distinct sets occur)."""
        found = self._unions.get(patterns)
        if found is None:
            found = self._always.union(*(self._owners[p] for p in patterns))
            if len(self._unions) < 4096:
                self._unions[patterns] = found
        return found

    def select(self, texts: Sequence[str]) -> list[frozenset[int]]:
        """Return, per text, the detectors that can match in it (one pass over all).

        The batch is scanned once, start to end, with a callback per match that records
        the pattern against the match's line. Stopping at each line's first match and
        resuming would call back less, but every resumed scan pays a start-up cost
        that, measured, exceeds what the extra callbacks cost on realistic logs.
        """
        if self._empty or not texts:
            return [self._always] * len(texts) if self._always else [_NOTHING] * len(texts)
        encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
        starts = [0, *accumulate(len(chunk) + 1 for chunk in encoded)]
        hits: dict[int, set[int]] = {}
        # Realistic logs report well under one match per line; a batch of hostile lines
        # (see ``subset``) reports one per byte. Past this many, each line is scanned on
        # its own, where the single-match database takes over.
        limit = CALLBACK_LIMIT + BATCH_CALLBACKS_PER_LINE * len(texts)
        calls = 0

        def record(pattern: int, _start: int, end: int, _flags: int, _context: object) -> bool:
            nonlocal calls
            hits.setdefault(bisect_right(starts, end - 1) - 1, set()).add(pattern)
            calls += 1
            return calls > limit

        try:
            self._db.scan(b"\n".join(encoded), match_event_handler=record, scratch=self._scratch())
        except hyperscan.ScanTerminated:
            return [self.subset(text) for text in texts]
        result = [_NOTHING] * len(texts)
        for line, patterns in hits.items():
            result[line] = self._union(frozenset(patterns))
        return result
