"""Structural redaction of events: nested containers, sensitive keys, JSON in strings."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from redactor import Policy, Redactor
from redactor.engine import FAILED
from redactor.maskers import REDACTED
from redactor.structured import MAX_DEPTH, dumps_like, looks_like_json

PAN = "4111111111111111"
MASKED_PAN = "411111******1111"


@pytest.fixture
def redactor() -> Redactor:
    """A fresh redactor with the default policy."""
    return Redactor()


class Opaque:
    """An object that is neither a string nor a container."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text


class Unprintable:
    """An object whose ``__str__`` raises."""

    def __str__(self) -> str:
        raise RuntimeError("no str")


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for level in range(depth):
        value = {"level": level, "child": value} if level % 2 else [value]
    return value


class TestContainers:
    """Dicts, lists and tuples are walked to any depth, keeping their types."""

    def test_nested_types_preserved(self, redactor: Redactor) -> None:
        """Lists stay lists, tuples stay tuples, dicts stay dicts, and PANs inside are masked."""
        event = {"a": [1, ("x", {"b": f"card {PAN}"})], "t": (PAN, 2)}
        out = redactor.redact_event(event)
        assert out == {"a": [1, ("x", {"b": f"card {MASKED_PAN}"})], "t": (MASKED_PAN, 2)}
        assert isinstance(out["a"], list)
        assert isinstance(out["a"][1], tuple)
        assert isinstance(out["t"], tuple)

    def test_top_level_list_and_tuple(self, redactor: Redactor) -> None:
        """A list or tuple at the top level comes back as the same type."""
        assert redactor.redact_event([PAN, "ok"]) == [MASKED_PAN, "ok"]
        assert redactor.redact_event((PAN, "ok")) == (MASKED_PAN, "ok")

    def test_key_order_preserved(self, redactor: Redactor) -> None:
        """Keys come back in their original order."""
        event = {"z": 1, "password": "pw", "a": PAN, "m": None}
        assert list(redactor.redact_event(event)) == ["z", "password", "a", "m"]

    def test_sensitive_text_in_a_key_is_redacted(self, redactor: Redactor) -> None:
        """A key that holds a card number is masked like any other string."""
        assert redactor.redact_event({PAN: 1}) == {MASKED_PAN: 1}

    def test_non_string_keys_kept(self, redactor: Redactor) -> None:
        """Integer and tuple keys are kept as they are."""
        event = {1: PAN, (2, 3): "ok"}
        assert redactor.redact_event(event) == {1: MASKED_PAN, (2, 3): "ok"}

    def test_input_not_mutated(self, redactor: Redactor) -> None:
        """The input event is left exactly as it was."""
        event = {
            "card_number": PAN,
            "nested": {"password": "hunter2", "items": [PAN, {"cvv": 123}]},
            "body": json.dumps({"pan": PAN}),
            "raw": bytearray(PAN.encode()),
        }
        before = copy.deepcopy(event)
        redactor.redact_event(event)
        assert event == before


class TestScalars:
    """Ints, floats, None, booleans, bytes and other objects."""

    def test_int_pan_at_plain_key_becomes_masked_string(self, redactor: Redactor) -> None:
        """A card number carried as an int is masked into a string."""
        assert redactor.redact_event({"ref": int(PAN)}) == {"ref": MASKED_PAN}

    def test_ordinary_ints_and_floats_kept(self, redactor: Redactor) -> None:
        """Ints that are not card numbers and floats keep their type and value."""
        event = {"amount": 1250, "ts": 1700000000000, "big": 1234567890123456789, "f": 1.5}
        assert redactor.redact_event(event) == event

    def test_none_and_booleans_kept(self, redactor: Redactor) -> None:
        """None and booleans carry no secret and are kept, even under sensitive keys."""
        event = {"password": None, "cvv": True, "card_number": False, "x": None, "y": True}
        out = redactor.redact_event(event)
        assert out == event
        assert out["cvv"] is True
        assert out["card_number"] is False

    def test_bytes_decoded_and_redacted(self, redactor: Redactor) -> None:
        """Bytes are decoded as UTF-8 and redacted as text."""
        out = redactor.redact_event({"raw": f"card {PAN}".encode()})
        assert out == {"raw": f"card {MASKED_PAN}"}

    def test_invalid_utf8_bytes_decoded_with_replacement(self, redactor: Redactor) -> None:
        """Undecodable bytes become replacement characters; the PAN is still masked."""
        out = redactor.redact_event({"raw": b"\xff\xfe " + PAN.encode()})
        assert out == {"raw": f"\ufffd\ufffd {MASKED_PAN}"}

    def test_bytearray_and_memoryview(self, redactor: Redactor) -> None:
        """Bytearray and memoryview values are decoded like bytes."""
        data = f"card {PAN}".encode()
        out = redactor.redact_event([bytearray(data), memoryview(data)])
        assert out == [f"card {MASKED_PAN}", f"card {MASKED_PAN}"]

    def test_objects_go_through_str(self, redactor: Redactor) -> None:
        """Other objects are rendered with str() and redacted as text."""
        assert redactor.redact_event({"obj": Opaque(f"card {PAN}")}) == {
            "obj": f"card {MASKED_PAN}"
        }

    def test_object_whose_str_raises_fails_closed(self, redactor: Redactor) -> None:
        """An object that cannot be rendered becomes the failure placeholder and is counted."""
        out = redactor.redact_event({"obj": Unprintable(), "ok": "fine"})
        assert out == {"obj": FAILED, "ok": "fine"}
        assert redactor.counts() == {"error": 1}


