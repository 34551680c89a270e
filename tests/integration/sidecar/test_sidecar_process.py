"""The sidecar as a real process: tiers, purge, encryption at rest, config checks, metrics.

Each test writes a config and logs into a temporary directory, runs
``python3 -m sidecar`` on it (``--once`` where a batch run shows the behaviour, a
long-running process where readiness or metrics matter) and reads the archive back
through ``python3 -m sidecar decrypt``, as an operator would.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from sidecar.archive.keys import key_id_of
from tests.integration.sidecar.conftest import (
    KEY_ENV,
    REPO,
    TEST_PANS,
    Archive,
    SidecarFactory,
    base_config,
    free_port,
    make_env,
    seqs_of,
    to_toml,
    utc_today,
)

WriteConfig = Callable[..., Path]
STAMP = ("retention_tier", "retention_days", "expire_at")


def _jsonl(path: Path, records: list[dict[str, Any]]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


def _run_once(sidecars: SidecarFactory, config: Path) -> None:
    done = sidecars.run("--config", str(config), "--once")
    assert done.returncode == 0, done.stderr.decode()


# -- retention tiers --------------------------------------------------------------------

TIERS = {"application": 7, "error": 90, "audit": 365, "transaction": 2557, "legal": 11}


def test_records_land_in_their_tier_folder_with_expire_at(
    workdir: Path, write_config: WriteConfig, sidecars: SidecarFactory, archive: Archive
) -> None:
    """Each record is filed under <tier>/<UTC ship day>/ with that tier's days and expire_at."""
    _jsonl(
        workdir / "logs" / "app.log",
        [
            {"level": "info", "log_type": "transaction", "seq": 1},  # the rule
            {"level": "info", "retention_tier": "audit", "seq": 2},  # its own tier
            {"level": "error", "seq": 3},  # level
            {"level": "info", "seq": 5},  # plain info
            {"level": "info", "retention_tier": "bogus", "seq": 7},  # unknown: not honoured
            {"level": "error", "log_type": "transaction", "seq": 8},  # rules come first
            {"levelname": "INFO", "retention_tier": "legal", "seq": 9},  # a configured tier
        ],
    )
    with open(workdir / "logs" / "app.log", "a", encoding="utf-8") as handle:
        handle.write("2026-01-01T00:00:00Z ERROR payments seq=4 charge failed\n")
        handle.write("2026-01-01T00:00:01Z INFO api seq=6 request done\n")
    expected = {
        "transaction": [1, 8],
        "audit": [2],
        "error": [3, 4],
        "application": [5, 6, 7],
        "legal": [9],
    }
    config = write_config(base_config(None, tiers=TIERS))
    before = utc_today()
    _run_once(sidecars, config)
    after = utc_today()

    by_folder = archive.records_by_folder()
    assert {tier for tier, _ in by_folder} == set(expected)
    for (tier, day), records in by_folder.items():
        shipped_on = date.fromisoformat(day)
        assert shipped_on in {before, after}, f"{tier}/{day} is not the UTC ship day"
        assert sorted(seqs_of(records)) == expected[tier], tier
        for record in records:
            assert record["retention_tier"] == tier
            assert record["retention_days"] == TIERS[tier]
            assert record["expire_at"] == (shipped_on + timedelta(days=TIERS[tier])).isoformat()


# -- purge ------------------------------------------------------------------------------


def _day_folder(root: Path, tier: str, day: date | str) -> Path:
    folder = root / tier / (day if isinstance(day, str) else day.isoformat())
    folder.mkdir(parents=True)
    (folder / "kept-by-hand.bin").write_bytes(b"some bytes")
    return folder


def _printed(stdout: bytes) -> set[Path]:
    return {Path(line).resolve() for line in stdout.decode().splitlines() if line}


