"""The batch event path gives exactly what ``redact_event`` gives, event by event."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from redactor import Redactor
from tests.property.strategies import planted_text
from tests.property.test_json import _OBJECTS

SETTINGS = settings(max_examples=150, deadline=None)
BACKENDS = [Redactor(backend="python"), Redactor()]


def _lines(events: list[dict[str, Any]], ascii_only: bool) -> list[str]:
    return [json.dumps(e, ensure_ascii=ascii_only) for e in events]


@SETTINGS
@given(st.lists(_OBJECTS, min_size=1, max_size=8), st.booleans())
def test_json_events_match_redact_event(events: list[dict[str, Any]], ascii_only: bool) -> None:
    """Events parsed from JSON lines come out of the batch path as from redact_event."""
    texts = _lines(events, ascii_only)
    parsed = [json.loads(t) for t in texts]
    for redactor in BACKENDS:
        expected = [redactor.redact_event(e) for e in parsed]
        assert redactor.redact_events(parsed, texts) == expected
        assert redactor.redact_events(parsed) == expected


@SETTINGS
@given(st.lists(planted_text(), min_size=1, max_size=8))
def test_wrapped_text_lines_match_redact_event(lines: list[str]) -> None:
    """Plain lines wrapped as {"message": line} match redact_event given the line as text."""
    events = [{"message": line} for line in lines]
    for redactor in BACKENDS:
        expected = [redactor.redact_event(e) for e in events]
        assert redactor.redact_events(events, lines) == expected


def test_clean_event_is_returned_as_is() -> None:
    """An event the pre-filter clears is not copied: the sidecar's fast path."""
    event = {"message": "GET /health 200", "status": 200}
    text = json.dumps(event)
    assert Redactor().redact_events([event], [text])[0] is event


def test_length_mismatch_is_refused() -> None:
    """Texts that do not line up with the events are a caller bug, not silently ignored."""
    try:
        Redactor().redact_events([{}], [])
    except ValueError as exc:
        assert "differ in length" in str(exc)
    else:
        raise AssertionError("expected ValueError")
