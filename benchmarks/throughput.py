"""Throughput and recall of the redactor against the hand-written baseline, in one run.

Absolute lines/s on a shared, noisy machine say little; the ratio to a baseline measured seconds
earlier in the same process on the same bytes says a lot, and is what a CI gate can compare
across runs. So every figure here comes with ``x baseline``, the baseline and the redactor take
turns on slices of the corpus (see :func:`measure_core`), in-process timings are the best of
several repetitions (the minimum is the run least disturbed by neighbours), and recall is scored
on the same outputs that were timed, so a fast path that silently stops redacting cannot look
like a win.

Run from the repository root::

    python -m benchmarks.throughput                 # 100k lines, best of 3
    python -m benchmarks.throughput --quick         # 20k lines, 1 repetition
    python -m benchmarks.throughput --json out.json # also write the figures for a CI gate

The adversarial corpus runs in a child process with a timeout: a catastrophically backtracking
pattern cannot be interrupted from inside ``re``, and a benchmark that hangs CI is worse than one
that reports "timeout in shape X".
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchmarks.baseline import HandWrittenFilter
from benchmarks.corpus import KINDS, Corpus, adversarial_labeled, generate
from benchmarks.peers import PEERS, Peer, head, versions

try:  # resource is POSIX-only; the benchmark should still run (minus RSS) elsewhere.
    import resource
except ImportError:  # pragma: no cover - Windows
    resource = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
"""Repository root: both the in-process import and the CLI child must see the same redactor."""

SCHEMA_VERSION = 1
MB = 1_000_000
MAX_MISSES_KEPT = 20


class RedactorLike(Protocol):
    """The slice of the redactor API this benchmark depends on, so the contract is explicit."""

    def redact(self, text: str) -> str: ...

    def redact_lines(self, lines: Sequence[str]) -> list[str]: ...


@dataclass
class Result:
    """One row of the report; also the JSON record a CI gate reads, hence flat and explicit."""

    key: str
    label: str
    status: str = "ok"  # ok | error | unavailable | timeout | mismatch
    error: str | None = None
    lines: int = 0
    nbytes: int = 0
    seconds: float | None = None
    recall: float | None = None
    recall_by_kind: dict[str, list[int]] = field(default_factory=dict)
    missed: list[dict[str, Any]] = field(default_factory=list)
    ratio_vs_baseline: float | None = None
    per_byte_vs_normal: float | None = None
    peak_rss_mib: float | None = None
    by_shape: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def lines_per_s(self) -> float | None:
        """None unless the row succeeded, so a failed row can never produce a ratio."""
        return self.lines / self.seconds if self.ok and self.seconds else None

    @property
    def mb_per_s(self) -> float | None:
        return self.nbytes / self.seconds / MB if self.ok and self.seconds else None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        """Include the derived rates so a CI gate needs no knowledge of how they are computed."""
        data = asdict(self)
        data["lines_per_s"] = self.lines_per_s
        data["mb_per_s"] = self.mb_per_s
        return data


# --------------------------------------------------------------------------------------------
# Measurement helpers
# --------------------------------------------------------------------------------------------


def peak_rss_mib() -> float | None:
    """High-water RSS so far; a monotone figure, so each row shows the peak *up to* that row."""
    if resource is None:
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # Linux reports KiB, macOS bytes.
    scale = 1 if sys.platform == "darwin" else 1024
    return usage.ru_maxrss * scale / (1024 * 1024)


def best_of(fn: Callable[[], list[str]], reps: int) -> tuple[float, list[str]]:
    """Minimum wall time over ``reps`` runs; on a shared box the minimum is the least noisy."""
    best = float("inf")
    out: list[str] = []
    for _ in range(max(1, reps)):
        out = []  # release the previous output before timing, as a steady-state process would
        gc.collect()
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def score(corpus: Corpus, outputs: Sequence[str], result: Result) -> None:
    """Recall = share of planted raw values no longer present in their (redacted) line."""
    if len(outputs) != len(corpus.lines):
        result.status = "mismatch"
        result.error = f"{len(outputs)} output lines for {len(corpus.lines)} input lines"
        return
    by_kind = {kind: [0, 0] for kind in KINDS}
    found = 0
    for index, kind, raw in corpus.planted:
        by_kind[kind][1] += 1
        if raw not in outputs[index]:
            by_kind[kind][0] += 1
            found += 1
        elif len(result.missed) < MAX_MISSES_KEPT:
            result.missed.append({"line": index, "kind": kind, "raw": raw})
    result.recall = found / len(corpus.planted) if corpus.planted else None
    result.recall_by_kind = by_kind


def _first_failure(fn: Callable[[str], str], lines: Sequence[str]) -> str:
    """Name the offending line index after a crash; done untimed, so the loop can stay tight."""
    for index, line in enumerate(lines):
        try:
            fn(line)
        except Exception as exc:
            return f"line {index}: {type(exc).__name__}: {exc}"[:500]
    return "not reproducible line by line"


def measure_per_line(
    key: str, label: str, fn: Callable[[str], str], corpus: Corpus, reps: int
) -> Result:
    """Per-line calls in a list comprehension: the cheapest loop a caller could write."""
    result = Result(key=key, label=label, lines=len(corpus.lines), nbytes=corpus.nbytes)
    lines = corpus.lines
    try:
        for line in lines[:200]:  # warm caches / lazy compilation outside the timed region
            fn(line)
        result.seconds, outputs = best_of(_per_line(fn, lines), reps)
    except Exception as exc:
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"[:300]
        result.error += f" ({_first_failure(fn, lines)})"
        return result
    score(corpus, outputs, result)
    result.peak_rss_mib = peak_rss_mib()
    return result


def measure_batched(
    redactor: RedactorLike,
    corpus: Corpus,
    reps: int,
    batch: int,
    *,
    key: str = "redact_lines",
    label: str | None = None,
) -> Result:
    """``redact_lines`` on pre-sliced batches, so slicing cost is not charged to the library."""
    result = Result(
        key=key,
        label=label or f"Redactor.redact_lines (batches of {batch})",
        lines=len(corpus.lines),
        nbytes=corpus.nbytes,
    )
    batches = [corpus.lines[i : i + batch] for i in range(0, len(corpus.lines), batch)]

    def run() -> list[str]:
        out: list[str] = []
        redact_lines = redactor.redact_lines
        for chunk in batches:
            out.extend(redact_lines(chunk))
        return out

    try:
        redactor.redact_lines(corpus.lines[:200])
        result.seconds, outputs = best_of(run, reps)
    except Exception as exc:
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"[:300]
        return result
    score(corpus, outputs, result)
    result.peak_rss_mib = peak_rss_mib()
    return result


def measure_core(
    redactor: RedactorLike,
    corpus: Corpus,
    reps: int,
    batch: int,
    slice_lines: int,
    engines_by_backend: dict[str, RedactorLike] | None = None,
) -> list[Result]:
    """The baseline, ``Redactor.redact`` and ``redact_lines`` timed side by side.

    These machines change speed by tens of percent within a minute, and the baseline
    alone takes several seconds per repetition: timed one after the other, the three
    rows caught different machines (two runs of one commit gave 10.2x and 7.0x). So
    the corpus is cut into slices of ``slice_lines`` (whole batches), each slice is
    run through the three engines in turn, each engine keeps its best time per slice
    over ``reps`` rounds, and the slices are summed: a burst of load then costs one
    slice's timing, and all engines see the same machine within seconds.

    ``engines_by_backend`` adds a ``redact_lines`` row per pre-filter backend (the pure
    Python one, which every install has, and Hyperscan), timed the same way.
    """
    engines: dict[str, Callable[[Sequence[str]], list[str]]] = {
        "baseline": _per_line_of(HandWrittenFilter().redact),
        "redact": _per_line_of(redactor.redact),
        "redact_lines": _batched_of(redactor, batch),
    }
    labels = {
        "baseline": "baseline: HandWrittenFilter.redact per line",
        "redact": "Redactor.redact per line",
        "redact_lines": f"Redactor.redact_lines (batches of {batch})",
    }
    for name, other in (engines_by_backend or {}).items():
        engines[f"redact_lines_{name}"] = _batched_of(other, batch)
        labels[f"redact_lines_{name}"] = f"Redactor.redact_lines, backend={name!r}"
    results = {
        key: Result(key=key, label=label, lines=len(corpus.lines), nbytes=corpus.nbytes)
        for key, label in labels.items()
    }
    size = max(batch, slice_lines // batch * batch)
    slices = [corpus.lines[i : i + size] for i in range(0, len(corpus.lines), size)]
    best = {key: [float("inf")] * len(slices) for key in engines}
    outputs: dict[str, list[list[str]]] = {key: [[] for _ in slices] for key in engines}
    failed: set[str] = set()
    for key, fn in engines.items():
        try:
            fn(corpus.lines[:200])  # warm caches / lazy compilation outside the timing
        except Exception as exc:
            results[key].status, results[key].error = "error", f"{type(exc).__name__}: {exc}"
            failed.add(key)
    clock = time.perf_counter
    for _ in range(max(1, reps)):
        gc.collect()
        for index, lines in enumerate(slices):
            for key, fn in engines.items():
                if key in failed:
                    continue
                outputs[key][index] = []  # release the previous output before timing
                try:
                    start = clock()
                    out = fn(lines)
                    elapsed = clock() - start
                except Exception as exc:
                    results[key].status = "error"
                    results[key].error = f"{type(exc).__name__}: {exc}"[:300]
                    failed.add(key)
                    continue
                outputs[key][index] = out
                best[key][index] = min(best[key][index], elapsed)
    for key, result in results.items():
        if key in failed:
            continue
        result.seconds = sum(best[key])
        score(corpus, [line for part in outputs[key] for line in part], result)
        result.peak_rss_mib = peak_rss_mib()
    return list(results.values())


def _per_line_of(fn: Callable[[str], str]) -> Callable[[Sequence[str]], list[str]]:
    def run(lines: Sequence[str]) -> list[str]:
        return [fn(line) for line in lines]

    return run


def _batched_of(redactor: RedactorLike, batch: int) -> Callable[[Sequence[str]], list[str]]:
    def run(lines: Sequence[str]) -> list[str]:
        out: list[str] = []
        redact_lines = redactor.redact_lines
        for start in range(0, len(lines), batch):
            out.extend(redact_lines(lines[start : start + batch]))
        return out

    return run


def _child_env() -> dict[str, str]:
    """Make the child import the working tree's redactor, exactly like the in-process rows."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


