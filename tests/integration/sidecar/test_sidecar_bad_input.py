"""Bad input: malformed JSON, invalid UTF-8, a 10 MB line and a truncated last line.

None of it may stop the sidecar, lose the good lines around it, or reach its own log
(stderr, run at DEBUG level here): each problem is counted in
``sidecar_errors_total{reason}`` and the record is shipped in a safe form: malformed
JSON as redacted text, invalid bytes decoded with U+FFFD, an over-long line as a
placeholder naming the file, offset and length, or whole (and redacted) when it fits
under ``max_line_bytes``.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.sidecar.conftest import (
    TEST_PANS,
    Archive,
    SidecarFactory,
    base_config,
    free_port,
    seqs_of,
)

#: Planted values that must never show up in the sidecar's own log.
SECRET = "sk_live_" + "Zq8" * 8
FILLER = "lorem ipsum dolor sit amet "
_OVERSIZED = re.compile(r"^\[oversized line: (\d+) bytes at offset (\d+) in (.+)\]$")


def _big_line(seq: int, size: int = 10 * 1024 * 1024) -> bytes:
    """A text line of about ``size`` bytes with a test card in its middle."""
    half = FILLER * (size // (2 * len(FILLER)))
    return f"2026-01-01T00:00:00Z INFO big seq={seq} {half} card {TEST_PANS[0]} {half}".encode()


def _good(seq: int) -> bytes:
    return json.dumps({"seq": seq, "level": "info", "msg": "fine"}).encode()


def _leaks(text: str) -> list[str]:
    needles = [*TEST_PANS, SECRET, FILLER * 3, "unterminated", "caf"]
    return [n[:12] for n in needles if n in text]


def test_bad_lines_are_counted_and_the_rest_delivered(
    workdir: Path,
    write_config: Callable[..., Path],
    sidecars: SidecarFactory,
    archive: Archive,
) -> None:
    """Malformed JSON, invalid UTF-8 and a 10 MB line over a 1 MiB limit are counted, not fatal."""
    port = free_port()
    source = {"paths": ["logs/app.log"], "max_line_bytes": 1024 * 1024, "poll_ms": 20}
    config = write_config(base_config(port, source=source))
    sidecars.env["SIDECAR_LOG_LEVEL"] = "DEBUG"
    big = _big_line(14)
    lines = [_good(n) for n in range(10)]
    lines += [
        b'{"seq": 10, "level": "info", "msg": "unterminated seq=10',
        b'{"card": "' + TEST_PANS[1].encode() + b'", "token": "' + SECRET.encode() + b'" seq=11',
        b"2026-01-01T00:00:00Z INFO api seq=12 caf\xe9 \xff\xfe end",
        b'{"seq": 13, "msg": "bad \xc3\x28 byte"}',
        big,
        *(_good(n) for n in range(15, 20)),
    ]
    log = workdir / "logs" / "app.log"
    log.write_bytes(b"\n".join(lines) + b"\n")

    child = sidecars.start(config, port=port)
    child.wait_ready()
    child.wait_metric("sidecar_sink_records_total", 20, sink="archive")
    seen = child.metrics()
    assert seen.total("sidecar_errors_total", reason="malformed_json") == 2
    assert seen.total("sidecar_errors_total", reason="invalid_utf8") == 2
    assert seen.total("sidecar_errors_total", reason="oversized") == 1
    assert child.http("/healthz")[0] == 200
    assert child.http("/readyz")[0] == 200

    # Still running: a truncated last line waits for its end, then ships whole.
    with open(log, "ab") as handle:
        handle.write(b"2026-01-01T00:00:00Z INFO api seq=20 first half")
        handle.flush()
        child.wait_metric("sidecar_source_bytes_total", log.stat().st_size - 60, source="app")
        time.sleep(0.3)  # many polls see the half line; none may ship it
        handle.write(b", second half\n" + _good(21) + b"\n")
    child.wait_metric("sidecar_sink_records_total", 22, sink="archive")
    status, _ = child.stop(signal.SIGTERM)
    assert status == 0, child.stderr()

    records = archive.records()
    assert len(records) == 22
    assert sorted(seqs_of(records)) == [n for n in range(22) if n != 14]
    by_seq = {seq: r for r, seq in zip_seqs(records)}
    assert by_seq[20]["message"].endswith("seq=20 first half, second half")
    assert "\ufffd" in by_seq[12]["message"] and "\ufffd" in by_seq[13]["msg"]
    malformed = by_seq[11]["message"]
    assert TEST_PANS[1] not in malformed and SECRET not in malformed
    placeholders = [r for r in records if _OVERSIZED.match(str(r.get("message", "")))]
    assert len(placeholders) == 1
    match = _OVERSIZED.match(placeholders[0]["message"])
    assert match is not None and int(match.group(1)) >= len(big)
    assert match.group(3).endswith("app.log")
    leaked = _leaks(child.stderr())
    assert not leaked, f"the sidecar's own log holds record contents: {leaked}"


def zip_seqs(records: list[dict[str, Any]]) -> list[tuple[dict[str, Any], int]]:
    """Pair each record with its seq (records without one are left out)."""
    return [(r, s) for r in records for s in seqs_of([r])]


def test_a_10_mb_line_under_the_limit_ships_whole_and_redacted(
    workdir: Path,
    write_config: Callable[..., Path],
    sidecars: SidecarFactory,
    archive: Archive,
) -> None:
    """Under the default limit a 10 MB line ships whole, card masked; so does a cut last line."""
    config = write_config(base_config(None, stdout_sink=True))
    sidecars.env["SIDECAR_LOG_LEVEL"] = "DEBUG"
    big = _big_line(1)
    (workdir / "logs" / "app.log").write_bytes(
        _good(0) + b"\n" + big + b"\n" + _good(2) + b"\n2026-01-01T00:00:00Z INFO api seq=3 cut"
    )
    done = sidecars.run("--config", str(config), "--once")
    assert done.returncode == 0, done.stderr.decode()

    records = archive.records()
    assert sorted(seqs_of(records)) == [0, 1, 2, 3]
    (shipped,) = [r for r in records if "seq=1 " in r.get("message", "")]
    message = shipped["message"]
    masked = TEST_PANS[0][:6] + "******" + TEST_PANS[0][-4:]
    assert TEST_PANS[0] not in message
    assert f" card {masked} " in message
    assert len(message.encode()) == len(big) - len(TEST_PANS[0]) + len(masked)
    assert shipped["retention_tier"] == "application"
    assert TEST_PANS[0].encode() not in done.stdout
    assert len(done.stdout) > len(big)
    leaked = _leaks(done.stderr.decode())
    assert not leaked, f"the sidecar's own log holds record contents: {leaked}"