class TestSensitiveKeys:
    """A value under a sensitive key is masked whole, whatever its type."""

    @pytest.mark.parametrize(
        ("key", "value", "expected"),
        [
            ("cvv", 123, REDACTED),
            ("cvv", "123", REDACTED),
            ("password", 3.14, REDACTED),
            ("password", b"hunter2", REDACTED),
            ("card_number", int(PAN), MASKED_PAN),
            ("cardNumber", PAN, MASKED_PAN),
            ("card_number", PAN.encode(), MASKED_PAN),
            ("card_number", "4111 1111 1111 1111", MASKED_PAN),
            ("credentials", {"user": "u", "password": "p"}, REDACTED),
            ("api_key", ["a", "b"], REDACTED),
            ("token", ("a", "b"), REDACTED),
            ("secret", {"a", "b"}, REDACTED),
            ("ssn", "123-45-6789", "***-**-6789"),
            ("email", "a.b@example.com", "***@example.com"),
            ("pin", 1234, REDACTED),
            ("x-api-key", "k3y-k3y-k3y-k3y", REDACTED),
        ],
    )
    def test_value_masked_whatever_its_type(
        self, redactor: Redactor, key: str, value: Any, expected: str
    ) -> None:
        """The value becomes the kind's masked form, and its raw text is gone."""
        out = redactor.redact_event({key: value})
        assert out == {key: expected}

    def test_sensitive_keys_counted(self, redactor: Redactor) -> None:
        """Each value masked by key is counted under the key's kind."""
        redactor.redact_event({"cvv": 123, "password": "pw", "card_number": PAN})
        assert redactor.counts() == {"cvv": 1, "password": 1, "card": 1}

    def test_already_masked_value_unchanged(self, redactor: Redactor) -> None:
        """A value already in the masker's shape is kept as is."""
        event = {"card_number": MASKED_PAN, "password": REDACTED}
        assert redactor.redact_event(event) == event

    def test_allowed_key_not_masked(self) -> None:
        """A key on the policy's allow list is walked as an ordinary value."""
        redactor = Redactor(Policy.from_dict({"keys": {"allow": ["next_page_token"]}}))
        out = redactor.redact_event({"next_page_token": "abc123", "token": "abc123"})
        assert out == {"next_page_token": "abc123", "token": REDACTED}

    def test_disabled_kind_scans_value_as_text(self) -> None:
        """With passwords switched off, a password value is only scanned as text."""
        redactor = Redactor(Policy.from_dict({"rules": ["@pci"]}))
        out = redactor.redact_event({"password": f"hunter2 {PAN}"})
        assert out == {"password": f"hunter2 {MASKED_PAN}"}