# A child started by this process inherits its RSS high-water mark on Linux (fork copies the
# counter, exec keeps it), so the CLI would "use" as much memory as the benchmark holding the
# corpus. This tiny launcher forks once more: the grandchild starts from the launcher's ~10 MiB,
# and ``os.wait4`` gives its own rusage (peak RSS, CPU seconds). The launcher also takes the
# wall time, so the figure covers fork, exec, interpreter start and the run, but not the
# launcher's own start-up.
_LAUNCHER = """
import json, os, sys, time
report, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(report, "w") as fh:
    json.dump({"seconds": time.perf_counter() - start,
               "returncode": os.waitstatus_to_exitcode(status),
               "maxrss": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}, fh)
"""


@dataclass
class ChildRun:
    """Outcome of one measured child process."""

    seconds: float | None = None
    returncode: int | None = None
    peak_rss_mib: float | None = None
    cpu_seconds: float | None = None
    timed_out: bool = False


def run_child(
    cmd: list[str],
    *,
    stdin: Path | None,
    stdout: Path,
    stderr: Path,
    timeout: float,
    watch: Callable[[int], AbstractContextManager[object]] | None = None,
) -> ChildRun:
    """Run ``cmd`` with files as stdio, timed and with its own peak RSS, killable as a group.

    ``watch(pid)`` (the launcher's pid) is entered while the child runs: a sampler of
    the process tree, for instance.
    """
    has_fork = hasattr(os, "fork") and hasattr(os, "wait4")
    report = stderr.with_suffix(".launch.json")  # stdout may be /dev/null
    report.unlink(missing_ok=True)  # never read a previous repetition's figures
    argv = [sys.executable, "-c", _LAUNCHER, str(report), *cmd] if has_fork else cmd
    run = ChildRun()
    with (
        stdin.open("rb") if stdin else open(os.devnull, "rb") as fin,
        stdout.open("wb") as fout,
        stderr.open("wb") as ferr,
    ):
        start = time.perf_counter()
        proc = subprocess.Popen(
            argv,
            stdin=fin,
            stdout=fout,
            stderr=ferr,
            env=_child_env(),
            cwd=ROOT,
            start_new_session=has_fork,  # so a timeout can kill launcher and grandchild together
        )
        try:
            with watch(proc.pid) if watch is not None else contextlib.nullcontext():
                proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            if has_fork:
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover - non-POSIX
                proc.kill()
            proc.wait()
            run.timed_out = True
            return run
        elapsed = time.perf_counter() - start
    if not has_fork:  # pragma: no cover - non-POSIX: no clean RSS, parent-side wall time
        run.seconds, run.returncode = elapsed, proc.returncode
        return run
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        run.returncode = proc.returncode or 1
        return run
    run.seconds, run.returncode = data["seconds"], data["returncode"]
    scale = 1 if sys.platform == "darwin" else 1024
    run.peak_rss_mib = data["maxrss"] * scale / (1024 * 1024)
    run.cpu_seconds = data["cpu"]
    return run


