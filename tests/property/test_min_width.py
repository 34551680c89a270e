"""The minimum match width the scanner uses to skip short values is a true lower bound.

A value of a flagged structure shorter than every possible detector's shortest match is
returned without scanning; if a width were overstated, such a value would pass raw.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings

from redactor import Redactor
from tests.property.strategies import planted_text, samples

REDACTOR = Redactor()
SCANNER = REDACTOR._scanner
LABELLED = Path(__file__).resolve().parents[1] / "data" / "labelled" / "lines.jsonl"


def assert_widths_hold(text: str) -> None:
    for index, detector in enumerate(SCANNER.detectors):
        width = SCANNER.min_width(frozenset({index}))
        for match in SCANNER._pattern(index).finditer(text):
            assert match.end() - match.start() >= width, detector.name


class TestMinWidth:
    @settings(max_examples=300)
    @given(planted_text())
    def test_no_match_is_shorter_than_its_detectors_width(self, text: str) -> None:
        """Every match of every detector in planted text spans at least its width."""
        assert_widths_hold(text)

    @given(samples)
    def test_a_bare_sample_is_not_skipped(self, sample: str) -> None:
        """A sample alone, as a JSON value, is redacted exactly as the same text would be."""
        event = {"note": sample}
        redacted = REDACTOR.redact_events([event], [json.dumps(event)])[0]
        assert redacted["note"] == REDACTOR.redact(sample)

    def test_labelled_corpus(self) -> None:
        """The widths hold on every line of the labelled real-world corpus."""
        for row in LABELLED.read_text().splitlines():
            assert_widths_hold(json.loads(row)["line"])

    def test_union_takes_the_smallest(self) -> None:
        """The width of a set of detectors is the smallest of theirs (0 for none)."""
        widths = [SCANNER.min_width(frozenset({i})) for i in range(len(SCANNER.detectors))]
        assert SCANNER.min_width(frozenset(range(len(widths)))) == min(widths)
        assert SCANNER.min_width(frozenset()) == 0
