#!/usr/bin/env python3
"""Score a redactor CLI against the labelled evaluation set ``lines.jsonl``.

All ``line`` values are piped (one per line) through the redactor command
(default: ``python -m redactor``, stdin -> stdout) and compared with the labels:

* secrets lost %   -- a secret is *lost* (good) when its raw value no longer
                      appears anywhere in the corresponding output line;
* keep retained %  -- a keep token must still appear verbatim in the output;
* per-kind recall  -- secrets lost / secrets, per ``kinds`` label;
* JSON integrity   -- every ``format == "json"`` output line must parse as a
                      JSON object with the same set of top-level keys;
* line count       -- output must have exactly one line per input line.

Usage::

    python tests/data/labelled/evaluate.py
    python tests/data/labelled/evaluate.py --cmd "python -m redactor --some-flag"

Exit status 0 when secrets lost >= 99 %, keep retained >= 98 %, all JSON lines
are intact and the line count is preserved; 1 otherwise.

From pytest::

    report = evaluate([sys.executable, "-m", "redactor"])
    assert report.passed, report.summary()

(``evaluate.py`` deliberately avoids ``from __future__ import annotations`` so
it can be loaded with ``importlib.util.spec_from_file_location``.)
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA_PATH = HERE / "lines.jsonl"
PROJECT_ROOT = HERE.parents[2]
DEFAULT_CMD: tuple[str, ...] = (sys.executable, "-m", "redactor")

MIN_LOST_PCT = 99.0
MIN_KEEP_PCT = 98.0


@dataclass(frozen=True)
class LabelledLine:
    """One record of ``lines.jsonl``."""

    id: int
    format: str
    line: str
    secrets: tuple[str, ...]
    kinds: tuple[str, ...]
    keep: tuple[str, ...]


@dataclass
class KindStats:
    total: int = 0
    lost: int = 0

    @property
    def recall(self) -> float:
        return 100.0 * self.lost / self.total if self.total else 100.0


@dataclass(frozen=True)
class Failure:
    """A single problem found in the redactor output."""

    id: int
    category: str  # missed_secret | dropped_keep | invalid_json | json_keys | missing_line
    kind: str  # secret kind, "keep", "json" or "line"
    value: str
    output: str | None

    def describe(self) -> str:
        if self.category == "missed_secret":
            return f"id={self.id} MISSED {self.kind} {self.value!r}\n    output: {self.output}"
        if self.category == "dropped_keep":
            return f"id={self.id} DROPPED keep token {self.value!r}\n    output: {self.output}"
        if self.category == "missing_line":
            return f"id={self.id} NO OUTPUT LINE"
        return f"id={self.id} {self.category.upper()}: {self.value}\n    output: {self.output}"


@dataclass
class Report:
    """Result of :func:`evaluate`."""

    cmd: list[str]
    returncode: int
    stderr: str
    lines_in: int
    lines_out: int
    secrets_total: int = 0
    secrets_lost: int = 0
    keep_total: int = 0
    keep_retained: int = 0
    json_total: int = 0
    json_intact: int = 0
    clean_lines: int = 0
    clean_lines_unchanged: int = 0
    per_kind: dict[str, KindStats] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)

    @property
    def lost_pct(self) -> float:
        return 100.0 * self.secrets_lost / self.secrets_total if self.secrets_total else 100.0

    @property
    def keep_pct(self) -> float:
        return 100.0 * self.keep_retained / self.keep_total if self.keep_total else 100.0

    @property
    def line_count_preserved(self) -> bool:
        return self.lines_in == self.lines_out

    @property
    def json_ok(self) -> bool:
        return self.json_intact == self.json_total

    @property
    def passed(self) -> bool:
        return (
            self.returncode == 0
            and self.line_count_preserved
            and self.json_ok
            and self.lost_pct >= MIN_LOST_PCT
            and self.keep_pct >= MIN_KEEP_PCT
        )

    def failures_of(self, category: str) -> list[Failure]:
        return [f for f in self.failures if f.category == category]

    def summary(self) -> str:
        """Human-readable table (without the failure list)."""
        rows = [
            f"command: {shlex.join(self.cmd)}  (exit status {self.returncode})",
            f"lines: in={self.lines_in} out={self.lines_out} "
            f"preserved={'yes' if self.line_count_preserved else 'NO'}",
            "",
            f"{'kind':<14}{'secrets':>9}{'lost':>7}{'recall':>10}",
            "-" * 40,
        ]
        for kind, st in sorted(self.per_kind.items()):
            rows.append(f"{kind:<14}{st.total:>9}{st.lost:>7}{st.recall:>9.2f}%")
        rows += [
            "-" * 40,
            f"{'all':<14}{self.secrets_total:>9}{self.secrets_lost:>7}{self.lost_pct:>9.2f}%",
            "",
            f"secrets lost:   {self.lost_pct:6.2f}%  (need >= {MIN_LOST_PCT}%)",
            f"keep retained:  {self.keep_pct:6.2f}%  ({self.keep_retained}/{self.keep_total}, "
            f"need >= {MIN_KEEP_PCT}%)",
            f"json intact:    {self.json_intact}/{self.json_total} (parses, same top-level keys)",
            f"clean lines byte-identical: {self.clean_lines_unchanged}/{self.clean_lines} "
            "(informational)",
            f"RESULT: {'PASS' if self.passed else 'FAIL'}",
        ]
        if self.returncode != 0 and self.stderr:
            rows.append("stderr (tail):\n" + "\n".join(self.stderr.splitlines()[-15:]))
        return "\n".join(rows)


def load(path: Path = DATA_PATH) -> list[LabelledLine]:
    out: list[LabelledLine] = []
    with path.open(encoding="utf-8") as fh:
        for raw in fh:
            if not raw.strip():
                continue
            rec = json.loads(raw)
            out.append(
                LabelledLine(
                    id=int(rec["id"]),
                    format=rec["format"],
                    line=rec["line"],
                    secrets=tuple(rec["secrets"]),
                    kinds=tuple(rec["kinds"]),
                    keep=tuple(rec["keep"]),
                )
            )
    return out


def run_redactor(
    cmd: Sequence[str], lines: Sequence[str], timeout: float = 600.0
) -> tuple[int, list[str], str]:
    """Pipe ``lines`` through ``cmd``; return (returncode, output lines, stderr)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
    )
    env.setdefault("PYTHONIOENCODING", "utf-8")
    try:
        proc = subprocess.run(
            list(cmd),
            input="".join(f"{line}\n" for line in lines),
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="replace",
            cwd=PROJECT_ROOT,
            env=env,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return -1, [], f"{type(exc).__name__}: {exc}"
    out = proc.stdout.split("\n")
    if out and out[-1] == "":
        out.pop()
    out = [o[:-1] if o.endswith("\r") else o for o in out]
    return proc.returncode, out, proc.stderr


def score(
    cases: Sequence[LabelledLine],
    outputs: Sequence[str],
    cmd: Sequence[str] = DEFAULT_CMD,
    returncode: int = 0,
    stderr: str = "",
) -> Report:
    """Compare redactor ``outputs`` (aligned with ``cases``) with the labels."""
    rep = Report(
        cmd=list(cmd),
        returncode=returncode,
        stderr=stderr,
        lines_in=len(cases),
        lines_out=len(outputs),
    )
    for i, case in enumerate(cases):
        output = outputs[i] if i < len(outputs) else None
        if output is None:
            rep.failures.append(Failure(case.id, "missing_line", "line", "", None))
        for secret, kind in zip(case.secrets, case.kinds, strict=True):
            st = rep.per_kind.setdefault(kind, KindStats())
            st.total += 1
            rep.secrets_total += 1
            if output is None:
                continue  # cannot verify: counted as not lost (see missing_line)
            if secret not in output:
                st.lost += 1
                rep.secrets_lost += 1
            else:
                rep.failures.append(Failure(case.id, "missed_secret", kind, secret, output))
        for token in case.keep:
            rep.keep_total += 1
            if output is not None and token in output:
                rep.keep_retained += 1
            else:
                rep.failures.append(Failure(case.id, "dropped_keep", "keep", token, output))
        if not case.secrets:
            rep.clean_lines += 1
            rep.clean_lines_unchanged += output == case.line
        if case.format == "json":
            rep.json_total += 1
            problem = _json_problem(case.line, output)
            if problem is None:
                rep.json_intact += 1
            else:
                category, detail = problem
                rep.failures.append(Failure(case.id, category, "json", detail, output))
    return rep


def _json_problem(original: str, output: str | None) -> tuple[str, str] | None:
    if output is None:
        return "invalid_json", "no output line"
    try:
        parsed = json.loads(output)
    except ValueError as exc:
        return "invalid_json", f"does not parse: {exc}"
    if not isinstance(parsed, dict):
        return "invalid_json", f"not an object but {type(parsed).__name__}"
    before = set(json.loads(original))
    if set(parsed) != before:
        missing = sorted(before - set(parsed))
        extra = sorted(set(parsed) - before)
        return "json_keys", f"top-level keys changed: missing={missing} extra={extra}"
    return None


def evaluate(
    cmd: list[str] | None = None, data: Path = DATA_PATH, timeout: float = 600.0
) -> Report:
    """Run ``cmd`` (default ``python -m redactor``) over the data set and score it."""
    command = list(cmd) if cmd is not None else list(DEFAULT_CMD)
    cases = load(data)
    returncode, outputs, stderr = run_redactor(command, [c.line for c in cases], timeout)
    return score(cases, outputs, command, returncode, stderr)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Score a redactor CLI on lines.jsonl.")
    ap.add_argument(
        "--cmd",
        default=None,
        help="redactor command line (shell-quoted); default: python -m redactor",
    )
    ap.add_argument("--data", type=Path, default=DATA_PATH)
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument(
        "--max-failures", type=int, default=0, help="print at most N failures (0 = all)"
    )
    args = ap.parse_args(argv)
    cmd = shlex.split(args.cmd) if args.cmd else None
    report = evaluate(cmd, args.data, args.timeout)
    print(report.summary())
    failures = report.failures
    if failures:
        shown = failures if args.max_failures <= 0 else failures[: args.max_failures]
        print(f"\nfailures ({len(failures)}):")
        for f in shown:
            print("  " + f.describe())
        if len(shown) < len(failures):
            print(f"  ... {len(failures) - len(shown)} more (use --max-failures 0)")
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