def _stderr_tail(path: Path, lines: int = 3) -> str:
    return " | ".join(
        path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-lines:]
    )


def measure_startup(reps: int, workdir: Path) -> float | None:
    """Interpreter start + ``import redactor``: the fixed cost hidden in the CLI row."""
    best = float("inf")
    out, err = workdir / "startup.out", workdir / "startup.err"
    for _ in range(max(1, reps)):
        cmd = [sys.executable, "-c", "import redactor"]
        run = run_child(cmd, stdin=None, stdout=out, stderr=err, timeout=120)
        if run.returncode != 0 or run.seconds is None:
            return None
        best = min(best, run.seconds)
    return best


def measure_cli(corpus: Corpus, src: Path, workdir: Path, reps: int, timeout: float) -> Result:
    """``python -m redactor < src > dst``: wall time including interpreter start, as ops see it."""
    result = Result(
        key="cli",
        label="CLI python -m redactor (wall, incl. startup)",
        lines=len(corpus.lines),
        nbytes=corpus.nbytes,
    )
    dst, err = workdir / "redacted.log", workdir / "cli.err"
    best, peak = float("inf"), 0.0
    for _ in range(max(1, reps)):
        run = run_child(
            [sys.executable, "-m", "redactor"], stdin=src, stdout=dst, stderr=err, timeout=timeout
        )
        if run.timed_out:
            result.status, result.error = "timeout", f"no exit after {timeout:.0f} s"
            return result
        if run.returncode != 0 or run.seconds is None:
            result.status = "error"
            result.error = f"exit {run.returncode}: {_stderr_tail(err)}"[:300]
            return result
        best = min(best, run.seconds)
        peak = max(peak, run.peak_rss_mib or 0.0)
    result.seconds = best
    result.peak_rss_mib = peak or None
    text = dst.read_text(encoding="utf-8", errors="replace")
    outputs = text.split("\n")
    if text.endswith("\n"):
        outputs.pop()
    score(corpus, outputs, result)
    return result


