"""Differential tests: the logging integrations' fast paths change nothing in the output.

The stdlib filter and the structlog processor decide most records with one pre-filter
pass (:meth:`Redactor._probe`) over the record's strings, skipping values the
structural walk never scans (bools, floats, None, short ints). These tests hold each
shortcut equal to the general path it replaces, on random records with and without
planted samples:

* the probe never calls a text clean when the full scan (no pre-filter at all) finds
  something in it, with either backend;
* a stdlib record with flat extras comes out exactly as the JSON path
  (:func:`redactor.stdlib.redact_fields` over message and extras) would leave it;
* a flat structlog event comes out exactly as :func:`redact_fields` would return it.
"""

from __future__ import annotations

import logging
import string
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor import Policy, Redactor
from redactor.stdlib import _STANDARD, RedactingFilter, _Failed, redact_fields
from redactor.structlog import RedactingProcessor
from tests.property.strategies import arbitrary_text, planted_text, samples
from tests.property.test_prefilter import _DENSE, UNFILTERED

SETTINGS = settings(max_examples=200, deadline=None)
BACKENDS = {name: Redactor(backend=name) for name in ("python", "hyperscan")}
REDACTOR = BACKENDS["hyperscan"]

_texts = st.one_of(planted_text(), arbitrary_text(60), _DENSE, samples)
_keys = st.one_of(
    st.sampled_from(
        ("request_id", "user", "status", "password", "card_number", "apiKey", "note", "db-2")
    ),
    st.text(string.ascii_letters + "_-", min_size=1, max_size=12),
    samples,
)
#: What the walk scans (strings, ints of any size) and what it leaves alone.
_values = st.one_of(
    _texts,
    st.integers(),
    st.integers(10**11, 10**19),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
_fields = st.dictionaries(_keys, _values, max_size=5)


class TestProbe:
    """The probe's "clean" is never wrong."""

    @SETTINGS
    @given(_texts)
    @example("pay 4111111111111111")
    @example('{"a": "\\u0040x"}')
    @example("password=hunter2")
    def test_clean_means_no_finding(self, text: str) -> None:
        """An empty set from the probe implies no finding and an unchanged line."""
        found_anything = bool(UNFILTERED._scanner.scan(text))
        for name, redactor in BACKENDS.items():
            verdict = redactor._probe(text)
            if "\\u" not in text and "\\/" not in text:  # the backend's own probe agrees
                assert verdict == redactor._scanner.subset(text), name
            if verdict is not None and not verdict:
                assert not found_anything, name
                assert redactor.redact_line(text) == text, name

    def test_escapes_are_never_vouched_for(self) -> None:
        """``\\u`` and ``\\/`` decode to other characters: the probe gives no verdict."""
        assert REDACTOR._probe('{"m": "mail \\u0040 x"}') is None
        assert REDACTOR._probe('{"u": "http:\\/\\/x"}') is None

    def test_user_patterns_are_never_vouched_for(self) -> None:
        """User patterns run on every text, so no text is clean before they ran."""
        policy = Policy.from_dict(
            {"patterns": [{"name": "emp", "kind": "secret", "regex": "E-[0-9]{6}"}]}
        )
        assert Redactor(policy)._probe("nothing here") is None


def _record(message: str, fields: dict[str, Any]) -> logging.LogRecord:
    record = logging.LogRecord("fast", logging.INFO, __file__, 1, "%s", (message,), None)
    record.__dict__.update(fields)
    return record


def _usable(fields: dict[str, Any]) -> dict[str, Any]:
    """Keys ``extra=`` accepts and the filter treats as extras."""
    return {k: v for k, v in fields.items() if k not in _STANDARD and not k.startswith("_")}


class TestStdlibFastPath:
    """Flat extras: the filter's result equals the JSON path's."""

    @SETTINGS
    @given(_texts, _fields)
    @example("order 12345678 updated", {"request_id": "req-1", "user_id": 7})
    @example("hi", {"4111111111111111": 1})
    @example("login", {"user": "ana", "password": "hunter2"})
    @example("x", {"pan": 4111111111111111, "rate": 1.5, "ok": True, "none": None})
    def test_same_as_json_path(self, message: str, fields: dict[str, Any]) -> None:
        """Message and extras come out as ``redact_fields([message, extras])`` makes them."""
        extra = _usable(fields)
        if not extra:
            return
        expected = redact_fields(REDACTOR, [message, extra])
        reference = _record(message, extra)
        try:
            RedactingFilter._apply_extra(reference.__dict__, extra, expected[1])
        except _Failed:  # two keys redacted to the same text: the record fails closed
            RedactingFilter(redactor=REDACTOR)._fail(reference, count=False)
        else:
            reference.msg, reference.args = expected[0], ()

        record = _record(message, extra)
        RedactingFilter(redactor=REDACTOR).filter(record)

        assert record.getMessage() == reference.getMessage()
        assert {k: v for k, v in record.__dict__.items() if k not in _STANDARD} == {
            k: v for k, v in reference.__dict__.items() if k not in _STANDARD
        }


class TestStructlogFastPath:
    """Flat events: the processor's result equals the JSON path's."""

    @SETTINGS
    @given(_fields, _texts)
    @example({"timestamp": "2025-11-22T15:47:01.123456Z", "level": "info"}, "GET / 200")
    @example({"4111111111111111": 1}, "hi")
    @example({"authorization": "Bearer abcDEF123456ghiJKL789"}, "upstream call")
    def test_same_as_json_path(self, fields: dict[str, Any], event: str) -> None:
        """The event comes out as ``redact_fields(event)`` returns it."""
        event_dict = {"event": event, **fields}
        expected = redact_fields(REDACTOR, dict(event_dict))
        out = RedactingProcessor(redactor=REDACTOR)(None, "info", dict(event_dict))
        assert out == expected
