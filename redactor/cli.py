"""Command line: ``python -m redactor`` (stdin to stdout) and ``python -m redactor scan``.

Redact mode streams: it reads whatever is available on stdin (up to 64 KiB at a time),
redacts the complete lines of that chunk as one batch and writes and flushes them before
reading again, so on an endless pipe every line appears as soon as it is processed.
Bytes that are not valid UTF-8 are carried through unchanged (surrogate escapes) and
never stop the stream. A line longer than ``--max-line-bytes`` is replaced by a
placeholder (fail closed) and reported on stderr by number, never by content.

``--workers N`` spreads the batches over N processes (the output order is kept), for
machines where one core cannot keep up with the log volume.

Scan mode walks files and folders (``.gz`` files are read decompressed, binary files and
``.git`` folders are skipped) and prints ``path:line:col: kind: preview`` for every
finding, the preview being the masked form. It exits 1 when anything was found, so it
can gate CI on leaked keys and card numbers.

``precompile --cache DIR`` compiles the policy's Hyperscan database and its
single-match twin ahead of time (an image build step); processes started with
``REDACTOR_HYPERSCAN_CACHE=DIR`` load them instead of compiling them (see
:mod:`redactor.backends`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gzip
import json
import os
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from redactor.backends import (
    CACHE_ENV,
    available,
    export_compiled,
    import_compiled,
    save_compiled,
)
from redactor.compiler import compile_backend
from redactor.errors import PolicyError
from redactor.policy import Policy
from redactor.redactor import Redactor
from redactor.stream import LineStream
from redactor.workers import WorkerLost, WorkerPool

__all__ = ["main"]

CHUNK = 1 << 16
_OVERLONG = "[REDACTED: line too long]"
DEFAULT_MAX_LINE = 64 << 20


def _load(policy_path: str | None) -> Redactor:
    policy = Policy.from_toml(policy_path) if policy_path else Policy.default()
    return Redactor(policy)


def _split_terminator(raw: bytes) -> tuple[str, bytes]:
    if raw.endswith(b"\r"):
        return raw[:-1].decode("utf-8", "surrogateescape"), b"\r\n"
    return raw.decode("utf-8", "surrogateescape"), b"\n"


_worker: tuple[Redactor, int] | None = None  # (redactor, max line bytes) in a worker


def _start_worker(compiled: object, policy_path: str | None, max_line: int) -> None:
    """Compile the policy once in each worker process.

    Args:
        compiled: what the main process compiled (its Hyperscan database), so the
            worker does not compile it again (see :func:`redactor.backends.export_compiled`).
        policy_path: the policy file, or None for the default policy.
        max_line: the line length limit.
    """
    global _worker
    import_compiled(compiled)
    _worker = (_load(policy_path), max_line)


@dataclass(slots=True)
class _Prepared:
    """Decoded lines of one batch and what is needed to write them back."""

    texts: list[str]
    terminators: list[bytes]
    overlong: list[int]  # indexes of lines replaced for being too long


def _prepare(data: bytes, last_terminated: bool, max_line: int) -> _Prepared:
    texts: list[str] = []
    terminators: list[bytes] = []
    overlong: list[int] = []
    for index, raw in enumerate(data.split(b"\n")):
        if len(raw) > max_line:
            overlong.append(index)
            raw = b""
        text, terminator = _split_terminator(raw)
        texts.append(text)
        terminators.append(terminator)
    if not last_terminated:  # keep a lone final CR, add no LF
        terminators[-1] = terminators[-1][:-1]
    return _Prepared(texts, terminators, overlong)


def _finish(prepared: _Prepared, redacted: list[str]) -> bytes:
    for index in prepared.overlong:
        redacted[index] = _OVERLONG
    return b"".join(
        line.encode("utf-8", "surrogateescape") + end
        for line, end in zip(redacted, prepared.terminators, strict=True)
    )


def _redact_in_worker(job: tuple[bytes, bool]) -> tuple[bytes, list[int]]:
    """Decode, redact and encode one batch in a worker: the main process only copies."""
    assert _worker is not None
    redactor, max_line = _worker
    data, last_terminated = job
    prepared = _prepare(data, last_terminated, max_line)
    return _finish(prepared, redactor.redact_lines(prepared.texts)), prepared.overlong


@dataclass(slots=True)
class _Batch:
    """One read's worth of complete lines (joined by newlines), in stream order."""

    data: bytes
    last_terminated: bool
    first_line: int
    lost_line: bool = False  # a line outgrew the limit before its end arrived