# --------------------------------------------------------------------------------------------
# Adversarial corpus, in a child process so a hang becomes a reported timeout.
# --------------------------------------------------------------------------------------------


def _per_line(fn: Callable[[str], str], lines: Sequence[str]) -> Callable[[], list[str]]:
    """Bind the loop's variables now; a bare lambda in a loop would see the last shape's lines."""
    return lambda: [fn(line) for line in lines]


def adversarial_worker(n: int, seed: int, reps: int) -> int:
    """Child side: time each adversarial shape separately and stream one JSON record per engine.

    Shapes are timed one group at a time, with a progress line on stderr before each, so that
    if the parent has to kill us it can still say which shape never finished.
    """
    groups: dict[str, list[str]] = {}
    for shape, line in adversarial_labeled(n, seed):
        groups.setdefault(shape, []).append(line)

    def redactor_fn() -> Callable[[str], str]:
        redactor, error = load_redactor()
        if redactor is None:
            raise RuntimeError(error)
        return redactor.redact

    engines: list[tuple[str, Callable[[], Callable[[str], str]]]] = [
        ("adversarial_baseline", lambda: HandWrittenFilter().redact),
        ("adversarial_redact", redactor_fn),
    ]
    warm = generate(200, seed).lines
    # Normal lines timed right before each shape, by the same engine: the per-byte ratio of
    # a shape then compares two timings seconds apart, not this child against the parent's
    # normal-corpus run minutes earlier, when the shared machine may have been twice as fast.
    normal = generate(400, seed + 1).lines
    normal_bytes = sum(len(x.encode("utf-8")) for x in normal)
    for key, make in engines:
        record: dict[str, Any] = {"key": key, "shapes": {}}
        current = "(setup)"
        try:
            fn = make()
            for line in warm:
                fn(line)
            for current, lines in groups.items():
                print(f"shape {current} engine {key}", file=sys.stderr, flush=True)
                # One line untimed first: the first hostile text a process meets compiles
                # the redactor's single-match database (about a second, once).
                fn(lines[0])
                normal_seconds, _ = best_of(_per_line(fn, normal), reps)
                seconds, _ = best_of(_per_line(fn, lines), reps)
                nbytes = sum(len(x.encode("utf-8")) for x in lines)
                record["shapes"][current] = {
                    "lines": len(lines),
                    "bytes": nbytes,
                    "seconds": seconds,
                    "normal_bytes": normal_bytes,
                    "normal_seconds": normal_seconds,
                    # Cost per byte of this shape over cost per byte of normal lines.
                    "x_normal_per_byte": (seconds / nbytes) / (normal_seconds / normal_bytes),
                }
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc} (shape {current})"[:300]
        record["peak_rss_mib"] = peak_rss_mib()
        print(json.dumps(record), flush=True)
    return 0


