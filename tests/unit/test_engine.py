"""The compiled scanner: speed rule, overlap rule, fail-closed paths, counters, threads."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from redactor import Policy, Redactor, compiler
from redactor.detectors import builtin_detectors
from redactor.detectors.base import Candidate, Detector, Hit
from redactor.engine import FAILED, Scanner
from redactor.keys import KeyCatalog, KeyTerm
from redactor.maskers import PanMask, Placeholder

try:  # the parser moved in Python 3.11
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse

PAN = "4111111111111111"
MASKED_PAN = "411111******1111"

_CATALOGS = {
    "default": KeyCatalog(),
    "policy_keys": KeyCatalog().with_terms(
        [KeyTerm(("x", "internal", "auth"), "secret", suffix=False)], ["next_page_token"]
    ),
}
_DETECTORS = [
    pytest.param(detector, id=f"{catalog_name}-{index}-{detector.name}")
    for catalog_name, catalog in _CATALOGS.items()
    for index, detector in enumerate(builtin_detectors(catalog))
]


@dataclass(frozen=True)
class BrokenMasker:
    """A masker with a bug: it raises on every value."""

    def __call__(self, value: str) -> str:
        raise RuntimeError("masker bug")


def scanner_of(*detectors: Detector) -> Scanner:
    """Return a scanner of ``detectors`` that replaces kind ``a`` by [A] and ``b`` by [B]."""
    maskers = {"a": Placeholder("[A]"), "b": Placeholder("[B]")}
    return Scanner(detectors, maskers, KeyCatalog())


class TestSpeedRule:
    """Every built-in pattern starts with one literal character or one class."""

    @pytest.mark.parametrize("detector", _DETECTORS)
    def test_first_op_is_literal_or_class(self, detector: Detector) -> None:
        """The first parsed op of the pattern is LITERAL or IN (no group, repeat, assert)."""
        parsed = sre_parse.parse(detector.pattern, re.VERBOSE)
        op, _ = parsed.data[0]
        assert op in (sre_parse.LITERAL, sre_parse.IN), (detector.name, op)

    @pytest.mark.parametrize("detector", _DETECTORS)
    def test_pattern_compiles_alone(self, detector: Detector) -> None:
        """Each pattern compiles on its own, as the engine's single-detector retries need."""
        assert detector.compile().pattern == detector.pattern


class TestOverlapRule:
    """Leftmost candidate wins; at the same start, the detector listed first wins."""

    def test_leftmost_wins_over_priority(self) -> None:
        """A later-listed detector starting further left takes the text first."""
        scanner = scanner_of(
            Detector("b.late", "b", "[b]cd", groups=()),
            Detector("a.early", "a", "[a]bc", groups=()),
        )
        out, findings = scanner.redact("xabcd")
        assert out == "x[A]d"
        assert [(f.rule, f.start, f.end) for f in findings] == [("a.early", 1, 4)]

    def test_same_start_first_listed_wins(self) -> None:
        """Two detectors matching at the same offset: the one listed first wins."""
        short = Detector("a.short", "a", "[a]bc", groups=())
        long = Detector("b.long", "b", "[a]bcd", groups=())
        assert scanner_of(short, long).redact("abcd")[0] == "[A]d"
        assert scanner_of(long, short).redact("abcd")[0] == "[B]"

    def test_rejected_candidate_falls_to_next_detector(self) -> None:
        """When the first detector's resolver rejects, a later one at the same start may fire."""

        def reject(candidate: Candidate) -> Hit | None:
            return None

        scanner = scanner_of(
            Detector("a.picky", "a", "[a]bcd", groups=(), resolve=reject),
            Detector("b.lenient", "b", "[a]b", groups=()),
        )
        assert scanner.redact("abcd")[0] == "[B]cd"

    def test_hits_never_overlap(self) -> None:
        """After a hit the scan resumes past it, so a candidate inside it is not found."""
        scanner = scanner_of(
            Detector("a.ab", "a", "[a]b", groups=()),
            Detector("b.bc", "b", "[b]c", groups=()),
        )
        out, findings = scanner.redact("abcbc")
        assert out == "[A]c[B]"
        assert [(f.start, f.end) for f in findings] == [(0, 2), (3, 5)]

    def test_track_before_pan_at_same_start(self) -> None:
        """Track 2 data and the PAN it starts with: the track detector, listed first, wins."""
        findings = Redactor().scan(f"{PAN}=25121010000000")
        assert [(f.kind, f.rule, f.start) for f in findings] == [("track", "track.track2", 0)]

    def test_phone_left_of_amex_wins(self) -> None:
        """``+`` followed by 15 digits starts a phone number one character before the card."""
        findings = Redactor().scan("call +378282246310005")
        assert [(f.kind, f.start) for f in findings] == [("phone", 5)]

    def test_vendor_key_then_email(self) -> None:
        """A key glued to an email domain is masked; the email cannot overlap it."""
        out = Redactor().redact("sk_live_abcdefghij1234567890@example.com")
        assert out.startswith("sk_live_[REDACTED]")
        assert "abcdefghij1234567890" not in out


