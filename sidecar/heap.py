"""Garbage-collector settings for a long-running pipeline process.

After start-up a sidecar process holds tens of thousands of objects that live as long
as it does (imported modules, the compiled redactor's patterns and tables, the config),
and every full collection walks all of them again. Per batch it creates thousands of
short-lived containers (parsed events, lines, tuples), which trigger a collection every
700 allocations by default. :func:`settle` moves the start-up objects out of the
collector's sight (``gc.freeze``) and collects young objects less often; cycles are
still collected, only in larger steps. Measured on the sidecar benchmark: see the
project README's performance section.
"""

from __future__ import annotations

import gc

__all__ = ["settle"]

#: Allocations between young-generation collections (CPython's default is 700).
YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Call once, when start-up is done: freeze what exists, collect young objects less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