def test_purge_removes_exactly_the_expired_day_folders(
    workdir: Path, write_config: WriteConfig, sidecars: SidecarFactory, archive: Archive
) -> None:
    """At start and with `purge --as-of`, exactly the folders with day + days <= as-of go."""
    today = utc_today()
    root = archive.path
    # Already expired when the sidecar starts: it purges them itself.
    stale = _day_folder(root, "application", today - timedelta(days=30))
    fresh = _day_folder(root, "application", today - timedelta(days=29))
    ancient = _day_folder(root, "legacy", today - timedelta(days=4000))
    (workdir / "logs" / "app.log").write_text('{"seq": 1}\n{"level": "error", "seq": 2}\n')
    config = write_config(base_config(None))
    _run_once(sidecars, config)
    assert not stale.exists(), "the sidecar purges at start"
    own = {root / tier / day for tier, day in archive.folders()}
    assert own == {root / "application" / today.isoformat(), root / "error" / today.isoformat()}

    as_of = today + timedelta(days=10)
    doomed = {
        fresh,  # spared at start, expired by then
        _day_folder(root, "application", as_of - timedelta(days=30)),  # exactly on the day
        _day_folder(root, "application", as_of - timedelta(days=400)),
        _day_folder(root, "error", as_of - timedelta(days=90)),
        _day_folder(root, "audit", as_of - timedelta(days=365)),
        _day_folder(root, "transaction", as_of - timedelta(days=2557)),
    }
    short = {  # each one day short of its tier's end
        _day_folder(root, "application", as_of - timedelta(days=29)),
        _day_folder(root, "error", as_of - timedelta(days=89)),
        _day_folder(root, "audit", as_of - timedelta(days=364)),
        _day_folder(root, "transaction", as_of - timedelta(days=2556)),
    }
    spared = short | {
        ancient,  # a tier no longer configured
        _day_folder(root, "application", "notes"),  # not a date
        _day_folder(root, "application", "2001-02-30"),  # date-shaped, not a date
        _day_folder(root, "application", "20010101"),
    }
    (root / "application" / "README").write_text("a plain file")

    done = sidecars.run("purge", "--config", str(config), "--as-of", as_of.isoformat())
    assert done.returncode == 0, done.stderr.decode()
    assert _printed(done.stdout) == {p.resolve() for p in doomed}
    for folder in doomed:
        assert not folder.exists(), folder
    for folder in spared | own:
        assert folder.is_dir(), folder
    assert (root / "application" / "README").is_file()

    # Thirty days on, the one-day-short folders and the sidecar's own application
    # folder have reached their end; its error folder has not.
    later = today + timedelta(days=30)
    expected = short | {root / "application" / today.isoformat()}
    done = sidecars.run("purge", "--config", str(config), "--as-of", later.isoformat())
    assert done.returncode == 0, done.stderr.decode()
    assert _printed(done.stdout) == {p.resolve() for p in expected}
    assert (root / "error" / today.isoformat()).is_dir()
    assert ancient.is_dir()


# -- encryption at rest -----------------------------------------------------------------


def _masked(pan: str) -> str:
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


@dataclass
class EncryptedRun:
    """One ``--once`` run into an encrypted archive, shared by the encryption tests."""

    inputs: list[dict[str, Any]]
    done: subprocess.CompletedProcess[bytes]
    archive: Archive
    key: str
    sidecars: SidecarFactory


@pytest.fixture(scope="module")
def encrypted(tmp_path_factory: pytest.TempPathFactory, pycache: Path) -> Iterator[EncryptedRun]:
    """Sixty JSON records, some with a test card, shipped to an archive and stdout."""
    root = tmp_path_factory.mktemp("encrypted")
    site = root / "site"
    (site / "logs").mkdir(parents=True)
    inputs: list[dict[str, Any]] = []
    for seq in range(60):
        record: dict[str, Any] = {
            "seq": seq,
            "level": "info",
            "request_id": f"req_{secrets.token_hex(6)}",
            "path": f"/v1/orders/{seq}",
            "note": "nothing to hide here",
        }
        if seq % 10 == 3:
            record["card_number"] = TEST_PANS[seq % len(TEST_PANS)]
        inputs.append(record)
    _jsonl(site / "logs" / "app.log", inputs)
    config = site / "sidecar.toml"
    config.write_text(to_toml(base_config(None, stdout_sink=True)))
    key = base64.b64encode(os.urandom(32)).decode()
    factory = SidecarFactory(root, make_env(key, pycache))
    done = factory.run("--config", str(config), "--once")
    assert done.returncode == 0, done.stderr.decode()
    yield EncryptedRun(inputs, done, Archive(site / "archive", factory), key, factory)
    factory.close()