class TestFailClosed:
    """A failing masker or a runaway user pattern never lets the value through."""

    def test_broken_masker_in_scanner(self) -> None:
        """A masker that raises yields the failure placeholder in place of the value."""
        catalog = KeyCatalog()
        scanner = Scanner(builtin_detectors(catalog), {"card": BrokenMasker()}, catalog)
        out, findings = scanner.redact(f"pay {PAN} now")
        assert out == f"pay {FAILED} now"
        assert [f.preview for f in findings] == [FAILED]

    def test_broken_masker_in_redactor(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Through the public API, text and structured values fail closed the same way."""
        monkeypatch.setattr(compiler, "PanMask", lambda first, last: BrokenMasker())
        redactor = Redactor()
        text = f"pay {PAN} and 4242 4242 4242 4242"
        out = redactor.redact(text)
        assert out == f"pay {FAILED} and {FAILED}"
        event = redactor.redact_event({"card_number": PAN, "note": f"card {PAN}", "n": int(PAN)})
        assert event == {"card_number": FAILED, "note": f"card {FAILED}", "n": FAILED}
        assert PAN not in json.dumps(event)
        assert all(PAN not in f.preview for f in redactor.scan(text))

    def test_broken_masker_leaves_other_kinds_alone(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Only the values of the broken masker's kind become the failure placeholder."""
        monkeypatch.setattr(compiler, "PanMask", lambda first, last: BrokenMasker())
        out = Redactor().redact(f"{PAN} cvv=123 a.b@example.com")
        assert out == f"{FAILED} cvv=[REDACTED] ***@example.com"

    @pytest.fixture
    def runaway(self) -> Redactor:
        """A redactor with a catastrophic user pattern and a short timeout."""
        policy = Policy.from_dict(
            {
                "patterns": [{"name": "evil", "kind": "evil", "regex": r"(a+)+$"}],
                "timeout": 0.05,
            }
        )
        return Redactor(policy)

    def test_user_pattern_timeout_fails_closed(self, runaway: Redactor) -> None:
        """A user pattern that times out replaces the whole text and counts an error."""
        text = "a" * 5000 + "!"
        started = time.monotonic()
        out = runaway.redact(text)
        assert time.monotonic() - started < 5
        assert out == FAILED
        assert "aaaa" not in out
        assert runaway.counts() == {"error": 1}

    def test_user_pattern_timeout_in_events(self, runaway: Redactor) -> None:
        """A timing-out pattern on an event's string value fails closed for that value."""
        text = "a" * 5000 + "!"
        event = runaway.redact_event({"msg": text, "ok": "fine"})
        assert event["msg"] == FAILED
        assert runaway.redact_line(json.dumps({"msg": text})) != json.dumps({"msg": text})
        assert text not in runaway.redact_line(json.dumps({"msg": text}))
        assert runaway.counts()["error"] >= 2

    def test_user_pattern_on_short_input_works(self, runaway: Redactor) -> None:
        """The same pattern on input it can finish quickly redacts normally."""
        assert runaway.redact("xyz aaaa") == "xyz [REDACTED]"
        assert runaway.counts() == {"evil": 1}

    def test_user_pattern_card_validator_on_letters(self) -> None:
        """A ``card`` validator on a span with letters rejects it instead of failing."""
        policy = Policy.from_dict(
            {
                "patterns": [
                    {"name": "ref", "kind": "card", "regex": r"REF-\w{12,19}", "validator": "card"}
                ]
            }
        )
        redactor = Redactor(policy)
        assert redactor.redact("order REF-ABCDEFGHIJKLM ok") == "order REF-ABCDEFGHIJKLM ok"
        assert redactor.counts() == {}


class TestCounts:
    """Per-kind counters count redactions, not scans."""

    def test_counts_per_kind(self) -> None:
        """Each replaced value is counted once under its kind."""
        redactor = Redactor()
        redactor.redact(f"{PAN} and 5555555555554444 cvv=123 mail a.b@example.com")
        assert redactor.counts() == {"card": 2, "cvv": 1, "email": 1}

    def test_counts_accumulate_across_calls(self) -> None:
        """Counts add up across redact, redact_line and redact_event."""
        redactor = Redactor()
        redactor.redact(f"card {PAN}")
        redactor.redact_line(json.dumps({"password": "hunter2hunter2", "pan": PAN}))
        redactor.redact_event({"ssn": "123-45-6789"})
        assert redactor.counts() == {"card": 2, "password": 1, "national_id": 1}

    def test_scan_does_not_count(self) -> None:
        """scan() reports findings without touching the counters."""
        redactor = Redactor()
        assert redactor.scan(f"card {PAN}")
        assert redactor.counts() == {}

    def test_clean_text_counts_nothing(self) -> None:
        """Text without sensitive data leaves the counters empty."""
        redactor = Redactor()
        redactor.redact("GET /health 200 in 3 ms")
        assert redactor.counts() == {}

    def test_counts_is_a_snapshot(self) -> None:
        """Mutating the returned dict does not change the redactor's counters."""
        redactor = Redactor()
        redactor.redact(f"card {PAN}")
        snapshot = redactor.counts()
        snapshot["card"] = 99
        assert redactor.counts() == {"card": 1}

    def test_findings_carry_no_raw_value(self) -> None:
        """Scan findings hold kind, rule, offsets and a masked preview only."""
        text = f"pay {PAN} key sk_live_abcdefghijklmnop1234"
        for finding in Redactor().scan(text):
            assert PAN not in repr(finding)
            assert "abcdefghijklmnop1234" not in repr(finding)


_MIXED_LINES = [
    f"pay {PAN} cvv=123 key sk_live_abcdefghijklmnop1234",
    "GET /health 200",
    json.dumps({"card_number": "5555555555554444", "password": "hunter2", "n": 1}),
    "user a.b@example.com from 10.0.0.1 ssn 123-45-6789",
    "iban GB82WEST12345698765432 phone +14155552671",
    json.dumps({"request_id": "550e8400-e29b-41d4-a716-446655440000", "ts": 1700000000000}),
    "Authorization: Bearer abcDEF123456ghiJKL789",
] * 8


class TestThreadSafety:
    """One redactor shared by many threads behaves as if used sequentially."""

    def test_concurrent_outputs_and_counts(self) -> None:
        """Eight threads redacting the same lines get sequential outputs; counts add up."""
        reference = Redactor()
        expected = reference.redact_lines(_MIXED_LINES)
        per_run = reference.counts()
        shared = Redactor()
        threads, rounds = 8, 10
        barrier = threading.Barrier(threads)

        def work(_: int) -> list[list[str]]:
            barrier.wait()
            return [[shared.redact_line(line) for line in _MIXED_LINES] for _ in range(rounds)]

        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(work, range(threads)))
        for runs in results:
            for run in runs:
                assert run == expected
        assert shared.counts() == {k: v * threads * rounds for k, v in per_run.items()}

    def test_concurrent_events(self) -> None:
        """Structured redaction from many threads matches the sequential result."""
        event = {"user": {"card": PAN, "password": "pw"}, "items": [PAN, "ok"], "n": int(PAN)}
        expected = Redactor().redact_event(event)
        shared = Redactor()
        with ThreadPoolExecutor(8) as pool:
            outputs = list(pool.map(lambda _: shared.redact_event(event), range(400)))
        assert all(out == expected for out in outputs)


