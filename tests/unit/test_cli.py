"""The command line: ``python -m redactor`` (stdin to stdout) and ``python -m redactor scan``."""

from __future__ import annotations

import base64
import gzip
import json
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

PAN = "4111111111111111"
MASKED_PAN = "411111******1111"
STRIPE_BODY = "abcdefghijklmnop1234"
TIMEOUT = 30


def run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m redactor`` with ``args`` and return the finished process."""
    return subprocess.run(
        [sys.executable, "-m", "redactor", *args],
        input=stdin,
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
    )


class LineReader:
    """Reads a pipe's lines on a thread so a test can wait for one with a timeout."""

    def __init__(self, pipe: object) -> None:
        self.lines: queue.Queue[bytes] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe: object) -> None:
        for line in iter(pipe.readline, b""):  # type: ignore[attr-defined]
            self.lines.put(line)

    def next(self, timeout: float = 10) -> bytes:
        """Return the next line, failing the test if none arrives in ``timeout`` seconds."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no output line within {timeout} s")


@pytest.fixture
def streaming() -> subprocess.Popen[bytes]:
    """A running ``python -m redactor`` with pipes, killed at teardown if still alive."""
    process = subprocess.Popen(
        [sys.executable, "-m", "redactor"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    yield process
    if process.poll() is None:
        process.kill()
    process.wait(timeout=TIMEOUT)
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None and not pipe.closed:
            pipe.close()


def _key_block(begin: str = "RSA PRIVATE KEY") -> list[str]:
    """A fake PEM block: generated base64 lines, not a real key."""
    body = base64.b64encode(bytes(range(256)) * 2).decode()
    lines = [body[i : i + 64] for i in range(0, 320, 64)]
    return [f"-----BEGIN {begin}-----", *lines, f"-----END {begin}-----"]


class TestRedactCommand:
    """stdin to stdout redaction."""

    def test_exact_check(self) -> None:
        """The README check: PAN masked, CVV and Stripe key body gone."""
        line = f"pay 4111 1111 1111 1111 cvv=123 key sk_live_{STRIPE_BODY}\n"
        result = run(stdin=line.encode())
        assert result.returncode == 0
        out = result.stdout.decode()
        assert MASKED_PAN in out
        for raw in ("4111 1111 1111 1111", "123", STRIPE_BODY):
            assert raw not in out
        assert out == f"pay {MASKED_PAN} cvv=[REDACTED] key sk_live_[REDACTED]\n"

    def test_line_count_and_order(self) -> None:
        """Mixed input comes out with the same number of lines in the same order."""
        lines = [
            "first line, nothing here",
            f"card {PAN}",
            "",
            json.dumps({"password": "hunter2", "n": 1}),
            "user a.b@example.com",
            "   ",
            "last line",
        ]
        result = run(stdin=("\n".join(lines) + "\n").encode())
        out = result.stdout.decode().split("\n")
        assert out[-1] == ""
        out = out[:-1]
        assert len(out) == len(lines)
        assert out[0] == lines[0]
        assert out[1] == f"card {MASKED_PAN}"
        assert out[2] == ""
        assert out[4] == "user ***@example.com"
        assert out[5:] == lines[5:]

    def test_json_lines_stay_valid(self) -> None:
        """JSON object lines come out as valid JSON with the same keys in order."""
        events = [
            {"card_number": PAN, "cvv": 123, "amount": 10},
            {"user": {"password": "pw", "email": "a@example.com"}, "items": [PAN]},
            {"msg": f"pay {PAN}", "request_id": "550e8400-e29b-41d4-a716-446655440000"},
        ]
        result = run(stdin="".join(json.dumps(e) + "\n" for e in events).encode())
        out = [json.loads(line) for line in result.stdout.decode().splitlines()]
        assert [list(o) for o in out] == [list(e) for e in events]
        assert out[0] == {"card_number": MASKED_PAN, "cvv": "[REDACTED]", "amount": 10}
        assert list(out[1]["user"]) == ["password", "email"]
        assert PAN not in result.stdout.decode()

    def test_invalid_utf8_passes_through(self) -> None:
        """Bytes that are not UTF-8 are carried through and later lines are still redacted."""
        data = b"bad \xff\xfe bytes " + PAN.encode() + b"\n\xc3(\nnext " + PAN.encode() + b"\n"
        result = run(stdin=data)
        assert result.returncode == 0
        lines = result.stdout.split(b"\n")
        assert lines[0] == b"bad \xff\xfe bytes " + MASKED_PAN.encode()
        assert lines[1] == b"\xc3("
        assert lines[2] == b"next " + MASKED_PAN.encode()

    def test_crlf_preserved(self) -> None:
        """CRLF line endings stay CRLF."""
        result = run(stdin=f"a {PAN}\r\nb\r\nc\n".encode())
        assert result.stdout == f"a {MASKED_PAN}\r\nb\r\nc\n".encode()

    def test_no_trailing_newline_preserved(self) -> None:
        """A last line without a newline comes out without one."""
        result = run(stdin=f"x\ny {PAN}".encode())
        assert result.stdout == f"x\ny {MASKED_PAN}".encode()

    def test_final_carriage_return_preserved(self) -> None:
        """A last line ending in a lone CR (no LF) keeps its CR."""
        result = run(stdin=f"x\ny {PAN}\r".encode())
        assert result.stdout == f"x\ny {MASKED_PAN}\r".encode()

    def test_empty_input(self) -> None:
        """Empty input gives empty output and exit status 0."""
        result = run()
        assert result.returncode == 0
        assert result.stdout == b""

    def test_lines_are_emitted_as_soon_as_processed(
        self, streaming: subprocess.Popen[bytes]
    ) -> None:
        """One line written comes back redacted before stdin is closed."""
        reader = LineReader(streaming.stdout)
        assert streaming.stdin is not None
        for _ in range(3):
            streaming.stdin.write(f"card {PAN}\n".encode())
            streaming.stdin.flush()
            assert reader.next() == f"card {MASKED_PAN}\n".encode()
        streaming.stdin.close()
        assert streaming.wait(timeout=TIMEOUT) == 0

    def test_private_key_block_streamed_line_by_line(
        self, streaming: subprocess.Popen[bytes]
    ) -> None:
        """A key block arriving one line at a time has every body line replaced."""
        reader = LineReader(streaming.stdout)
        assert streaming.stdin is not None
        block = _key_block()
        outputs = []
        for line in [*block, "after the block"]:
            streaming.stdin.write(line.encode() + b"\n")
            streaming.stdin.flush()
            outputs.append(reader.next().decode().rstrip("\n"))
        streaming.stdin.close()
        assert outputs[0] == block[0]
        for body, out in zip(block[1:-1], outputs[1:-2], strict=True):
            assert body not in out
            assert out == "[REDACTED]"
        assert outputs[-2].endswith(block[-1])
        assert outputs[-1] == "after the block"

    def test_private_key_block_in_one_write(self) -> None:
        """A key block read in one chunk has every body line replaced, line count kept."""
        block = _key_block("PRIVATE KEY")
        lines = ["before", *block, "after"]
        result = run(stdin=("\n".join(lines) + "\n").encode())
        out = result.stdout.decode().splitlines()
        assert len(out) == len(lines)
        assert out[0] == "before"
        assert out[-1] == "after"
        for body in block[1:-1]:
            assert body not in result.stdout.decode()

    def test_overlong_line_replaced_within_one_chunk(self) -> None:
        """A line over --max-line-bytes is replaced even when it arrives in one read."""
        secret_tail = "x" * 300 + f" {PAN}"
        data = f"ok 1\n{secret_tail}\nafter {PAN}\n".encode()
        result = run("--max-line-bytes", "100", stdin=data)
        assert result.returncode == 0
        lines = result.stdout.decode().splitlines()
        assert len(lines) == 3
        assert lines[0] == "ok 1"
        assert "xxxx" not in lines[1]
        assert lines[2] == f"after {MASKED_PAN}"
        stderr = result.stderr.decode()
        assert "line 2" in stderr
        assert "xxxx" not in stderr
        assert PAN not in stderr

    def test_overlong_line_replaced_across_chunks(self) -> None:
        """A line longer than one read is replaced, reported by number, and later lines flow."""
        data = b"ok 1\n" + b"x" * 300_000 + f" {PAN}\nafter {PAN}\n".encode()
        result = run("--max-line-bytes", "100000", stdin=data)
        assert result.returncode == 0
        lines = result.stdout.decode().splitlines()
        assert len(lines) == 3
        assert lines[0] == "ok 1"
        assert "xxxx" not in lines[1]
        assert PAN not in lines[1]
        assert lines[2] == f"after {MASKED_PAN}"
        stderr = result.stderr.decode()
        assert "line 2" in stderr
        assert "xxxx" not in stderr
        assert PAN not in stderr


class TestPolicyOption:
    """--policy loads a TOML policy; a bad one stops with exit status 2."""

    def test_bad_field_names_file_and_field(self, tmp_path: Path) -> None:
        """An invalid field exits 2 with an error naming the file and the field."""
        policy = tmp_path / "policy.toml"
        policy.write_text('[kinds.card]\nkeep = "first9_last9"\n')
        result = run("--policy", str(policy), stdin=f"card {PAN}\n".encode())
        assert result.returncode == 2
        stderr = result.stderr.decode()
        assert str(policy) in stderr
        assert "kinds.card.keep" in stderr
        assert result.stdout == b""

    def test_invalid_toml(self, tmp_path: Path) -> None:
        """A file that is not TOML exits 2 and names the file."""
        policy = tmp_path / "broken.toml"
        policy.write_text("rules = [\n")
        result = run("--policy", str(policy))
        assert result.returncode == 2
        assert str(policy) in result.stderr.decode()

    def test_missing_file(self, tmp_path: Path) -> None:
        """A policy file that does not exist exits 2 and names the file."""
        missing = tmp_path / "nope.toml"
        result = run("--policy", str(missing))
        assert result.returncode == 2
        assert str(missing) in result.stderr.decode()

    def test_good_policy_applies(self, tmp_path: Path) -> None:
        """A valid policy changes the output (cards shown as last 4 only)."""
        policy = tmp_path / "policy.toml"
        policy.write_text('[kinds.card]\nkeep = "last4"\n')
        result = run("--policy", str(policy), stdin=f"card {PAN}\n".encode())
        assert result.returncode == 0
        assert result.stdout == b"card ************1111\n"


_FINDING = re.compile(
    r"^(?P<path>.+):(?P<line>\d+):(?P<col>\d+): (?P<kind>[a-z_]+): (?P<preview>.*)$"
)


class TestScanCommand:
    """``python -m redactor scan`` audits files and folders."""

    @pytest.fixture
    def tree(self, tmp_path: Path) -> Path:
        """A folder with a leaky log, a clean log, a gzip log, a binary file and .git."""
        root = tmp_path / "logs"
        (root / "sub").mkdir(parents=True)
        (root / ".git").mkdir()
        (root / "app.log").write_text(f"start\npay {PAN} now\nkey sk_live_{STRIPE_BODY}\n")
        (root / "clean.log").write_text("GET /health 200\nall good\n")
        with gzip.open(root / "old.log.gz", "wt") as handle:
            handle.write(f"archived\ncvv=123 pan {PAN}\n")
        (root / "blob.bin").write_bytes(b"\x00\x01binary " + PAN.encode() + b"\n")
        (root / "sub" / "deep.log").write_text(f"user a.b@example.com\n{PAN}\n")
        (root / ".git" / "config").write_text(f"{PAN}\n")
        return root

    def test_text_output_format_and_exit_status(self, tree: Path) -> None:
        """Findings print as path:line:col: kind: preview and the exit status is 1."""
        result = run("scan", "--quiet", str(tree))
        assert result.returncode == 1
        out = result.stdout.decode()
        rows = [_FINDING.match(line) for line in out.splitlines()]
        assert all(rows), out
        found = {(Path(m["path"]).name, int(m["line"]), int(m["col"]), m["kind"]) for m in rows}
        assert ("app.log", 2, 5, "card") in found
        assert ("app.log", 3, 13, "secret") in found
        assert ("deep.log", 1, 6, "email") in found
        assert ("deep.log", 2, 1, "card") in found

    def test_previews_are_masked(self, tree: Path) -> None:
        """No raw value appears in scan output, only masked previews."""
        out = run("scan", "--quiet", str(tree)).stdout.decode()
        assert PAN not in out
        assert STRIPE_BODY not in out
        assert "a.b@" not in out
        assert MASKED_PAN in out

    def test_reads_gzip_files(self, tree: Path) -> None:
        """Findings inside a .gz file are reported with decompressed line numbers."""
        out = run("scan", "--quiet", str(tree / "old.log.gz")).stdout.decode()
        kinds = {(m["line"], m["kind"]) for m in map(_FINDING.match, out.splitlines()) if m}
        assert kinds == {("2", "cvv"), ("2", "card")}

    def test_walks_folders_and_skips_binary_and_git(self, tree: Path) -> None:
        """Sub-folders are scanned; binary files and .git folders are not."""
        out = run("scan", "--quiet", str(tree)).stdout.decode()
        names = {Path(m["path"]).name for m in map(_FINDING.match, out.splitlines()) if m}
        assert names == {"app.log", "old.log.gz", "deep.log"}

    def test_clean_files_exit_zero(self, tree: Path) -> None:
        """A clean file produces no output and exit status 0."""
        result = run("scan", "--quiet", str(tree / "clean.log"))
        assert result.returncode == 0
        assert result.stdout == b""

    def test_json_format(self, tree: Path) -> None:
        """--format json emits one JSON object per finding with the documented fields."""
        result = run("scan", "--quiet", "--format", "json", str(tree / "app.log"))
        assert result.returncode == 1
        records = [json.loads(line) for line in result.stdout.decode().splitlines()]
        assert records == [
            {
                "path": str(tree / "app.log"),
                "line": 2,
                "col": 5,
                "kind": "card",
                "rule": "card.pan",
                "preview": MASKED_PAN,
            },
            {
                "path": str(tree / "app.log"),
                "line": 3,
                "col": 13,
                "kind": "secret",
                "rule": "secret.stripe",
                "preview": "[REDACTED]",
            },
        ]

    def test_missing_path_reported(self, tmp_path: Path) -> None:
        """A path that does not exist is reported on stderr and is not a clean result."""
        result = run("scan", "--quiet", str(tmp_path / "nope.log"))
        assert result.returncode != 0
        assert "nope.log" in result.stderr.decode()


class TestWorkers:
    def test_workers_give_the_same_output_in_the_same_order(self):
        """With --workers 2 the output is byte-identical to the single-process run."""
        lines = []
        for i in range(3000):
            lines.append(f"req-{i} status=200 took {i}ms")
            if i % 7 == 0:
                lines.append(f'{{"n": {i}, "card": "{PAN}", "cvv": "123"}}')
            if i == 1500:
                lines += [
                    "-----BEGIN RSA PRIVATE KEY-----",
                    "MIIEsecretbody",
                    "-----END RSA PRIVATE KEY-----",
                ]
        data = ("\n".join(lines) + "\n").encode()
        single = run(stdin=data)
        pooled = run("--workers", "2", stdin=data)
        assert pooled.returncode == 0, pooled.stderr
        assert pooled.stdout == single.stdout
        assert PAN.encode() not in pooled.stdout
        assert b"MIIEsecretbody" not in pooled.stdout
        assert pooled.stdout.count(b"\n") == len(lines)

    def test_a_worker_killed_mid_stream_costs_nothing(self) -> None:
        """kill -9 of a worker: its batch is redone here, the output is still complete.

        ``multiprocessing.Pool`` lost the killed worker's batch and ``imap`` waited for it
        forever: the command hung with its output cut short.
        """
        import os
        import signal
        import time

        lines = [f"req-{i} status=200 pan {PAN if i % 5 == 0 else i}" for i in range(200_000)]
        data = ("\n".join(lines) + "\n").encode()
        single = run(stdin=data)
        child = subprocess.Popen(
            [sys.executable, "-m", "redactor", "--workers", "2"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdin is not None and child.stdout is not None
        writer = threading.Thread(target=lambda: (child.stdin.write(data), child.stdin.close()))
        writer.start()
        first = child.stdout.read(4096)  # workers are running batches now
        workers = _children(child.pid)
        deadline = time.monotonic() + 30
        while len(workers) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = _children(child.pid)
        assert workers, "no worker processes found"
        os.kill(workers[0], signal.SIGKILL)
        watchdog = threading.Timer(60, child.kill)  # a hang fails the test, not CI
        watchdog.start()
        try:
            rest = child.stdout.read()  # to the end: the command does not hang
            writer.join()
            assert child.stderr is not None
            stderr = child.stderr.read()
        finally:
            watchdog.cancel()
        assert child.wait(timeout=60) == 0, stderr
        assert first + rest == single.stdout
        assert PAN.encode() not in first + rest
        assert b"a worker process died" in stderr and b"req-" not in stderr


def _children(pid: int) -> list[int]:
    """The worker processes of ``pid`` (from /proc; not its resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and b"spawn_main" in command:
                found.append(int(entry.name))
    return found