class TestJsonInStrings:
    """Strings that hold JSON are redacted structurally and re-serialized."""

    def test_json_string_redacted_structurally(self, redactor: Redactor) -> None:
        """A JSON object in a string keeps its keys and comes back as valid JSON."""
        body = json.dumps({"card_number": PAN, "cvv": "123", "amount": 10})
        out = redactor.redact_event({"body": body})
        parsed = json.loads(out["body"])
        assert parsed == {"card_number": MASKED_PAN, "cvv": REDACTED, "amount": 10}

    def test_json_string_keeps_compact_style(self, redactor: Redactor) -> None:
        """A compact JSON string comes back compact."""
        body = json.dumps({"pan": PAN, "n": 1}, separators=(",", ":"))
        out = redactor.redact_event({"body": body})["body"]
        assert out == '{"pan":"' + MASKED_PAN + '","n":1}'

    def test_json_array_string(self, redactor: Redactor) -> None:
        """A JSON array in a string is redacted element by element."""
        out = redactor.redact_event({"body": json.dumps([int(PAN), "ok"])})
        assert json.loads(out["body"]) == [MASKED_PAN, "ok"]

    def test_json_nested_in_json_string(self, redactor: Redactor) -> None:
        """JSON in a string inside JSON in a string is redacted at both levels."""
        inner = json.dumps({"password": "hunter2"})
        body = json.dumps({"payload": inner, "pan": PAN})
        out = json.loads(redactor.redact_event({"body": body})["body"])
        assert out["pan"] == MASKED_PAN
        assert json.loads(out["payload"]) == {"password": REDACTED}

    def test_unicode_escapes_decoded_before_scanning(self, redactor: Redactor) -> None:
        """A PAN written with JSON unicode escapes is found after parsing."""
        body = '{"note": "\\u0034111111111111111"}'
        out = redactor.redact_event({"body": body})
        assert json.loads(out["body"]) == {"note": MASKED_PAN}

    def test_brace_text_that_is_not_json_scanned_as_text(self, redactor: Redactor) -> None:
        """A string shaped like JSON that does not parse is redacted as text."""
        out = redactor.redact_event({"msg": f"{{card {PAN}}}"})
        assert out == {"msg": f"{{card {MASKED_PAN}}}"}

    def test_json_without_candidates_unchanged(self, redactor: Redactor) -> None:
        """A JSON string with nothing to redact is returned byte for byte."""
        body = '{"a":  1,   "b": [true, null]}'
        assert redactor.redact_event({"body": body}) == {"body": body}


class TestDepth:
    """Nesting beyond MAX_DEPTH is handled without exhausting the stack."""

    def test_beyond_max_depth_still_redacted(self, redactor: Redactor) -> None:
        """A PAN nested deeper than MAX_DEPTH does not survive."""
        out = redactor.redact_event(_nested(MAX_DEPTH + 20, PAN))
        rendered = json.dumps(out, default=str)
        assert PAN not in rendered
        assert MASKED_PAN in rendered

    def test_beyond_max_depth_sensitive_key(self, redactor: Redactor) -> None:
        """A password deep below MAX_DEPTH is still removed."""
        out = redactor.redact_event(_nested(MAX_DEPTH + 5, {"password": "hunter2hunter2"}))
        assert "hunter2hunter2" not in json.dumps(out, default=str)

    def test_very_deep_nesting_does_not_raise(self, redactor: Redactor) -> None:
        """Ten thousand levels of nesting return something without the PAN, never raise."""
        out = redactor.redact_event(_nested(10_000, PAN))
        assert PAN not in repr(out)

    def test_depth_within_limit_keeps_structure(self, redactor: Redactor) -> None:
        """Up to MAX_DEPTH levels, the structure is walked and kept."""
        event = _nested(MAX_DEPTH - 2, PAN)
        assert redactor.redact_event(event) == _nested(MAX_DEPTH - 2, MASKED_PAN)


class TestUntouched:
    """Identifiers and timestamps are not sensitive."""

    def test_identifiers_and_timestamps_untouched(self, redactor: Redactor) -> None:
        """request ids, UUIDs, trace ids, timestamps and epoch values pass unchanged."""
        event = {
            "request_id": "550e8400-e29b-41d4-a716-446655440000",
            "uuid": "123e4567-e89b-12d3-a456-426614174000",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "timestamp": "2024-05-06T07:08:09.123456+00:00",
            "time": "2024-05-06 07:08:09,123",
            "ts": 1714979289123,
            "epoch": 1714979289,
            "ip": "192.168.10.254",
            "order_id": 987654321,
        }
        out = redactor.redact_event(event)
        assert out == event
        assert redactor.counts() == {}


class TestHelpers:
    """looks_like_json and dumps_like."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [("{}", True), (" [1] ", True), ('{"a":1}', True), ("{", False), ("[1}", False)],
    )
    def test_looks_like_json(self, text: str, expected: bool) -> None:
        """Only text bracketed like an object or array looks like JSON."""
        assert looks_like_json(text) is expected

    def test_dumps_like_keeps_style(self) -> None:
        """dumps_like follows the original's separators and ASCII-ness."""
        assert dumps_like({"a": "é"}, '{"a":"x"}') == '{"a":"\\u00e9"}'
        assert dumps_like({"a": "é"}, '{"a": "é"}') == '{"a": "é"}'
