"""The independent labelled set through the real CLI: the redaction core's acceptance bar."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_EVALUATE = Path(__file__).resolve().parents[1] / "data" / "labelled" / "evaluate.py"


@pytest.fixture(scope="module")
def report():
    spec = importlib.util.spec_from_file_location("labelled_evaluate", _EVALUATE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.evaluate([sys.executable, "-m", "redactor"])


class TestLabelledSet:
    def test_cli_succeeds_and_keeps_line_count(self, report):
        """The CLI exits 0 and writes one line per input line."""
        assert report.returncode == 0, report.stderr
        assert report.lines_in == report.lines_out

    def test_at_least_99_percent_of_secrets_are_lost(self, report):
        """At least 99% of the labelled secrets no longer appear in the output."""
        missed = [(f.id, f.kind) for f in report.failures_of("missed_secret")]
        assert report.lost_pct >= 99.0, missed

    def test_every_kind_is_covered(self, report):
        """Each kind of the spec loses at least 95% of its secrets, none is ignored."""
        weak = {k: s.recall for k, s in report.per_kind.items() if s.recall < 95.0}
        assert not weak
        assert len(report.per_kind) == 11

    def test_at_least_98_percent_of_useful_tokens_are_kept(self, report):
        """Request ids, timestamps, amounts and other troubleshooting tokens survive."""
        dropped = [f.value for f in report.failures_of("dropped_keep")]
        assert report.keep_pct >= 98.0, dropped[:20]

    def test_json_lines_stay_valid_with_the_same_keys(self, report):
        """Every JSON line still parses and keeps its top-level keys."""
        assert report.json_ok, [f.id for f in report.failures if f.kind == "json"]