def measure_adversarial(
    n: int, seed: int, reps: int, timeout: float, workdir: Path
) -> dict[str, Result]:
    """Parent side: run the worker, turn its records (or its silence) into result rows."""
    labels = {
        "adversarial_baseline": "adversarial: baseline filter per line",
        "adversarial_redact": "adversarial: Redactor.redact per line",
    }
    results = {key: Result(key=key, label=label) for key, label in labels.items()}
    out_path, err_path = workdir / "adv.out", workdir / "adv.err"
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.throughput",
        "--adversarial-worker",
        "--adversarial-lines",
        str(n),
        "--seed",
        str(seed),
        "--reps",
        str(reps),
    ]
    run = run_child(cmd, stdin=None, stdout=out_path, stderr=err_path, timeout=timeout)
    timed_out = run.timed_out
    seen: set[str] = set()
    for raw in out_path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(raw)
        except json.JSONDecodeError:
            continue
        result = results.get(record.get("key", ""))
        if result is None:
            continue
        seen.add(result.key)
        result.peak_rss_mib = record.get("peak_rss_mib")
        if record.get("error"):
            result.status, result.error = "error", record["error"]
            continue
        for shape, fig in record["shapes"].items():
            result.lines += fig["lines"]
            result.nbytes += fig["bytes"]
            result.seconds = (result.seconds or 0.0) + fig["seconds"]
            result.by_shape[shape] = fig
    progress = err_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    for key, result in results.items():
        if key in seen:
            continue
        result.status = "timeout" if timed_out else "error"
        last = progress[-1] if progress else "no output"
        result.error = (
            f"worker killed after {timeout:.0f} s, last: {last}" if timed_out else f"{last}"[:300]
        )
    return results


# --------------------------------------------------------------------------------------------
# Peer libraries, on a leading subset of the corpus
# --------------------------------------------------------------------------------------------


def measure_peer(peer: Peer, subset: Corpus, reps: int) -> tuple[Result, float | None]:
    """Build the peer untimed, then time it per line like the baseline; also its build time.

    A peer that is not installed is ``unavailable`` (with the install hint), not an error: the
    peers are an optional extra and must not make the redactor's own rows look broken.
    """
    label = f"{peer.label}, first {len(subset.lines):,} lines"
    start = time.perf_counter()
    try:
        fn = peer.build()
    except ImportError as exc:
        error = f"{type(exc).__name__}: {exc} (pip install -e '.[benchmark]')"[:300]
        return Result(peer.key, label, status="unavailable", error=error), None
    except Exception as exc:
        return Result(
            peer.key, label, status="error", error=f"{type(exc).__name__}: {exc}"[:300]
        ), None
    build_ms = (time.perf_counter() - start) * 1000
    return measure_per_line(peer.key, label, fn, subset, reps), build_ms