class _Redact:
    """The stdin-to-stdout loop: read what is available, redact it as a batch, write.

    With ``workers`` > 1 the batches are decoded, redacted and encoded by a pool of
    processes, in order, so the main process only reads, copies and writes. The
    stream's own state stays here: a batch that touches a private key block is
    redone in this process with :class:`LineStream` (rare), and over-long lines are
    reported here by line number.
    """

    def __init__(
        self, redactor: Redactor, out: BinaryIO, max_line: int, workers: int, policy: str | None
    ) -> None:
        self.stream = LineStream(redactor)
        self.redactor = redactor
        self.out = out
        self.max_line = max_line
        self.workers = workers
        self.policy = policy

    def _batches(self, fd: int) -> Iterator[_Batch]:
        pending = b""
        skipping = False  # inside an over-long line being replaced
        line_no = 1
        while True:
            chunk = os.read(fd, CHUNK)
            if not chunk:
                break
            if skipping:
                newline = chunk.find(b"\n")
                if newline < 0:
                    continue
                skipping = False
                chunk = chunk[newline + 1 :]
            data = pending + chunk
            cut = data.rfind(b"\n")
            if cut < 0:
                pending = data
            else:
                pending = data[cut + 1 :]
                yield _Batch(data[:cut], True, line_no)
                line_no += data.count(b"\n", 0, cut) + 1
            if len(pending) > self.max_line:
                yield _Batch(b"", True, line_no, lost_line=True)
                line_no += 1
                pending = b""
                skipping = True
        if pending and not skipping:
            yield _Batch(pending, False, line_no)

    def _report_overlong(self, line_no: int) -> None:
        self.redactor.note("error")
        print(f"redactor: line {line_no} exceeds {self.max_line} bytes; replaced", file=sys.stderr)

    def _here(self, batch: _Batch) -> tuple[bytes, list[int]]:
        """Redact a batch in this process, through the stream's state."""
        prepared = _prepare(batch.data, batch.last_terminated, self.max_line)
        return _finish(prepared, self.stream.feed(prepared.texts)), prepared.overlong

    def _write(self, batch: _Batch, done: tuple[bytes, list[int]] | None) -> None:
        if batch.lost_line:
            self._report_overlong(batch.first_line)
            self.out.write(_OVERLONG.encode() + b"\n")
        else:
            if done is None or self.stream.in_block or b"-----BEGIN" in batch.data:
                done = self._here(batch)
            encoded, overlong = done
            for index in overlong:
                self._report_overlong(batch.first_line + index)
            self.out.write(encoded)
        self.out.flush()

    def run(self, fd: int) -> None:
        if self.workers <= 1:
            for batch in self._batches(fd):
                self._write(batch, None)
            return
        # The database compiled here is serialized in the pool's greeting thread, while
        # the workers start.
        pool = WorkerPool(
            self.workers, _start_worker, (self.policy, self.max_line), greeting=export_compiled
        )
        # Results are written in reading order; a few batches per worker in flight keep
        # them busy without reading all of the input ahead.
        pending: deque[tuple[_Batch, concurrent.futures.Future[tuple[bytes, list[int]]]]]
        pending = deque()
        try:
            for batch in self._batches(fd):
                job = (batch.data, batch.last_terminated)
                pending.append((batch, pool.call(_redact_in_worker, job)))
                while len(pending) > 2 * self.workers:
                    self._write_result(*pending.popleft())
            while pending:
                self._write_result(*pending.popleft())
        finally:
            pool.close()

    def _write_result(
        self, batch: _Batch, future: concurrent.futures.Future[tuple[bytes, list[int]]]
    ) -> None:
        """Write a worker's result; redo the batch here if its worker died (OOM killer)."""
        try:
            done: tuple[bytes, list[int]] | None = future.result()
        except WorkerLost:
            print(
                f"redactor: a worker process died; its batch (from line {batch.first_line + 1})"
                " is redacted in the main process instead",
                file=sys.stderr,
            )
            done = None
        self._write(batch, done)


def _redact_main(args: argparse.Namespace) -> int:
    redactor = _load(args.policy)
    try:
        workers = args.workers if args.workers > 0 else (os.cpu_count() or 1)
        _Redact(redactor, sys.stdout.buffer, args.max_line_bytes, workers, args.policy).run(
            sys.stdin.fileno()
        )
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as Unix filters do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def _files(paths: Sequence[str]) -> Iterator[Path]:
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if d != ".git")
                for name in sorted(names):
                    yield Path(root) / name
        else:
            yield path


