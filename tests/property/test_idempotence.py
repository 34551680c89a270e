"""Redacting already-redacted output changes nothing."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor import Redactor
from tests.property.strategies import arbitrary_text, filler, planted_text, samples

REDACTOR = Redactor()
SETTINGS = settings(max_examples=200, deadline=None)
#: Nested events are slow to generate; fewer examples keep the run short.
NESTED = settings(max_examples=100, deadline=None)

_KEYS = st.sampled_from(
    ("password", "cvv", "card_number", "api_key", "email", "msg", "note", "user", "ssn", "pin")
)
_LEAVES = st.one_of(
    samples,
    planted_text(filler(15)),
    st.integers(),
    st.integers(4 * 10**15, 5 * 10**15),
    st.booleans(),
    st.none(),
)
_JSON = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_KEYS, children, max_size=4)
    ),
    max_leaves=12,
)


class TestTextIdempotence:
    """redact() is a projection: a second pass leaves its output alone."""

    @SETTINGS
    @given(planted_text())
    @example(" +14155552671  0@example.com ")
    @example("Authorization: Bearer abcDEF123456ghiJKL789")
    @example("card_number=[REDACTED] password=[REDACTED]")
    def test_redact_twice_equals_once(self, text: str) -> None:
        """redact(redact(x)) == redact(x) for arbitrary text with planted samples."""
        once = REDACTOR.redact(text)
        assert REDACTOR.redact(once) == once

    @SETTINGS
    @given(planted_text(filler(20)))
    def test_redact_line_twice_equals_once_on_text(self, text: str) -> None:
        """redact_line() is idempotent on plain-text lines."""
        once = REDACTOR.redact_line(text)
        assert REDACTOR.redact_line(once) == once

    @SETTINGS
    @given(samples)
    def test_single_sample_idempotent(self, sample: str) -> None:
        """Each planted sample on its own is redacted to a fixed point."""
        once = REDACTOR.redact(sample)
        assert REDACTOR.redact(once) == once

    @SETTINGS
    @given(arbitrary_text(200))
    def test_arbitrary_text_idempotent(self, text: str) -> None:
        """Arbitrary text without planted samples is redacted to a fixed point too."""
        once = REDACTOR.redact(text)
        assert REDACTOR.redact(once) == once


class TestJsonIdempotence:
    """redact_line() on JSON object lines is idempotent."""

    @NESTED
    @given(st.dictionaries(_KEYS, _JSON, min_size=1, max_size=5), st.booleans())
    def test_redact_line_twice_equals_once_on_json(self, event: dict, compact: bool) -> None:
        """redact_line(redact_line(x)) == redact_line(x) for JSON object lines."""
        separators = (",", ":") if compact else (", ", ": ")
        line = json.dumps(event, separators=separators)
        once = REDACTOR.redact_line(line)
        assert REDACTOR.redact_line(once) == once

    @NESTED
    @given(st.dictionaries(_KEYS, _JSON, min_size=1, max_size=5))
    @example({"card_number": [], "cvv": {}})
    def test_redact_event_twice_equals_once(self, event: dict) -> None:
        """redact_event(redact_event(x)) == redact_event(x) for nested events."""
        once = REDACTOR.redact_event(event)
        assert REDACTOR.redact_event(once) == once