def test_archive_decrypts_to_exactly_the_redacted_records(encrypted: EncryptedRun) -> None:
    """`decrypt` gives back each input record once, PANs masked, plus the retention stamp."""
    records = encrypted.archive.records()
    assert len(records) == len(encrypted.inputs)
    by_seq = {r["seq"]: r for r in records}
    assert sorted(by_seq) == [r["seq"] for r in encrypted.inputs]
    for original in encrypted.inputs:
        shipped = dict(by_seq[original["seq"]])
        assert shipped.pop("retention_tier") == "application"
        assert shipped.pop("retention_days") == 30
        shipped.pop("expire_at")
        expected = dict(original)
        if "card_number" in expected:
            expected["card_number"] = _masked(expected["card_number"])
        assert shipped == expected
    # The stdout sink saw the very same records.
    lines = encrypted.done.stdout.splitlines()
    stdout = sorted(json.dumps(json.loads(x), sort_keys=True) for x in lines)
    assert stdout == sorted(json.dumps(r, sort_keys=True) for r in records)


def test_archive_bytes_hold_no_plaintext(encrypted: EncryptedRun) -> None:
    """Archive files are encrypted: no request id, field name or card digits in their bytes."""
    files = encrypted.archive.files()
    assert files and all(p.name.endswith(".jsonl.gz.enc") for p in files)
    key_id = key_id_of(base64.b64decode(encrypted.key))
    needles = [r["request_id"].encode() for r in encrypted.inputs]
    needles += [b"request_id", b"retention_tier", b"nothing to hide", b"/v1/orders"]
    needles += [p.encode() for p in TEST_PANS] + [_masked(p).encode() for p in TEST_PANS]
    for path in files:
        raw = path.read_bytes()
        assert not raw.startswith(b"\x1f\x8b"), f"{path.name} is bare gzip"
        assert key_id.encode() in raw[:64], "the header names the key id"
        leaked = [n for n in needles if n in raw]
        assert not leaked, f"{path.name} holds plaintext"
        assert path.stat().st_mode & 0o077 == 0, "archive files are private to the sidecar"


def test_decrypt_with_a_wrong_or_missing_key_fails_naming_the_key_id(
    encrypted: EncryptedRun,
) -> None:
    """A wrong or absent key: non-zero exit, the file's key id named, no record printed."""
    files = [str(p) for p in encrypted.archive.files()]
    env = encrypted.sidecars.env
    key_id = key_id_of(base64.b64decode(encrypted.key))
    wrong = base64.b64encode(os.urandom(32)).decode()
    missing = {k: v for k, v in env.items() if k != KEY_ENV}
    renamed = {**env, KEY_ENV: wrong, "OTHER_ARCHIVE_KEY": encrypted.key}
    bad_wrong, bad_missing, good = encrypted.sidecars.run_many(
        [
            (["decrypt", *files], {**env, KEY_ENV: wrong}),
            (["decrypt", *files], missing),
            (["decrypt", "--key-env", "OTHER_ARCHIVE_KEY", *files], renamed),
        ]
    )
    for done in (bad_wrong, bad_missing):
        assert done.returncode != 0
        assert done.stdout == b""
        assert key_id in done.stderr.decode()
        assert wrong not in done.stderr.decode()
        assert encrypted.key not in done.stderr.decode()
    # The right key under another variable name (and a wrong one in the default).
    assert good.returncode == 0, good.stderr.decode()
    shipped = sorted(json.loads(x)["seq"] for x in good.stdout.splitlines())
    assert shipped == [r["seq"] for r in encrypted.inputs]


# -- configuration checks ---------------------------------------------------------------


def _broken(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    config = base_config(9)
    mutate(config)
    return config


BROKEN: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "poll_ms too small": (lambda c: c["sources"][0].update(poll_ms=1), "sources[0].poll_ms"),
    "unknown key": (lambda c: c["sources"][0].update(pathz=["x"]), "sources[0].pathz"),
    "archive without path": (lambda c: c["sinks"][0].pop("path"), "sinks[0].path"),
    "rule names no tier": (
        lambda c: c["retention"]["rules"][0].update(tier="forever"),
        "retention.rules[0].tier",
    ),
    "listen without port": (lambda c: c["metrics"].update(listen="localhost"), "metrics.listen"),
    "unset ${VAR}": (
        lambda c: c["sinks"][0].update(path="${SIDECAR_TEST_UNSET_DIR}/archive"),
        "sinks[0].path",
    ),
}


