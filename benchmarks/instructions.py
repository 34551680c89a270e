"""Instructions per log record, with and without redaction, counted by Valgrind.

Wall-clock ratios on a shared machine move by 10 % or more between runs, so changes of
a few percent to the logging integrations cannot be told apart by timing them. An
instruction count can: it is the same from run to run once string hashing is fixed
(``PYTHONHASHSEED=0``; with random hashing, runs of one commit differ by about 2k
instructions a record) and the cyclic collector is off.

For each record shape of :mod:`benchmarks.logging_overhead` and each stack, a child
process logs ``--small`` and then, in a second run, ``--large`` records under
``valgrind --tool=callgrind``; the difference, divided by the difference in records,
is the cost of one record with start-up and set-up cancelled out. Each child starts
from a Hyperscan database compiled ahead of time (``python -m redactor precompile``),
since compiling it under Valgrind takes minutes.

Instruction counts leave out what the time ratios show: cache misses. Measured, the
work redaction adds to a clean record is 15-20 % of a plain logging call's
instructions and about 40 % of its time. Use this to compare two versions of the
code, and ``logging_overhead`` for what users pay.

Needs ``valgrind`` (``apt-get install valgrind``); not run in CI. Run from the
repository root::

    python -m benchmarks.instructions --shapes access,extras,card --stacks stdlib
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks.logging_overhead import SHAPES, STACKS, shape_calls

ROOT = Path(__file__).resolve().parent.parent
_REFS = re.compile(r"refs:\s+([\d,]+)")
_WARM = 50


def child(stack: str, shape: str, redact: bool, records: int) -> None:
    """Log ``records`` records of ``shape`` after a warm-up (the counted process)."""
    calls = shape_calls(shape, _WARM + records)
    run = STACKS[stack](calls, redact)
    gc.disable()
    run(0, _WARM)
    run(_WARM, _WARM + records)


def count(args: list[str], cache: str) -> int:
    """Instructions Valgrind counted for one child run."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "REDACTOR_HYPERSCAN_CACHE": cache}
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                "-m",
                "benchmarks.instructions",
                "--child",
                *args,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    found = _REFS.search(proc.stderr)
    if proc.returncode != 0 or found is None:
        tail = proc.stderr.strip().splitlines()[-3:]
        raise RuntimeError(f"child {' '.join(args)} failed: {' | '.join(tail)}")
    return int(found.group(1).replace(",", ""))


def per_record(stack: str, shape: str, redact: bool, small: int, large: int, cache: str) -> float:
    """Instructions of one record: the difference of two runs over their record counts."""
    side = "1" if redact else "0"
    low = count([stack, shape, side, str(small)], cache)
    high = count([stack, shape, side, str(large)], cache)
    return (high - low) / (large - small)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=4, metavar=("STACK", "SHAPE", "REDACT", "N"))
    parser.add_argument("--shapes", default=",".join(SHAPES), help="comma-separated")
    parser.add_argument("--stacks", default=",".join(STACKS), help="comma-separated")
    parser.add_argument("--small", type=int, default=100, help="records in the short run")
    parser.add_argument("--large", type=int, default=1100, help="records in the long run")
    parser.add_argument("--jobs", type=int, default=2, help="Valgrind runs at once")
    args = parser.parse_args(argv)

    if args.child:
        stack, shape, redact, records = args.child
        child(stack, shape, redact == "1", int(records))
        return 0
    shapes = [s for s in args.shapes.split(",") if s]
    stacks = [s for s in args.stacks.split(",") if s]
    unknown = sorted(set(shapes) - set(SHAPES)) + sorted(set(stacks) - set(STACKS))
    if unknown:
        parser.error(f"unknown shape or stack: {', '.join(unknown)}")
    if not args.small < args.large:
        parser.error("--small must be below --large")
    if shutil.which("valgrind") is None:
        print("benchmarks.instructions: valgrind is not installed", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory() as cache:
        subprocess.run(
            [sys.executable, "-m", "redactor", "precompile", "--cache", cache],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        jobs = [
            (stack, shape, redact)
            for shape in shapes
            for stack in stacks
            for redact in (False, True)
        ]
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            counts = list(
                pool.map(
                    lambda job: per_record(job[0], job[1], job[2], args.small, args.large, cache),
                    jobs,
                )
            )
    results = dict(zip(jobs, counts, strict=True))

    print(
        f"\nInstructions per record (callgrind, {args.large - args.small} records, "
        f"PYTHONHASHSEED=0, GC off), Python {sys.version.split()[0]}\n"
    )
    print("| stack | shape | plain | redacted | added | ratio |")
    print("|---|---|---:|---:|---:|---:|")
    for shape in shapes:
        for stack in stacks:
            plain, redacted = results[(stack, shape, False)], results[(stack, shape, True)]
            print(
                f"| {stack} | {shape} | {plain:,.0f} | {redacted:,.0f} | "
                f"{redacted - plain:,.0f} | {redacted / plain:.2f}x |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
