"""Handing a compiled Hyperscan database to another process instead of compiling it."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import redactor.backends.hyperscan as hs
from redactor import Policy, Redactor
from redactor.backends import export_compiled, import_compiled

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "card 4111 1111 1111 1111 api_key=sk_live_abcdefghijklmnop1234 iban GB82WEST12345698765432"

_CHILD = """
import pickle, sys
from redactor import Redactor
from redactor.backends import import_compiled
import redactor.backends.hyperscan as hs
loaded = import_compiled(pickle.loads(sys.stdin.buffer.read()))
before = dict(hs._DATABASES)
out = Redactor().redact_line(sys.argv[1])
reused = any(r is hs._DATABASES.get(k) for k, r in before.items())
print(loaded, reused, len(hs._DATABASES), out, sep="\\n")
"""


@pytest.fixture()
def fresh_cache() -> object:
    """Start from an empty database cache and put the old one back afterwards."""
    saved = dict(hs._DATABASES)
    hs._DATABASES.clear()
    yield
    hs._DATABASES.clear()
    hs._DATABASES.update(saved)


class TestHandover:
    def test_export_holds_what_was_compiled(self, fresh_cache: object) -> None:
        """After compiling a redactor, the export carries its one database."""
        Redactor(backend="hyperscan")
        exported = export_compiled()
        assert isinstance(exported, tuple)
        version, items = exported
        assert version == hs._VERSION and len(items) == 1

    def test_imported_database_is_used_without_compiling(self, fresh_cache: object) -> None:
        """A redactor built after an import uses the imported database object itself."""
        expected = Redactor(backend="hyperscan").redact_line(SAMPLE)
        exported = pickle.loads(pickle.dumps(export_compiled()))
        hs._DATABASES.clear()
        assert import_compiled(exported) == 1
        (loaded,) = hs._DATABASES.values()
        again = Redactor(backend="hyperscan")
        assert again._scanner._batch._db is loaded  # type: ignore[attr-defined]
        assert again.redact_line(SAMPLE) == expected

    @pytest.mark.parametrize(
        "garbage",
        [None, "text", ("other-build", []), (hs._VERSION, [((("x",), (0,)), b"not a db")]), 42],
    )
    def test_unusable_input_is_ignored(self, fresh_cache: object, garbage: object) -> None:
        """Another build, a damaged blob or plain garbage loads nothing and breaks nothing."""
        assert import_compiled(garbage) == 0
        assert "411111******1111" in Redactor(backend="hyperscan").redact_line(SAMPLE)

    def test_other_process_with_other_hash_seed_reuses_it(self, fresh_cache: object) -> None:
        """A fresh interpreter (other string hashing) finds the database by its patterns.

        The patterns must come out the same in every process; a set's order leaking into
        them once made every worker compile its own database again.
        """
        parent = Redactor()
        payload = pickle.dumps(export_compiled())
        env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(ROOT)}
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, SAMPLE],
            input=payload,
            capture_output=True,
            check=True,
            env=env,
            timeout=120,
        ).stdout.decode()
        loaded, reused, count, line = out.splitlines()
        assert (loaded, reused, count) == ("1", "True", "1")
        assert line == parent.redact_line(SAMPLE)

    def test_another_policy_compiles_its_own(self, fresh_cache: object) -> None:
        """An imported database serves only the exact pattern set it was compiled for."""
        Redactor(backend="hyperscan")
        exported = export_compiled()
        hs._DATABASES.clear()
        import_compiled(exported)
        narrow = Redactor(Policy.from_dict({"rules": ["@card"]}), backend="hyperscan")
        assert len(hs._DATABASES) == 2
        assert narrow.redact_line(SAMPLE).startswith("card 411111******1111")


_LOADER = """
import sys
from redactor import Policy, Redactor
from redactor.backends.hyperscan import loaded_from_cache
policy = Policy.from_dict({"rules": ["@card"]}) if sys.argv[2] == "narrow" else Policy.default()
out = Redactor(policy, backend="hyperscan").redact_line(sys.argv[1])
print(loaded_from_cache(), out, sep="\\n")
"""


def _precompile(directory: Path) -> list[Path]:
    """Run the precompile command: the files it wrote, the database before its twin."""
    done = subprocess.run(
        [sys.executable, "-m", "redactor", "precompile", "--cache", str(directory)],
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=120,
    )
    return [Path(line) for line in done.stdout.decode().splitlines()]


def _load(directory: Path, policy: str = "default", text: str = SAMPLE) -> tuple[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), hs.CACHE_ENV: str(directory)}
    out = subprocess.run(
        [sys.executable, "-c", _LOADER, text, policy],
        capture_output=True,
        check=True,
        env=env,
        timeout=120,
    ).stdout.decode()
    loaded, line = out.splitlines()
    return loaded, line


class TestAheadOfTime:
    """``python -m redactor precompile`` and ``REDACTOR_HYPERSCAN_CACHE``."""

    def test_precompiled_database_is_loaded_and_redacts_the_same(self, tmp_path: Path) -> None:
        """A process pointed at the directory loads the database instead of compiling it."""
        written, twin = _precompile(tmp_path)
        for path in (written, twin):
            assert path.parent == tmp_path and path.stat().st_size > 0
        assert _load(tmp_path) == ("1", Redactor().redact_line(SAMPLE))

    def test_a_flooded_text_loads_the_single_match_twin_too(self, tmp_path: Path) -> None:
        """The twin for texts past the callback limit is precompiled as well, and loaded."""
        _precompile(tmp_path)
        flood = "mail " + "@" * 3000 + " ana@example.com"
        assert _load(tmp_path, text=flood) == ("2", Redactor().redact_line(flood))

    def test_damaged_file_is_ignored(self, tmp_path: Path) -> None:
        """A truncated database fails Hyperscan's checks: the process compiles its own."""
        written, _twin = _precompile(tmp_path)
        written.write_bytes(written.read_bytes()[:1000])
        assert _load(tmp_path) == ("0", Redactor().redact_line(SAMPLE))

    def test_other_policy_does_not_pick_it_up(self, tmp_path: Path) -> None:
        """The file is named by its exact patterns: another policy compiles its own."""
        _precompile(tmp_path)
        narrow = Redactor(Policy.from_dict({"rules": ["@card"]}), backend="hyperscan")
        assert _load(tmp_path, "narrow") == ("0", narrow.redact_line(SAMPLE))

    def test_missing_directory_compiles_as_usual(self, tmp_path: Path) -> None:
        """Pointing at a directory that does not exist costs the compile, nothing else."""
        assert _load(tmp_path / "absent") == ("0", Redactor().redact_line(SAMPLE))

    def test_precompile_never_copies_an_existing_database(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Precompiling with the variable set compiles from the patterns, not the file.

        A database swapped in under the default policy's name (here: one compiled for
        cards only) must not be propagated into the new directory.
        """
        name, _twin = _precompile(tmp_path / "a")
        Redactor(Policy.from_dict({"rules": ["@card"]}), backend="hyperscan")
        narrow = next(db for key, db in hs._DATABASES.items() if len(key[0]) < 20 and key[0])
        name.write_bytes(hs.hyperscan.dumpb(narrow))
        monkeypatch.setenv(hs.CACHE_ENV, str(tmp_path / "a"))
        fresh, _twin = _precompile(tmp_path / "b")
        assert fresh.name == name.name
        assert fresh.read_bytes() != name.read_bytes()
        assert _load(tmp_path / "b") == ("1", Redactor().redact_line(SAMPLE))
