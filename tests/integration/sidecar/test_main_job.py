"""The main job: the README's command on the shipped example, as a user would run it.

``python3 -m sidecar --config examples/sidecar/sidecar.toml --once`` with a freshly
generated archive key tails the example logs (text with a traceback, JSON with
transaction, audit and error records) into an encrypted archive and stdout. The
example is copied first (as a fresh clone has it, without any ``var/`` left by an
earlier run), and its metrics port is moved to a free one, since 9880 may be taken.

Done when: the planted card numbers, CVVs and API keys of the example logs appear in
no output (stdout, the sidecar's own log, each decrypted archive file, the archive's
raw bytes) while the request ids do appear in stdout and the decrypted archive.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from tests.integration.sidecar.conftest import REPO, Archive, SidecarFactory, free_port

EXAMPLE = REPO / "examples" / "sidecar"
#: What the example logs plant, by the class the issue names.
PANS = ("4111 1111 1111 1111", "5555555555554444", "378282246310005", "4000056655665556")
CVVS = ("cvv=123", '"cvc": "1234"')
API_KEYS = ("4eC39HqLyjWDarjtT1zdp7dc", "9xQ2mZ7rT4vB8nK1pL6sW3dF")
#: Other secrets the example plants (bearer token, passwords, IBAN, e-mail address).
OTHERS = (
    "eyJzdWIiOiJ1c2VyXzQyIiwiaWF0IjoxNzAwMDAwMDAwfQ",
    "Sup3rS3cret!",
    "correct horse battery staple",
    "DE89370400440532013000",
    "ana.silva@example.com",
)
_REQUEST_ID = re.compile(r"req_[0-9a-f]{8}")


def _forms(value: str) -> set[str]:
    """A planted value as written, without separators, and JSON-compacted."""
    return {value, value.replace(" ", ""), value.replace('": "', '":"')}


def test_main_job_ships_request_ids_and_no_planted_secret(
    tmp_path: Path, sidecars: SidecarFactory
) -> None:
    """The example run exits 0; no PAN, CVV or API key in any output; request ids in all."""
    site = tmp_path / "example"
    shutil.copytree(EXAMPLE, site, ignore=shutil.ignore_patterns("var", "__pycache__"))
    config = site / "sidecar.toml"
    text = config.read_text()
    assert 'listen = "127.0.0.1:9880"' in text
    config.write_text(text.replace("127.0.0.1:9880", f"127.0.0.1:{free_port()}"))
    logs = "".join(p.read_text() for p in sorted((site / "logs").glob("*.log")))
    planted = [*PANS, *CVVS, *API_KEYS, *OTHERS]
    absent = [value for value in planted if value not in logs]
    assert not absent, f"the example logs no longer plant {absent}: update this test"
    request_ids = set(_REQUEST_ID.findall(logs))
    assert len(request_ids) >= 8

    done = sidecars.run("--config", str(config), "--once")
    assert done.returncode == 0, done.stderr.decode()
    stdout = done.stdout.decode("utf-8")
    stderr = done.stderr.decode("utf-8", "replace")

    archive = Archive(site / "var" / "archive", sidecars)
    files = archive.files()
    assert {tier for tier, _ in archive.folders()} == {
        "application",
        "error",
        "audit",
        "transaction",
    }
    for (tier, _), records in archive.records_by_folder().items():
        assert {r["retention_tier"] for r in records} == {tier}
    decrypted = sidecars.run("decrypt", *map(str, files))
    assert decrypted.returncode == 0, decrypted.stderr.decode()
    archived = decrypted.stdout.decode("utf-8")
    outputs = {"stdout": stdout, "stderr": stderr, "decrypted archive": archived}
    for path in files:
        outputs[f"raw {path.name}"] = path.read_bytes().decode("latin-1")

    leaks = [
        (where, value[:8])
        for where, content in outputs.items()
        for value in planted
        for form in _forms(value)
        if form in content
    ]
    assert not leaks, f"planted values leaked: {leaks}"

    assert set(_REQUEST_ID.findall(stdout)) == request_ids
    assert set(_REQUEST_ID.findall(archived)) == request_ids
    assert sorted(stdout.splitlines()) == sorted(archived.splitlines())
    for path in files:
        raw = path.read_bytes()
        assert path.name.endswith(".jsonl.gz.enc"), f"{path.name} is not encrypted"
        assert not raw.startswith(b"\x1f\x8b"), f"{path.name} is bare gzip"
        assert not any(rid.encode() in raw for rid in request_ids), f"{path.name}: plaintext"