def measure_peers(
    corpus: Corpus,
    redactor: RedactorLike | None,
    sizes: dict[str, int],
    *,
    peer_reps: int,
    reps: int,
    batch: int,
    say: Callable[[str], None],
) -> tuple[list[Result], dict[str, Any]]:
    """Each peer on its subset, each followed by the redactor on the very same lines.

    Returns the rows and a metadata record per peer (subset size, versions, build time, and
    the key of the redactor row measured on the same subset).
    """
    rows: list[Result] = []
    info: dict[str, Any] = {}
    done: set[int] = set()
    for peer in PEERS:
        n = min(sizes.get(peer.key, peer.subset), len(corpus.lines))
        subset = head(corpus, n)
        say(f"peer {peer.key} ({n:,} lines, best of {peer_reps})")
        row, build_ms = measure_peer(peer, subset, peer_reps)
        rows.append(row)
        redactor_key = f"redact_lines_first_{n}"
        if redactor is not None and n not in done:
            done.add(n)
            label = f"Redactor.redact_lines, same first {n:,} lines"
            rows.append(
                measure_batched(redactor, subset, reps, batch, key=redactor_key, label=label)
            )
        info[peer.key] = {
            "lines": n,
            "planted": len(subset.planted),
            "reps": peer_reps,
            "build_ms": None if build_ms is None else round(build_ms, 1),
            "versions": versions(peer.distributions),
            "redactor_row": redactor_key if redactor is not None else None,
        }
    return rows, info


# --------------------------------------------------------------------------------------------
# Orchestration and report
# --------------------------------------------------------------------------------------------


