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
