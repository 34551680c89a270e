"""Packaging of the logging integrations: optional imports, the sample table, the examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from redactor import Redactor
from redactor.policy import BUILTIN_KINDS
from tests.integration.samples import KINDS, SAMPLES, leaks

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORKS = ("structlog", "pythonjsonlogger", "fluent", "msgpack")


def run_python(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run the interpreter on this working tree (not whatever copy is installed)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class TestOptionalImports:
    @pytest.mark.parametrize("module", ["redactor", "redactor.stdlib"])
    def test_core_and_stdlib_import_no_framework(self, module):
        """``import redactor`` (and the stdlib adapter) pulls in none of the optional extras."""
        code = (
            f"import json, sys, {module}; "
            f"print(json.dumps([m for m in {FRAMEWORKS!r} if m in sys.modules]))"
        )
        result = run_python("-c", code)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == []

    def test_structlog_adapter_imports_the_real_structlog(self):
        """``redactor.structlog`` does not shadow the library it adapts."""
        code = (
            "import redactor.structlog as r, structlog; "
            "print(structlog.__file__); print(r.structlog is structlog)"
        )
        result = run_python("-c", code)
        assert result.returncode == 0, result.stderr
        path, same = result.stdout.split()
        assert "redactor" not in Path(path).parts
        assert same == "True"


class TestSampleTable:
    def test_table_size_and_kind_coverage(self):
        """The table has at least 30 samples and covers every built-in kind of the core."""
        assert len(SAMPLES) >= 30
        assert set(BUILTIN_KINDS) == KINDS
        assert len({s.name for s in SAMPLES}) == len(SAMPLES)

    @pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.name)
    def test_each_sample_is_found_as_its_kind(self, sample):
        """The core finds each sample as the kind the table says, so the table tests something."""
        redactor = Redactor()
        kinds = {finding.kind for finding in redactor.scan(sample.text)}
        assert sample.kind in kinds
        assert leaks(sample.text, [sample])  # the leak check recognizes the raw value
        assert not leaks(redactor.redact(sample.text), [sample])


EXAMPLES = {
    "logging_stdlib.py": (
        ["4111 1111 1111 1111", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "hunter2", "5555555555554444"],
        ["411111******1111", "sk_live_[REDACTED]", "password=[REDACTED]", "ValueError"],
    ),
    "logging_jsonlogger.py": (
        ["4111111111111111", "maria.lopez@", "abcDEF123456ghiJKL789", "S3cr3t-pw", '"737"'],
        ['"order_id": "A-1001"', '"cvc": "[REDACTED]"', "ConnectionError"],
    ),
    "logging_structlog.py": (
        ["q8w7e6r5t4y3u2i1", "4111111111111111", "536-22-4417", "s3ss10n", "5555555555554444"],
        ['"request_id": "req-42"', '"api_key": "[REDACTED]"', "?token=[REDACTED]"],
    ),
    "logging_fluent.py": (
        ["4111 1111 1111 1111", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "5555555555554444"],
        ["shop.payment", '"cvv": "[REDACTED]"', "PermissionError", "411111******1111"],
    ),
    "logging_queue.py": (
        ["4111111111111111", "5555 5555 5555 4444", "3782-822463-10005"],
        ["order 0 paid with 411111******1111", "order 2 paid with 378282*****0005"],
    ),
}


class TestExamples:
    def test_every_example_is_covered(self):
        """Each examples/logging_*.py has an entry here, so none goes untested."""
        assert {p.name for p in (ROOT / "examples").glob("logging_*.py")} == set(EXAMPLES)

    @pytest.mark.parametrize("name", sorted(EXAMPLES))
    def test_example_runs_and_prints_only_redacted_values(self, name):
        """``python examples/<name>`` exits 0; its output holds the redacted values only."""
        raw, expected = EXAMPLES[name]
        result = run_python(f"examples/{name}")
        assert result.returncode == 0, result.stderr
        output = result.stdout + result.stderr
        assert [value for value in raw if value in output] == []
        assert [value for value in expected if value not in output] == []
        for line in result.stdout.splitlines():
            if line.startswith("{"):
                json.loads(line)