def _nested_json(depth: int) -> str:
    return '{"a":' * depth + f'"{PAN}"' + "}" * depth


_ADVERSARIAL = {
    "spaced_digits": " ".join(str(i % 10) for i in range(25_000)),
    "digit_groups": "4111 " * 10_000,
    "dashed_digits": "1-" * 25_000,
    "percent_digits": "1%20" * 12_500,
    "digit_run": "7" * 50_000,
    "at_signs": "a@" * 25_000,
    "dotted_emails": "a@a." * 12_500,
    "password_equals": "password=" * 5_600,
    "password_quotes": 'password="' + '\\"' * 25_000,
    "eyj_repeated": "eyJ" * 17_000,
    "eyj_long_token": "eyJ" + "a" * 50_000,
    "eyj_dotted": "eyJaaaaaaaaa." * 3_800,
    "sk_live_repeated": "sk_live_" * 6_250,
    "akia_repeated": "AKIA" * 12_500,
    "begin_repeated": "-----BEGIN PRIVATE KEY-----" * 1_850,
    "begin_then_dashes": "-----BEGIN PRIVATE KEY-----" + "-" * 50_000,
    "scheme_colons": "://a:" * 10_000,
    "scheme_then_colons": "://" + ":" * 50_000,
    "xml_open_tags": "<a>" * 16_000,
    "xml_unclosed": "<pin>" + "x" * 50_000,
    "plus_digits": "+1 " * 16_000,
    "iban_prefixes": "GB82 " * 10_000,
    "bearer_repeated": "Bearer " * 7_000,
    "brackets": "[" * 50_000,
    "backslashes": "\\" * 50_000,
    "equals": "=" * 50_000,
    "track_carets": "%B4111111111111111^" * 2_600,
    "nested_json_64": _nested_json(64),
    "nested_json_deep": "[" * 20_000 + "]" * 20_000,
}


