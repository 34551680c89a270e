"""Structural redaction keeps JSON lines valid, with the same keys in the same order."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from redactor import Redactor
from redactor.validators import card_ok
from tests.property.strategies import cards, filler, planted_text, samples

REDACTOR = Redactor()
#: Nested events are slow to generate; 100 examples keep the run short.
SETTINGS = settings(max_examples=100, deadline=None)

SENSITIVE_KEYS = (
    "password",
    "cvv",
    "card_number",
    "cardNumber",
    "pan",
    "api_key",
    "token",
    "credentials",
    "ssn",
    "pin",
    "iban",
    "email",
)
PLAIN_KEYS = ("msg", "user", "amount", "items", "meta", "request_id", "status", "note")
_KEYS = st.one_of(
    st.sampled_from(SENSITIVE_KEYS + PLAIN_KEYS),
    st.text(string.ascii_lowercase + "_", min_size=1, max_size=10),
)
_LEAVES = st.one_of(
    samples,
    cards,
    cards.map(int),
    planted_text(filler(15)),
    st.text(max_size=20),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(_KEYS, children, max_size=4)
    ),
    max_leaves=10,
)
_OBJECTS = st.dictionaries(_KEYS, _VALUES, min_size=1, max_size=6)


def assert_same_shape(before: Any, after: Any, key: str | None = None) -> None:
    """Check that ``after`` has the keys of ``before``, in order, at every level.

    A container may only turn into a string under a sensitive key (masked whole).
    """
    if isinstance(before, dict):
        if not isinstance(after, dict):
            assert isinstance(after, str) and key is not None, (key, before, after)
            return
        assert list(after) == list(before)
        for name in before:
            assert_same_shape(before[name], after[name], name)
    elif isinstance(before, list):
        if not isinstance(after, list):
            assert isinstance(after, str) and key is not None, (key, before, after)
            return
        assert len(after) == len(before)
        for old, new in zip(before, after, strict=True):
            assert_same_shape(old, new)


def planted_cards(value: Any) -> list[str]:
    """Return every card number planted in ``value`` (as a string or an int)."""
    if isinstance(value, dict):
        return [c for v in value.values() for c in planted_cards(v)]
    if isinstance(value, list):
        return [c for v in value for c in planted_cards(v)]
    if type(value) is int and value > 0 and card_ok(str(value)):
        return [str(value)]
    return []


class TestJsonLines:
    """redact_line() on JSON object lines."""

    @SETTINGS
    @given(_OBJECTS, st.booleans())
    def test_json_stays_valid_with_same_keys(self, event: dict, compact: bool) -> None:
        """The output parses and has the same keys, in order, at every level."""
        separators = (",", ":") if compact else (", ", ": ")
        line = json.dumps(event, separators=separators)
        out = REDACTOR.redact_line(line)
        assert_same_shape(event, json.loads(out))

    @SETTINGS
    @given(_OBJECTS)
    def test_json_keeps_formatting_style(self, event: dict) -> None:
        """A compact ASCII line comes back compact and ASCII."""
        line = json.dumps(event, separators=(",", ":"))
        out = REDACTOR.redact_line(line)
        assert out == json.dumps(json.loads(out), separators=(",", ":"))

    @SETTINGS
    @given(st.lists(_VALUES, min_size=1, max_size=5))
    def test_json_array_lines_stay_valid(self, items: list) -> None:
        """A top-level JSON array stays a valid array of the same length."""
        out = REDACTOR.redact_line(json.dumps(items))
        assert_same_shape(items, json.loads(out))

    @SETTINGS
    @given(_OBJECTS)
    def test_no_planted_card_number_survives(self, event: dict) -> None:
        """No card number planted as a JSON number appears in the output."""
        out = REDACTOR.redact_line(json.dumps(event))
        for digits in planted_cards(event):
            assert digits not in out

    @SETTINGS
    @given(st.dictionaries(st.sampled_from(SENSITIVE_KEYS), _VALUES, min_size=1))
    def test_sensitive_keys_never_keep_their_value(self, event: dict) -> None:
        """A non-empty value under a sensitive key never comes back unchanged."""
        out = json.loads(REDACTOR.redact_line(json.dumps(event)))
        for key, value in event.items():
            if value is None or isinstance(value, bool) or value in ("", [], {}):
                continue
            assert out[key] != value or (isinstance(value, str) and "*" in value), key

    @SETTINGS
    @given(_OBJECTS)
    def test_json_inside_a_string_stays_valid(self, inner: dict) -> None:
        """JSON held in a string value is redacted and re-serialized as valid JSON."""
        line = json.dumps({"msg": "webhook", "body": json.dumps(inner)})
        out = json.loads(REDACTOR.redact_line(line))
        assert list(out) == ["msg", "body"]
        assert_same_shape(inner, json.loads(out["body"]))