def test_check_config_names_the_broken_field(
    workdir: Path, write_config: WriteConfig, sidecars: SidecarFactory
) -> None:
    """A broken config exits 2 with a message naming the offending field (several cases)."""
    jobs: list[tuple[list[str], dict[str, str] | None]] = []
    for i, case in enumerate(BROKEN):
        config = write_config(_broken(BROKEN[case][0]), name=f"broken-{i}.toml")
        jobs.append((["--config", str(config), "--check-config"], None))
    for case, done in zip(BROKEN, sidecars.run_many(jobs), strict=True):
        field = BROKEN[case][1]
        assert done.returncode == 2, f"{case}: {done.stderr.decode()}"
        assert field in done.stderr.decode(), f"{case}: {done.stderr.decode()}"
    assert not (workdir / "data").exists(), "checking a config creates nothing"


def test_check_config_accepts_the_example_and_needs_its_key(
    tmp_path: Path, sidecars: SidecarFactory
) -> None:
    """The example passes `--check-config`; a missing or malformed key exits 2 naming it."""
    copy = tmp_path / "example" / "sidecar.toml"
    copy.parent.mkdir()
    copy.write_bytes((REPO / "examples" / "sidecar" / "sidecar.toml").read_bytes())
    args = ["--config", str(copy), "--check-config"]
    missing = {k: v for k, v in sidecars.env.items() if k != KEY_ENV}
    short = base64.b64encode(b"sixteen byte key").decode()
    ok, *bad = sidecars.run_many(
        [
            (args, None),
            (args, missing),
            (args, {**sidecars.env, KEY_ENV: short}),
            (args, {**sidecars.env, KEY_ENV: "%%%ZEBRA-KEY%%%"}),
        ]
    )
    assert ok.returncode == 0, ok.stderr.decode()
    assert sorted(p.name for p in copy.parent.iterdir()) == ["sidecar.toml"]
    for done in bad:
        assert done.returncode == 2, done.stderr.decode()
        assert KEY_ENV in done.stderr.decode()
        assert short not in done.stderr.decode()
        assert "ZEBRA-KEY" not in done.stderr.decode()


# -- metrics of a running sidecar -------------------------------------------------------


def test_metrics_count_records_and_redactions_while_running(
    workdir: Path, write_config: WriteConfig, sidecars: SidecarFactory
) -> None:
    """/readyz is 200 once started; /metrics counts records per source and sink, and cards."""
    port = free_port()
    config = write_config(base_config(port, stdout_sink=True))
    started = time.time()
    child = sidecars.start(config, port=port)
    child.wait_ready()
    assert child.http("/healthz")[0] == 200
    idle = child.metrics()
    assert idle.total("sidecar_ready") == 1
    assert idle.has("sidecar_source_records_total", source="app")
    assert idle.has("sidecar_redactions_total", source="app", kind="card")

    lines = [f"2026-01-01T00:00:00Z INFO api seq={n} request served" for n in range(50)]
    lines[7] = f"2026-01-01T00:00:00Z INFO pay seq=7 charged card {TEST_PANS[0]}"
    lines[20] = f"2026-01-01T00:00:00Z INFO pay seq=20 charged card {TEST_PANS[1]}"
    lines[33] = f"2026-01-01T00:00:00Z INFO pay seq=33 charged card {TEST_PANS[2]}"
    blob = "".join(line + "\n" for line in lines).encode()
    (workdir / "logs" / "app.log").write_bytes(blob)
    child.wait_metric("sidecar_sink_records_total", 50, sink="archive")
    child.wait_metric("sidecar_sink_records_total", 50, sink="stdout")

    seen = child.metrics()
    assert seen.total("sidecar_source_records_total", source="app") == 50
    assert seen.total("sidecar_source_bytes_total", source="app") == len(blob)
    assert seen.total("sidecar_sink_records_total", sink="archive") == 50
    assert seen.total("sidecar_sink_records_total", sink="stdout") == 50
    assert seen.total("sidecar_sink_bytes_total", sink="archive") > 0
    assert seen.total("sidecar_redactions_total", source="app", kind="card") == 3
    assert seen.total("sidecar_records_by_tier_total", tier="application") == 50
    last = seen.total("sidecar_sink_last_success_timestamp_seconds", sink="archive")
    assert started <= last <= time.time()
    assert seen.total("sidecar_metrics_label_rejected_total") == 0
    assert seen.total("sidecar_errors_total") == 0
    for pan in TEST_PANS:
        assert pan not in seen.text
    assert sorted(seqs_of([json.loads(x) for x in child.stdout().splitlines()])) == list(range(50))

    status, elapsed = child.stop(signal.SIGTERM)
    assert status == 0, child.stderr()
    assert elapsed < 8