class TestAdversarialInputs:
    """Hostile 50 KB inputs finish quickly: no catastrophic backtracking."""

    @pytest.mark.parametrize("text", list(_ADVERSARIAL.values()), ids=list(_ADVERSARIAL))
    def test_finishes_quickly(self, text: str) -> None:
        """redact, redact_line and scan each finish within a generous bound."""
        redactor = Redactor()
        for call in (redactor.redact, redactor.redact_line, redactor.scan):
            started = time.monotonic()
            call(text)
            assert time.monotonic() - started < 5, call.__name__

    def test_nested_json_64_levels_is_redacted(self) -> None:
        """A PAN 64 levels deep in a JSON line is masked and the line stays valid JSON."""
        out = Redactor().redact_line(_nested_json(64))
        assert PAN not in out
        assert MASKED_PAN in out
        json.loads(out)

    def test_pan_mask_of_many_digits(self) -> None:
        """A 50 KB digit run under a card key is masked without revealing more than 4."""
        out = Redactor().redact_event({"card_number": "7" * 50_000})
        assert isinstance(out["card_number"], str)
        assert sum(c.isdigit() for c in out["card_number"]) <= 4

    def test_pan_mask_unit(self) -> None:
        """PanMask is the masker the default policy uses for cards."""
        assert PanMask()(PAN) == MASKED_PAN
