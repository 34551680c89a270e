"""The garbage-collector settings a sidecar process applies once started."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]

_CHILD = """
import gc, sys
from sidecar import heap
before = gc.get_threshold()
kept = [{"i": i} for i in range(1000)]   # start-up objects
heap.settle()
after = gc.get_threshold()
frozen = gc.get_freeze_count()
# Cycles made after start-up are still collected.
class Node:
    pass
for _ in range(50_000):
    a, b = Node(), Node()
    a.b, b.a = b, a
del a, b
# 100,000 nodes in cycles were made: without automatic collection they would all be here.
alive = sum(isinstance(o, Node) for o in gc.get_objects())
print(after[0] == heap.YOUNG_THRESHOLD, after[1:] == before[1:], frozen >= 1000, alive < 30_000)
"""


def test_settle_freezes_start_up_objects_and_still_collects_cycles() -> None:
    """Start-up objects leave the collector's sight; later garbage cycles are still freed."""
    out = subprocess.run(
        [sys.executable, "-c", _CHILD],
        capture_output=True,
        check=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    ).stdout.split()
    assert out == ["True", "True", "True", "True"]