def _open(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


class _Progress:
    """A one-line progress indicator on a terminal, silent otherwise."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = max(total, 1)
        self.enabled = enabled and total > (8 << 20)
        self.done = 0
        self.shown = 0.0

    def advance(self, amount: int) -> None:
        self.done += amount
        now = time.monotonic()
        if self.enabled and now - self.shown > 0.2:
            self.shown = now
            pct = min(100, 100 * self.done // self.total)
            sys.stderr.write(f"\rscanning {pct:3d}% ({self.done >> 20}/{self.total >> 20} MiB)")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\r" + " " * 48 + "\r")


def _scan_main(args: argparse.Namespace) -> int:
    redactor = _load(args.policy)
    files = list(_files(args.paths))
    missing = [str(f) for f in files if not f.exists()]
    for name in missing:
        print(f"redactor scan: {name}: no such file or folder", file=sys.stderr)
    files = [f for f in files if f.is_file()]
    progress = _Progress(
        sum(f.stat().st_size for f in files), sys.stderr.isatty() and not args.quiet
    )
    found = 0
    out = sys.stdout
    for path in files:
        try:
            with _open(path) as handle:
                head = handle.read(8192)
                if b"\0" in head:
                    continue  # binary file
                lines = _iter_lines(head, handle)
                for number, raw in enumerate(lines, start=1):
                    progress.advance(len(raw) + 1)
                    text = raw.decode("utf-8", "surrogateescape")
                    for finding in redactor.scan(text):
                        found += 1
                        if args.format == "json":
                            record = {
                                "path": str(path),
                                "line": number,
                                "col": finding.start + 1,
                                "kind": finding.kind,
                                "rule": finding.rule,
                                "preview": finding.preview,
                            }
                            out.write(json.dumps(record) + "\n")
                        else:
                            out.write(
                                f"{path}:{number}:{finding.start + 1}: {finding.kind}: "
                                f"{finding.preview}\n"
                            )
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            print(f"redactor scan: {path}: cannot read ({type(exc).__name__})", file=sys.stderr)
            missing.append(str(path))
    progress.close()
    out.flush()
    if found:
        return 1
    return 2 if missing else 0


def _precompile_main(args: argparse.Namespace) -> int:
    """Compile the policy's Hyperscan database and write it into ``--cache``."""
    if "hyperscan" not in available():
        print("redactor precompile: hyperscan is not installed", file=sys.stderr)
        return 1
    # Always compiled from the patterns here, never copied from an existing directory.
    os.environ.pop(CACHE_ENV, None)
    compile_backend(Policy.from_toml(args.policy) if args.policy else Policy.default(), "hyperscan")
    from redactor.backends.hyperscan import compile_single_match

    compile_single_match()  # the twin for texts that flood the callbacks, written too
    try:
        written = save_compiled(args.cache)
    except OSError as exc:
        print(f"redactor precompile: {args.cache}: cannot write ({exc.strerror})", file=sys.stderr)
        return 1
    for path in written:
        print(path)
    return 0


def _iter_lines(head: bytes, handle: BinaryIO) -> Iterator[bytes]:
    pending = head
    while True:
        chunk = handle.read(CHUNK)
        if not chunk:
            break
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line.rstrip(b"\r") for line in complete)
    if pending:
        yield from (line.rstrip(b"\r") for line in pending.split(b"\n"))


def _redact_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m redactor",
        description="Redact card data, secrets and personal data from log lines "
        "(stdin to stdout). Use 'python -m redactor scan PATH...' to audit files.",
    )
    parser.add_argument("--policy", metavar="FILE", help="policy TOML file (default: built-in)")
    parser.add_argument(
        "--max-line-bytes",
        type=int,
        default=DEFAULT_MAX_LINE,
        metavar="N",
        help="replace lines longer than this (default: 64 MiB)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="redact in N worker processes, output order kept (0: one per CPU; default 1)",
    )
    return parser


def _scan_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m redactor scan",
        description="Report sensitive data in files and folders (.gz too); exit 1 if any.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH")
    parser.add_argument("--policy", metavar="FILE", help="policy TOML file (default: built-in)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--quiet", action="store_true", help="no progress indicator")
    return parser


def _precompile_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m redactor precompile",
        description="Compile a policy's Hyperscan database ahead of time into DIR; processes "
        "started with REDACTOR_HYPERSCAN_CACHE=DIR load it instead of compiling.",
    )
    parser.add_argument("--cache", required=True, metavar="DIR", help="directory to write to")
    parser.add_argument("--policy", metavar="FILE", help="policy TOML file (default: built-in)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Args:
        argv: arguments without the program name (default: ``sys.argv[1:]``).
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == ["scan"]:
            return _scan_main(_scan_parser().parse_args(args_list[1:]))
        if args_list[:1] == ["precompile"]:
            return _precompile_main(_precompile_parser().parse_args(args_list[1:]))
        return _redact_main(_redact_parser().parse_args(args_list))
    except PolicyError as exc:
        print(f"redactor: policy error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
