"""The Hyperscan pre-filter's way out of callback floods (see ``HyperscanPrefilter.subset``)."""

from __future__ import annotations

import pytest

from redactor import Redactor
from redactor.backends.hyperscan import CALLBACK_LIMIT, HyperscanPrefilter

FLOODS = {
    "at signs": "@" * 3000,
    "digit run": "7" * 3000,
    "dashed groups": "1234-" * 600,
    "iban-like groups": "AB12 DE00 " * 300,
}


@pytest.mark.parametrize("text", FLOODS.values(), ids=list(FLOODS))
def test_flooded_text_gets_the_same_detectors_as_the_pure_prefilter(text: str) -> None:
    """Past the limit, the single-match database answers, and agrees with the pure one."""
    redactor = Redactor(backend="hyperscan")
    scanner = redactor._scanner
    batch = scanner._batch
    assert isinstance(batch, HyperscanPrefilter)
    pure = scanner._prefilter
    assert batch.subset(text) == pure.subset(text)
    assert batch._flood is not None  # the flood path was taken, not the first scan
    assert redactor._probe(text) == pure.subset(text)


def test_normal_lines_never_reach_the_limit() -> None:
    """A busy but ordinary line reports far fewer matches than the limit."""
    line = (
        "2024-03-14 09:26:53,811 INFO pay card=4111 1111 1111 1111 to ana@example.com "
        "iban DE89 3704 0044 0532 0130 00 phone +1 415 555 0100 token=sk_live_abc"
    )
    redactor = Redactor(backend="hyperscan")
    batch = redactor._scanner._batch
    assert isinstance(batch, HyperscanPrefilter)
    found: list[int] = []

    def note(pattern: int, *_: object) -> None:
        found.append(pattern)

    batch._db.scan(line.encode(), note)
    assert 0 < len(found) < CALLBACK_LIMIT


def test_a_batch_of_flooded_lines_is_scanned_line_by_line() -> None:
    """A batch past its callback budget falls back to per-line scans, same output."""
    redactor = Redactor(backend="hyperscan")
    batch = redactor._scanner._batch
    assert isinstance(batch, HyperscanPrefilter)
    pure = redactor._scanner._prefilter
    lines = [*FLOODS.values(), "pay 4111 1111 1111 1111 to ana@example.com", "GET /healthz 200"]
    assert batch.select(lines) == [pure.subset(line) for line in lines]
    assert batch._flood is not None  # per-line scans, each flooded line rescanned
    expected = Redactor(backend="python").redact_lines(lines)
    assert redactor.redact_lines(lines) == expected
    assert "4111 1111 1111 1111" not in expected[-2]


def test_a_normal_batch_stays_one_scan() -> None:
    """Ordinary lines never exhaust the budget: no per-line rescans, no second database."""
    redactor = Redactor(backend="hyperscan")
    batch = redactor._scanner._batch
    assert isinstance(batch, HyperscanPrefilter)
    lines = ["2024-03-14 INFO pay 4111 1111 1111 1111 to ana@example.com user=7"] * 500
    assert all(batch.select(lines))
    assert batch._flood is None