def load_redactor(backend: str = "auto") -> tuple[RedactorLike | None, str | None]:
    """Import lazily: the baseline half of the benchmark must work before the library exists."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    try:
        from redactor import Redactor

        return Redactor(backend=backend), None
    except Exception as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]


def load_backends() -> dict[str, RedactorLike]:
    """One redactor per pre-filter backend installed here (for the per-engine rows)."""
    from redactor.backends import available

    engines: dict[str, RedactorLike] = {}
    for name in available():
        engine, _ = load_redactor(name)
        if engine is not None:
            engines[name] = engine
    return engines


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "n/a" if value is None else f"{value:{spec}}{suffix}"


def render(results: list[Result], meta: dict[str, Any]) -> str:
    """Markdown, so the output can be pasted into an issue or PR as is."""
    out = [
        "| measurement | lines | MB | best s | lines/s | MB/s | recall | x baseline "
        "| per-byte vs normal | peak RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if not r.ok:
            out.append(f"| {r.label} | | | | **{r.status.upper()}** | | | | | |")
            continue
        out.append(
            f"| {r.label} | {r.lines:,} | {r.nbytes / MB:.2f} | {_fmt(r.seconds, '.3f')} "
            f"| {_fmt(r.lines_per_s, ',.0f')} | {_fmt(r.mb_per_s, '.2f')} "
            f"| {_fmt(r.recall, '.2%')} | {_fmt(r.ratio_vs_baseline, '.2f', 'x')} "
            f"| {_fmt(r.per_byte_vs_normal, '.2f', 'x')} | {_fmt(r.peak_rss_mib, '.0f')} |"
        )
    out.append("")
    out.append(
        "x baseline: lines/s / baseline lines/s in this run (adversarial rows: / adversarial "
        "baseline). per-byte vs normal: adversarial MB/s / the same engine's MB/s on the normal "
        "corpus. Peak RSS is this process's high-water mark so far (CLI: the redactor process "
        "alone; adversarial: the worker process)."
    )
    peer_info: dict[str, Any] = meta.get("peer_info") or {}
    if peer_info:
        sizes = ", ".join(f"{key} {info['lines']:,}" for key, info in peer_info.items())
        peer_reps = max(info["reps"] for info in peer_info.values())
        out += [
            "",
            f"Peer rows cover only the first N lines of the corpus ({sizes}), best of "
            f"{peer_reps}; recall is scored on those lines, and the `Redactor.redact_lines, same "
            "first N lines` row after each scores the redactor on exactly the same lines. Their "
            "x baseline divides by the full-corpus baseline row. Presidio runs on a blank spaCy "
            "pipeline: its pattern recognizers only, no NER model.",
        ]
        installed = {name: v for info in peer_info.values() for name, v in info["versions"].items()}
        builds = [
            f"{key} {info['build_ms'] / 1000:.1f} s"
            for key, info in peer_info.items()
            if info["build_ms"] is not None
        ]
        out.append("")
        out.append(
            "Peer versions: "
            + ", ".join(f"{name} {v or 'not installed'}" for name, v in installed.items())
            + (f". Import and construction (untimed): {', '.join(builds)}." if builds else ".")
        )

    scored = [r for r in results if r.ok and r.recall_by_kind]
    if scored:
        out += ["", "Recall by kind (found/planted):", ""]
        out.append("| kind | " + " | ".join(r.key for r in scored) + " |")
        out.append("|---|" + "---:|" * len(scored))
        for kind in KINDS:
            cells = []
            for r in scored:
                found, total = r.recall_by_kind.get(kind, [0, 0])
                cells.append(f"{found}/{total}")
            out.append(f"| {kind} | " + " | ".join(cells) + " |")

    adv = [r for r in results if r.by_shape]
    if adv:
        shapes = list(dict.fromkeys(s for r in adv for s in r.by_shape))
        out += [
            "",
            "Adversarial MB/s by shape (slowest shapes bound worst-case latency), and each "
            "shape's cost per byte over the same engine's on normal lines timed just before "
            "it (goal for the redactor: at most 10x):",
            "",
        ]
        out.append("| shape | " + " | ".join(f"{r.key} | x normal per byte" for r in adv) + " |")
        out.append("|---|" + "---:|---:|" * len(adv))
        for shape in shapes:
            cells = []
            for r in adv:
                fig = r.by_shape.get(shape)
                if not fig:
                    cells += ["n/a", "n/a"]
                    continue
                cells.append(f"{fig['bytes'] / max(fig['seconds'], 1e-12) / MB:.2f}")
                cells.append(_fmt(fig.get("x_normal_per_byte"), ".1f", "x"))
            out.append(f"| {shape} | " + " | ".join(cells) + " |")

    failed = [r for r in results if not r.ok]
    if failed:
        out += ["", "Failed rows:", ""]
        out += [f"- {r.key}: {r.status}: {r.error}" for r in failed]

    shown = {k: v for k, v in meta.items() if v is not None and k != "peer_info"}
    out += ["", "Run: " + ", ".join(f"{k}={v}" for k, v in shown.items())]
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    """Measure everything in a fixed order so noise affects all rows of one run alike."""
    n = args.lines if args.lines is not None else (20_000 if args.quick else 100_000)
    reps = args.reps if args.reps is not None else (1 if args.quick else 3)
    adv_n = args.adversarial_lines or (180 if args.quick else 360)
    peers = args.peers if args.peers is not None else not args.quick

    def say(msg: str) -> None:
        print(f"[throughput] {msg}", file=sys.stderr, flush=True)

    say(f"generating {n:,} lines (seed {args.seed})")
    corpus = generate(n, args.seed)
    meta: dict[str, Any] = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "lines": n,
        "bytes": corpus.nbytes,
        "avg_line_bytes": round(corpus.nbytes / n, 1) if n else None,
        "planted": len(corpus.planted),
        "reps": reps,
        "seed": args.seed,
        "batch": args.batch_size,
        "adversarial_lines": adv_n,
        "peers": peers,
    }
    results: list[Result] = []

    start = time.perf_counter()
    redactor, import_error = load_redactor()
    if redactor is not None:
        meta["redactor_import_init_ms"] = round((time.perf_counter() - start) * 1000, 1)
        module = sys.modules.get("redactor")
        meta["redactor_module"] = getattr(module, "__file__", None)
        meta["redactor_version"] = getattr(module, "__version__", None)

    with tempfile.TemporaryDirectory(prefix="redactor-bench-") as tmp:
        workdir = Path(tmp)
        if redactor is None:
            say("baseline filter")
            label = "baseline: HandWrittenFilter.redact per line"
            results.append(
                measure_per_line("baseline", label, HandWrittenFilter().redact, corpus, reps)
            )
            for key, label in (
                ("redact", "Redactor.redact per line"),
                ("redact_lines", f"Redactor.redact_lines (batches of {args.batch_size})"),
                ("cli", "CLI python -m redactor (wall, incl. startup)"),
            ):
                results.append(Result(key, label, status="unavailable", error=import_error))
        else:
            say("baseline, Redactor.redact and Redactor.redact_lines, slice by slice")
            engines = load_backends()
            results.extend(
                measure_core(redactor, corpus, reps, args.batch_size, args.slice_lines, engines)
            )
            say("CLI")
            src = workdir / "corpus.log"
            src.write_text("".join(line + "\n" for line in corpus.lines), encoding="utf-8")
            results.append(measure_cli(corpus, src, workdir, reps, args.cli_timeout))
            startup = measure_startup(reps, workdir)
            meta["cli_startup_ms"] = None if startup is None else round(startup * 1000, 1)

        if peers:
            sizes = {peer.key: getattr(args, f"{peer.key}_lines") for peer in PEERS}
            peer_rows, meta["peer_info"] = measure_peers(
                corpus,
                redactor,
                sizes,
                peer_reps=args.peer_reps,
                reps=reps,
                batch=args.batch_size,
                say=say,
            )
            results += peer_rows

        say(f"adversarial corpus ({adv_n} lines, child process)")
        adv = measure_adversarial(adv_n, args.seed, reps, args.adversarial_timeout, workdir)
        if redactor is None and adv["adversarial_redact"].status != "ok":
            adv["adversarial_redact"].status = "unavailable"
            adv["adversarial_redact"].error = import_error
        results += [adv["adversarial_baseline"], adv["adversarial_redact"]]

    by_key = {r.key: r for r in results}
    for r in results:
        ref = by_key["adversarial_baseline" if r.key.startswith("adversarial") else "baseline"]
        if r.lines_per_s and ref.lines_per_s:
            r.ratio_vs_baseline = r.lines_per_s / ref.lines_per_s
    for adv_key, normal_key in (
        ("adversarial_baseline", "baseline"),
        ("adversarial_redact", "redact"),
    ):
        a, normal = by_key[adv_key], by_key.get(normal_key)
        if a.mb_per_s and normal and normal.mb_per_s:
            a.per_byte_vs_normal = a.mb_per_s / normal.mb_per_s
    rss = peak_rss_mib()
    meta["peak_rss_mib"] = None if rss is None else round(rss, 1)

    print(render(results, meta))
    if args.json:
        payload = {
            "schema": SCHEMA_VERSION,
            "meta": meta,
            "ratios": {r.key: r.ratio_vs_baseline for r in results if r.key != "baseline"},
            "per_byte_vs_normal": {
                r.key: r.per_byte_vs_normal for r in results if r.key.startswith("adversarial")
            },
            "recall": {r.key: r.recall for r in results},
            "results": {r.key: r.to_json() for r in results},
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        say(f"wrote {args.json}")
    # A missing or broken peer is reported in the table but is not the redactor's failure.
    peer_keys = {peer.key for peer in PEERS}
    return 0 if all(r.ok for r in results if r.key not in peer_keys) else 1


def main(argv: list[str] | None = None) -> int:
    """CLI entry point; exits 1 when a non-peer row failed so scripts notice a broken redactor."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.throughput",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--lines", type=int, help="corpus size (default 100000, --quick 20000)")
    parser.add_argument("--quick", action="store_true", help="20k lines, 1 repetition")
    parser.add_argument("--reps", type=int, help="repetitions, best kept (default 3, --quick 1)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument(
        "--slice-lines",
        type=int,
        default=5000,
        help="lines per slice the baseline and the redactor take turns on (default 5000)",
    )
    parser.add_argument("--json", type=Path, help="also write all figures as JSON here")
    parser.add_argument(
        "--adversarial-lines", type=int, help="adversarial lines (default 360, --quick 180)"
    )
    parser.add_argument("--adversarial-timeout", type=float, default=600.0)
    parser.add_argument("--cli-timeout", type=float, default=600.0)
    parser.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also measure scrubadub and Presidio on a subset (default: on, off with --quick)",
    )
    for peer in PEERS:
        parser.add_argument(
            f"--{peer.key}-lines",
            type=int,
            default=peer.subset,
            help=f"leading corpus lines fed to {peer.key} (default {peer.subset})",
        )
    parser.add_argument(
        "--peer-reps", type=int, default=1, help="repetitions for peer rows (default 1)"
    )
    parser.add_argument("--adversarial-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.adversarial_worker:
        return adversarial_worker(args.adversarial_lines or 180, args.seed, args.reps or 1)
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
