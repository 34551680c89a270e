"""Multi-core scaling and memory flatness of ``python -m redactor``, as a deployed process.

Two questions from the throughput issue, both about the command line as operations run it (a
process reading stdin and writing stdout), not about the library in process:

1. **Does ``--workers 2`` buy a second core?** Same corpus file, ``--workers 1`` against
   ``--workers 2``, wall time, CPU time and memory of the whole run.
2. **Is memory flat on an endless stream?** Ten million lines through one process, its RSS
   sampled all along: a sidecar that grows by a few bytes per line dies of it after a week.

Scaling
-------
The corpus (``benchmarks.corpus.generate(--lines, --seed)``, 300,000 lines by default) is
written once to a temporary file, and every run is ``python -m redactor --workers N < file >
/dev/null``. ``--workers 1`` is the CLI's default: redaction in the main process.
``--workers 2`` starts two spawn-started worker processes and leaves the main process reading,
copying and writing (``--workers 0``, one per CPU, is the same as 2 on a 2-core machine, so it
is not run separately). One untimed round of each setting comes first and writes to temporary
files: both outputs must be byte-identical (sha256) and have as many lines as the input, or the
exit status is 1; that round also warms the page cache and ``__pycache__``, so no timed run
pays for being first. Then ``--reps`` rounds run both settings in ABBA order (1, 2 then 2, 1,
...), so a slow stretch of a shared machine, or a drift, hits both.

Each run goes through a small fork launcher, as in ``benchmarks.throughput``: on Linux a child
inherits its parent's RSS high-water mark across fork and exec, and this process holds the
corpus. The launcher takes the wall time from fork to reap, so interpreter start, policy
compile, worker start and shutdown are all in, and passes on what ``os.wait4`` says:

* **CPU s**: ``ru_utime + ru_stime`` of the CLI *and of every descendant it reaped*. The CLI
  kills and joins its workers when done, so their CPU is included. multiprocessing's resource
  tracker (an idle helper started with the workers) outlives the CLI by a moment and is not
  reaped by it; it costs milliseconds. CPU / wall above 1 means more than one core was busy.
* **peak RSS, largest process**: ``ru_maxrss`` from the same call, which Linux defines as the
  largest high-water mark among the CLI and its reaped descendants: one process, not a sum.
* **peak RSS, tree**: the sum of ``VmRSS`` over the CLI and all its descendants (workers and
  resource tracker; not the launcher), sampled from ``/proc`` every 50 ms by a thread here.
  Closer to what a container's memory limit sees, but a peak shorter than 50 ms can be missed
  and pages shared between processes (interpreter, libraries) count once per process.
* **others' cores**: the machine's busy CPU time over the run (``/proc/stat``, all cores,
  idle and iowait excluded) minus the run's own CPU, divided by its wall time: how many cores
  other processes took meanwhile (this process's sampler and the launcher add a few ms). A
  speed-up is only possible when at least two cores were left to the CLI.

lines/s and MB/s divide the input (lines; UTF-8 bytes without newlines, 10^6 bytes per MB) by
wall seconds, start-up included. The speed-up is workers=1 wall / workers=2 wall, from the
best runs and from the medians; when the two differ a lot, the run was noisy.

Memory
------
One ``python -m redactor`` (the CLI's default workers unless ``--memory-workers``) gets
``--memory-lines`` lines (10 million) on a pipe: a thread here writes a generated corpus of
``--memory-corpus-lines`` (100,000) over and over, another reads and discards the output,
counting its lines. Every ``--sample-interval`` seconds (1) the main thread reads ``VmRSS`` of
the CLI process and the sum over its process tree from ``/proc``, with the lines written and
read so far. When all input is written and its output read, one more sample is taken, then
stdin is closed. (With workers, the last few batches are written only at end of input; after
2 s without output the last sample is taken anyway; the memory run's lines/s then
includes those 2 s.)

Reported, in MiB (2^20 bytes): RSS at the first sample after 10 % of the lines came out (past
start-up, the policy compile and the first batches' allocations), at the end, the maximum, and
the growth, end minus first-10 %. The verdict is "flat" when the tree's growth is below
``--flat-mib`` (10 MiB): allocator noise and the redactor's bounded caches move RSS by a few
MiB, while a leak of 2 bytes per line shows over the 9 million lines after the first sample.
The input repeats every 100,000 lines, so a cache keyed on line content would fill during the
first repetition and look flat afterwards; the redactor's caches are bounded by size anyway.

Run from the repository root (Linux: ``/proc``, ``fork``, ``wait4``)::

    python -m benchmarks.scaling                                 # defaults, ~4 min
    python -m benchmarks.scaling --lines 100000 --memory-lines 1000000
    python -m benchmarks.scaling --memory-lines 0 --json s.json  # scaling only, figures as JSON
    python -m benchmarks.scaling --lines 0                       # memory only

Progress goes to stderr, the markdown tables to stdout. Exit status 1 when the outputs of the
two settings differ or a run failed (non-zero exit, timeout, wrong line count); a growing RSS
is reported in the verdict but does not set it.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchmarks.corpus import Corpus, generate
from benchmarks.throughput import ROOT, run_child
from benchmarks.throughput import _child_env as child_env

SCHEMA_VERSION = 1
MB = 1_000_000
MIB = 1024 * 1024
SETTINGS = (1, 2)
"""Worker counts compared: the issue asks about going from one core to two."""
TREE_SAMPLE_S = 0.05
STALL_S = 2.0
CHUNK = 1 << 20


class RunFailed(Exception):
    """A CLI child exited non-zero, timed out or produced the wrong number of lines."""


def say(msg: str) -> None:
    print(f"[scaling] {msg}", file=sys.stderr, flush=True)


def _stderr_tail(path: Path, lines: int = 3) -> str:
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    return " | ".join(text.splitlines()[-lines:])[:300]


# --------------------------------------------------------------------------------------------
# /proc
# --------------------------------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    """Direct children, from ``/proc/PID/task/*/children`` (each thread lists its own)."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return []
    kids: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", encoding="ascii") as fh:
                kids += [int(x) for x in fh.read().split()]
        except OSError:  # thread gone, or a kernel without CONFIG_PROC_CHILDREN
            continue
    return kids


def descendants(root: int) -> list[int]:
    """Every live descendant of ``root``, not ``root`` itself."""
    found: list[int] = []
    stack = [root]
    while stack:
        for kid in _children(stack.pop()):
            found.append(kid)
            stack.append(kid)
    return found


def rss_kib(pid: int) -> int:
    """Current ``VmRSS`` in KiB; 0 for a process that is gone or a zombie (no such line)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def busy_cpu_seconds() -> float:
    """CPU time all cores of the machine spent outside idle and iowait since boot."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class TreePeak:
    """Largest sum of ``VmRSS`` over a process's descendants, sampled by a thread."""

    def __init__(self, root: int, interval: float = TREE_SAMPLE_S) -> None:
        self.root = root
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> TreePeak:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            total = sum(rss_kib(pid) for pid in descendants(self.root))
            self.peak_kib = max(self.peak_kib, total)
            if self._stop.wait(self.interval):
                return


# --------------------------------------------------------------------------------------------
# Scaling
# --------------------------------------------------------------------------------------------

# The CLI starts through ``benchmarks.throughput.run_child``'s fork launcher: from its
# ~10 MiB high-water mark, not this process's, timed from fork to reap, with the rusage of
# ``wait4``.


@dataclass(frozen=True, slots=True)
class Run:
    """One timed CLI run."""

    workers: int
    seconds: float
    cpu_seconds: float
    peak_rss_mib: float
    tree_peak_mib: float | None
    others_cores: float


def run_cli(workers: int, src: Path, dst: Path, workdir: Path, timeout: float) -> Run:
    """``python -m redactor --workers N < src > dst`` through the launcher, killable as a group.

    Raises:
        RunFailed: non-zero exit or no exit within ``timeout`` seconds.
    """
    err = workdir / "cli.err"
    cmd = [sys.executable, "-m", "redactor", "--workers", str(workers)]
    trees: list[TreePeak] = []

    def watch(pid: int) -> TreePeak:
        trees.append(TreePeak(pid))
        return trees[-1]

    busy_before = busy_cpu_seconds()
    child = run_child(cmd, stdin=src, stdout=dst, stderr=err, timeout=timeout, watch=watch)
    busy = busy_cpu_seconds() - busy_before
    if child.timed_out:
        raise RunFailed(f"workers={workers}: no exit after {timeout:.0f} s")
    if child.seconds is None or child.cpu_seconds is None or child.peak_rss_mib is None:
        raise RunFailed(f"workers={workers}: launcher exit {child.returncode}")
    if child.returncode != 0:
        raise RunFailed(f"workers={workers}: exit {child.returncode}: {_stderr_tail(err)}")
    peak_kib = trees[0].peak_kib if trees else 0
    return Run(
        workers=workers,
        seconds=child.seconds,
        cpu_seconds=child.cpu_seconds,
        peak_rss_mib=child.peak_rss_mib,
        tree_peak_mib=peak_kib * 1024 / MIB if peak_kib else None,
        # Busy CPU of the machine minus the run's own: neighbours (and this process's sampler
        # and the launcher, a few ms) in average cores over the run.
        others_cores=max(0.0, busy - child.cpu_seconds) / child.seconds,
    )


@dataclass(frozen=True, slots=True)
class Setting:
    """All timed runs of one worker count, summarised."""

    workers: int
    wall_s: tuple[float, ...]
    cpu_s: tuple[float, ...]
    best_s: float
    median_s: float
    lines_per_s: float
    mb_per_s: float
    cpu_median_s: float
    cpu_per_wall: float
    peak_rss_mib: float
    tree_peak_mib: float | None
    others_cores: tuple[float, ...]

    @classmethod
    def of(cls, runs: list[Run], lines: int, nbytes: int) -> Setting:
        best = min(r.seconds for r in runs)
        trees = [r.tree_peak_mib for r in runs if r.tree_peak_mib is not None]
        return cls(
            workers=runs[0].workers,
            wall_s=tuple(r.seconds for r in runs),
            cpu_s=tuple(r.cpu_seconds for r in runs),
            best_s=best,
            median_s=statistics.median(r.seconds for r in runs),
            lines_per_s=lines / best,
            mb_per_s=nbytes / best / MB,
            cpu_median_s=statistics.median(r.cpu_seconds for r in runs),
            cpu_per_wall=statistics.median(r.cpu_seconds / r.seconds for r in runs),
            peak_rss_mib=max(r.peak_rss_mib for r in runs),
            tree_peak_mib=max(trees) if trees else None,
            others_cores=tuple(r.others_cores for r in runs),
        )


@dataclass(frozen=True, slots=True)
class Check:
    """The untimed round: one output file per setting, compared."""

    digests: dict[int, str]
    lines_out: dict[int, int]
    identical: bool
    planted_left: int
    planted: int


def _digest(path: Path) -> tuple[str, int]:
    """sha256 and newline count of a file, read in chunks."""
    sha, lines = hashlib.sha256(), 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            sha.update(chunk)
            lines += chunk.count(b"\n")
    return sha.hexdigest(), lines


def check_round(corpus: Corpus, src: Path, workdir: Path, timeout: float) -> Check:
    """Run each setting once into a file; compare hashes, count lines and surviving values."""
    digests: dict[int, str] = {}
    counts: dict[int, int] = {}
    for workers in SETTINGS:
        say(f"check round: --workers {workers} into a file")
        out = workdir / f"out-{workers}.log"
        run_cli(workers, src, out, workdir, timeout)
        digests[workers], counts[workers] = _digest(out)
    first = workdir / f"out-{SETTINGS[0]}.log"
    outputs = first.read_text(encoding="utf-8", errors="replace").split("\n")
    # Recall in one number: identical outputs say nothing if neither redacted anything.
    left = sum(
        1 for index, _, raw in corpus.planted if index < len(outputs) and raw in outputs[index]
    )
    for workers in SETTINGS:
        (workdir / f"out-{workers}.log").unlink()
    return Check(
        digests=digests,
        lines_out=counts,
        identical=len(set(digests.values())) == 1,
        planted_left=left,
        planted=len(corpus.planted),
    )


def measure_scaling(
    corpus: Corpus, reps: int, timeout: float, workdir: Path
) -> tuple[Check, dict[int, Setting]]:
    """The check round, then ``reps`` timed rounds in ABBA order."""
    src = workdir / "corpus.log"
    src.write_text("".join(line + "\n" for line in corpus.lines), encoding="utf-8")
    check = check_round(corpus, src, workdir, timeout)
    runs: dict[int, list[Run]] = {w: [] for w in SETTINGS}
    for rnd in range(reps):
        order = SETTINGS if rnd % 2 == 0 else SETTINGS[::-1]
        for workers in order:
            run = run_cli(workers, src, Path(os.devnull), workdir, timeout)
            say(
                f"round {rnd + 1}/{reps} --workers {workers}: {run.seconds:.2f} s wall, "
                f"{run.cpu_seconds:.2f} s CPU, other processes {run.others_cores:.2f} cores"
            )
            runs[workers].append(run)
    nbytes = corpus.nbytes
    return check, {w: Setting.of(r, len(corpus.lines), nbytes) for w, r in runs.items()}


# --------------------------------------------------------------------------------------------
# Memory
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    """One RSS reading of the streaming CLI, with how far the stream had got."""

    seconds: float
    lines_in: int
    lines_out: int
    cli_kib: int
    tree_kib: int


class _Pump:
    """Feeds the child's stdin and drains its stdout in two threads, counting lines each way."""

    def __init__(self, proc: subprocess.Popen[bytes], blob: bytes, full: int, tail: int) -> None:
        self.proc = proc
        self.blob, self.full, self.tail = blob, full, tail
        self.lines_in = 0
        self.lines_out = 0
        self.write_error: str | None = None
        self.written = threading.Event()
        self.writer = threading.Thread(target=self._write, name="feed", daemon=True)
        self.reader = threading.Thread(target=self._read, name="drain", daemon=True)
        self.writer.start()
        self.reader.start()

    def _write(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        view = memoryview(self.blob)
        try:
            for rep in range(self.full + 1):
                end = len(self.blob) if rep < self.full else self.tail
                for start in range(0, end, CHUNK):
                    stop = min(start + CHUNK, end)
                    stdin.write(view[start:stop])
                    self.lines_in += self.blob.count(b"\n", start, stop)
            stdin.flush()
        except OSError as exc:  # broken pipe: the child died, its exit status tells why
            self.write_error = f"{type(exc).__name__}: {exc}"
        finally:
            self.written.set()

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        fd = stdout.fileno()
        while chunk := os.read(fd, CHUNK):
            self.lines_out += chunk.count(b"\n")


@dataclass(frozen=True, slots=True)
class Memory:
    """The streaming run: samples and the figures read off them."""

    lines: int
    workers: int | None
    seconds: float
    flat_mib: float
    samples: tuple[Sample, ...]

    def first_after(self, share: float) -> Sample | None:
        """The first sample taken once ``share`` of the lines had come out."""
        return next((s for s in self.samples if s.lines_out >= share * self.lines), None)

    @property
    def growth_mib(self) -> float | None:
        """Tree RSS at the end minus after the first 10 %; None if the run was too short."""
        first = self.first_after(0.10)
        if first is None or first is self.samples[-1]:
            return None
        return (self.samples[-1].tree_kib - first.tree_kib) / 1024

    @property
    def verdict(self) -> str:
        growth = self.growth_mib
        if growth is None:
            return "n/a: no sample between 10 % of the lines and the end (more --memory-lines)"
        if growth < self.flat_mib:
            return f"flat (tree grew {growth:+.1f} MiB < {self.flat_mib:g} MiB)"
        return f"GROWING (tree grew {growth:+.1f} MiB >= {self.flat_mib:g} MiB)"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        first = self.first_after(0.10)
        data["first_10pct"] = None if first is None else asdict(first)
        data["end"] = asdict(self.samples[-1])
        data["max_tree_kib"] = max(s.tree_kib for s in self.samples)
        data["growth_mib"] = self.growth_mib
        data["verdict"] = self.verdict
        return data


def measure_memory(
    corpus: Corpus,
    total: int,
    workers: int | None,
    interval: float,
    flat_mib: float,
    timeout: float,
    workdir: Path,
) -> Memory:
    """Stream ``total`` lines (``corpus`` repeated) through one CLI, sampling its RSS.

    Raises:
        RunFailed: the child failed, timed out or wrote the wrong number of lines.
    """
    blob = "".join(line + "\n" for line in corpus.lines).encode("utf-8")
    full, rest = divmod(total, len(corpus.lines))
    tail = len("".join(line + "\n" for line in corpus.lines[:rest]).encode("utf-8"))
    cmd = [sys.executable, "-m", "redactor"]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    err = workdir / "memory.err"
    with err.open("wb") as ferr:
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=ferr,
            env=child_env(),
            cwd=ROOT,
            start_new_session=True,
        )
    pump = _Pump(proc, blob, full, tail)
    samples: list[Sample] = []
    start = time.perf_counter()

    def sample() -> None:
        cli = rss_kib(proc.pid)
        tree = cli + sum(rss_kib(pid) for pid in descendants(proc.pid))
        samples.append(
            Sample(time.perf_counter() - start, pump.lines_in, pump.lines_out, cli, tree)
        )

    next_sample, next_say = start, start + 10
    last_out, last_change = -1, start
    try:
        while True:
            now = time.perf_counter()
            if now >= next_sample:
                sample()
                next_sample += interval
            if now >= next_say:
                rss = samples[-1].tree_kib / 1024
                say(f"memory: {pump.lines_out:,}/{total:,} lines out, tree RSS {rss:.1f} MiB")
                next_say += 10
            if pump.lines_out != last_out:
                last_out, last_change = pump.lines_out, now
            if proc.poll() is not None:
                break
            if pump.written.is_set() and (pump.lines_out >= total or now - last_change > STALL_S):
                sample()  # the end sample, before end of input lets the process exit
                break
            if now - start > timeout:
                raise RunFailed(f"memory run: not done after {timeout:.0f} s")
            time.sleep(0.05)
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        try:
            proc.wait(timeout=max(1.0, timeout - (time.perf_counter() - start)))
        except subprocess.TimeoutExpired:
            raise RunFailed(f"memory run: no exit after {timeout:.0f} s") from None
        seconds = time.perf_counter() - start
        pump.reader.join()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:
        raise RunFailed(f"memory run: exit {proc.returncode}: {_stderr_tail(err)}")
    if pump.lines_out != total:
        raise RunFailed(f"memory run: {pump.lines_out:,} lines out for {total:,} in")
    return Memory(total, workers, seconds, flat_mib, tuple(samples))


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def render_scaling(check: Check, settings: dict[int, Setting], lines: int, nbytes: int) -> str:
    out = [
        f"## Scaling: python -m redactor, {lines:,} lines, {nbytes / MB:.1f} MB",
        "",
        "| workers | runs | best s | median s | lines/s (best) | MB/s (best) | CPU s (median) "
        "| CPU / wall | others' cores (median) | peak RSS MiB, largest process "
        "| peak RSS MiB, tree (sampled) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in settings.values():
        out.append(
            f"| {s.workers} | {len(s.wall_s)} | {s.best_s:.2f} | {s.median_s:.2f} "
            f"| {s.lines_per_s:,.0f} | {s.mb_per_s:.2f} | {s.cpu_median_s:.2f} "
            f"| {s.cpu_per_wall:.2f} | {statistics.median(s.others_cores):.2f} "
            f"| {s.peak_rss_mib:.0f} | {_fmt(s.tree_peak_mib, '.0f')} |"
        )
    one, two = settings[SETTINGS[0]], settings[SETTINGS[1]]
    out += [
        "",
        f"Speed-up workers={two.workers} / workers={one.workers}: "
        f"best {one.best_s / two.best_s:.2f}x, median {one.median_s / two.median_s:.2f}x.",
        "",
        "Wall s per round (ABBA order): "
        + "; ".join(
            f"workers={s.workers}: " + " ".join(f"{x:.2f}" for x in s.wall_s)
            for s in settings.values()
        ),
        "",
        "Output check (untimed round into files): "
        + ", ".join(
            f"workers={w} sha256 {d[:16]}… {check.lines_out[w]:,} lines"
            for w, d in check.digests.items()
        )
        + (" — **identical**" if check.identical else " — **DIFFERENT**")
        + f"; planted values left in the output: {check.planted_left}/{check.planted}.",
        "",
        "Wall: fork to reap, interpreter start and worker start included. CPU: user + system of "
        "the CLI and its reaped workers (wait4). Others' cores: the machine's busy CPU time "
        "during the run (/proc/stat) minus the run's own, over wall time; on a 2-core machine "
        "1.0 leaves the CLI one core, and workers=2 cannot win. Largest process: wait4 "
        "ru_maxrss, the biggest single process of the tree. Tree: sum of VmRSS over the CLI "
        f"and its descendants, sampled every {TREE_SAMPLE_S * 1000:.0f} ms.",
    ]
    return "\n".join(out)


def render_memory(mem: Memory, corpus_lines: int) -> str:
    end = mem.samples[-1]
    first = mem.first_after(0.10)
    workers = "CLI default" if mem.workers is None else str(mem.workers)

    def row(name: str, sample: Sample | None) -> str:
        if sample is None:
            return f"| {name} | n/a | n/a | n/a |"
        return (
            f"| {name} | {sample.lines_out:,} | {sample.cli_kib / 1024:.1f} "
            f"| {sample.tree_kib / 1024:.1f} |"
        )

    growth = None if first is None else ((end.cli_kib - first.cli_kib) / 1024, mem.growth_mib)
    out = [
        f"## Memory: {mem.lines:,} lines through one process (workers: {workers})",
        "",
        "| sample | lines out | RSS MiB, CLI process | RSS MiB, tree |",
        "|---|---:|---:|---:|",
        row("after first 10 % of lines", first),
        row("end", end),
        f"| max | | {max(s.cli_kib for s in mem.samples) / 1024:.1f} "
        f"| {max(s.tree_kib for s in mem.samples) / 1024:.1f} |",
        "| growth, end − first 10 % | | "
        + ("n/a | n/a |" if growth is None else f"{growth[0]:+.1f} | {_fmt(growth[1], '+.1f')} |"),
        "",
        f"Verdict: **{mem.verdict}**.",
        "",
    ]
    marks: list[tuple[str, Sample | None]] = [("start", mem.samples[0])]
    marks += [(f"{k}0 %", mem.first_after(k / 10)) for k in range(1, 10)]
    marks.append(("end", end))
    out.append(
        "Tree RSS MiB by share of lines out: "
        + " | ".join(f"{name} {_fmt(s.tree_kib / 1024 if s else None, '.1f')}" for name, s in marks)
    )
    out += [
        "",
        f"{len(mem.samples)} samples; {mem.seconds:.1f} s, {mem.lines / mem.seconds:,.0f} lines/s "
        f"(input: a {corpus_lines:,}-line corpus repeated).",
    ]
    return "\n".join(out)


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    """Scaling first, then memory; both reported even when one fails."""
    meta: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "seed": args.seed,
        "lines": args.lines,
        "reps": args.reps,
        "memory_lines": args.memory_lines,
        "memory_corpus_lines": args.memory_corpus_lines,
    }
    payload: dict[str, Any] = {"schema": SCHEMA_VERSION, "meta": meta}
    failures: list[str] = []
    sections: list[str] = []
    with tempfile.TemporaryDirectory(prefix="redactor-scaling-") as tmp:
        workdir = Path(tmp)
        if args.lines > 0:
            say(f"generating {args.lines:,} lines (seed {args.seed})")
            corpus = generate(args.lines, args.seed)
            try:
                check, settings = measure_scaling(corpus, args.reps, args.timeout, workdir)
            except RunFailed as exc:
                failures.append(str(exc))
            else:
                nbytes = corpus.nbytes
                sections.append(render_scaling(check, settings, args.lines, nbytes))
                one, two = settings[SETTINGS[0]], settings[SETTINGS[1]]
                payload["scaling"] = {
                    "check": asdict(check),
                    "settings": {str(w): asdict(s) for w, s in settings.items()},
                    "speedup_best": one.best_s / two.best_s,
                    "speedup_median": one.median_s / two.median_s,
                }
                if not check.identical:
                    failures.append("outputs of --workers 1 and --workers 2 differ")
                if any(n != args.lines for n in check.lines_out.values()):
                    failures.append(f"line counts {check.lines_out} for {args.lines} in")
            del corpus
        if args.memory_lines > 0:
            say(f"generating the {args.memory_corpus_lines:,}-line memory corpus")
            corpus = generate(args.memory_corpus_lines, args.seed)
            say(f"memory: streaming {args.memory_lines:,} lines")
            try:
                mem = measure_memory(
                    corpus,
                    args.memory_lines,
                    args.memory_workers,
                    args.sample_interval,
                    args.flat_mib,
                    args.memory_timeout,
                    workdir,
                )
            except RunFailed as exc:
                failures.append(str(exc))
            else:
                sections.append(render_memory(mem, args.memory_corpus_lines))
                payload["memory"] = mem.to_json()
    if failures:
        sections.append("Failures:\n\n" + "\n".join(f"- {f}" for f in failures))
    payload["failures"] = failures
    print("\n\n".join(sections))
    if args.json:
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        say(f"wrote {args.json}")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run; exit status 1 on differing outputs or a failed run."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("--lines", type=int, default=300_000, help="scaling corpus lines, 0 skips (300000)")
    add("--reps", type=int, default=3, help="timed rounds per setting (3)")
    add("--seed", type=int, default=7)
    add("--timeout", type=float, default=600.0, help="per scaling run, seconds (600)")
    add("--memory-lines", type=int, default=10_000_000, help="streamed lines, 0 skips (10M)")
    add("--memory-corpus-lines", type=int, default=100_000, help="repeated corpus (100000)")
    add("--memory-workers", type=int, help="--workers for the memory run (CLI default)")
    add("--sample-interval", type=float, default=1.0, help="RSS sampling, seconds (1)")
    add("--flat-mib", type=float, default=10.0, help="growth below this is flat (10)")
    add("--memory-timeout", type=float, default=3600.0, help="memory run, seconds (3600)")
    add("--json", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.memory_corpus_lines < 1 or args.sample_interval <= 0:
        parser.error("--reps and --memory-corpus-lines must be >= 1, --sample-interval > 0")
    if not (hasattr(os, "fork") and hasattr(os, "wait4") and Path("/proc/self/status").exists()):
        parser.error("needs Linux: fork, wait4 and /proc")
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
