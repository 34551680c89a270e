"""The stdin source: a pipe into the sidecar process comes out redacted and stamped."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CONFIG = """
data_dir = "data"

[[sources]]
type = "stdin"
max_line_bytes = 4096

[[sinks]]
type = "stdout"
"""


def run(tmp_path: Path, data: bytes) -> subprocess.CompletedProcess[bytes]:
    (tmp_path / "sidecar.toml").write_text(CONFIG)
    return subprocess.run(
        [sys.executable, "-m", "sidecar", "--config", str(tmp_path / "sidecar.toml")],
        input=data,
        capture_output=True,
        timeout=60,
    )


def test_pipe_is_redacted_and_ends_at_eof(tmp_path: Path) -> None:
    """Every piped line is shipped once, redacted, and the process exits 0 at end of input."""
    lines = [f"INFO seq={i} card 4111 1111 1111 1111 request_id=req_{i}" for i in range(300)]
    lines.append('{"level": "error", "password": "hunter2", "request_id": "req_json"}')
    done = run(tmp_path, ("\n".join(lines) + "\n").encode())
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(records) == 301
    assert [r["message"].split()[1] for r in records[:300]] == [f"seq={i}" for i in range(300)]
    assert all("411111******1111" in r["message"] for r in records[:300])
    assert records[300]["password"] == "[REDACTED]" and records[300]["retention_tier"] == "error"
    assert b"4111 1111 1111 1111" not in done.stdout and b"hunter2" not in done.stdout
    assert b"4111" not in done.stderr and b"hunter2" not in done.stderr


def test_bad_bytes_and_long_lines_are_counted_not_lost(tmp_path: Path) -> None:
    """Invalid UTF-8 is decoded with U+FFFD, an over-long line becomes a placeholder."""
    data = b"ok 1\n\xff\xfe bad bytes\n" + b"x" * 10_000 + b"\nok 2\nlast without newline"
    done = run(tmp_path, data)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    messages = [json.loads(line)["message"] for line in done.stdout.splitlines()]
    assert messages[0] == "ok 1" and messages[1] == "\ufffd\ufffd bad bytes"
    assert messages[2].startswith("[oversized line:") and "10000 bytes" in messages[2]
    assert messages[3:] == ["ok 2", "last without newline"]
    assert b"invalid UTF-8" in done.stderr and b"over-long" in done.stderr
