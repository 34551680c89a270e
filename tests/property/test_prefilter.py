"""Differential test: the pre-filter never rejects a line the full scan has findings in."""

from __future__ import annotations

import json
import string

from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor import Policy, Redactor
from tests.property.strategies import arbitrary_text, planted_text, samples

SETTINGS = settings(max_examples=300, deadline=None)


class Bypass:
    """A pre-filter stand-in: every line passes and every position may start a key.

    The scanner also asks its pre-filter where sensitive keys start (``key_starts``);
    the stand-in answers with every offset where a key-triggered detector's own
    pattern matches, found by brute force.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._inner = redactor._scanner._prefilter
        detectors = redactor._scanner.detectors
        self._keyed = [d.compile() for d in detectors if d.trigger.keyed]

    def __call__(self, text: str) -> bool:
        """Let every line through."""
        return True

    def key_starts(self, text: str) -> list[int]:
        """Return every offset where a key-triggered detector matches."""
        return [i for i in range(len(text)) if any(p.match(text, i) for p in self._keyed)]

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


def _unfiltered(policy: Policy | None = None) -> Redactor:
    """Return a redactor whose scanner runs the full scan on every line."""
    redactor = Redactor(policy)
    redactor._scanner._prefilter = Bypass(redactor)
    return redactor


FILTERED = Redactor()
UNFILTERED = _unfiltered()
_KEYED_POLICY = Policy.from_dict({"keys": {"secret": ["x-internal-auth", "sessionKey"]}})
FILTERED_KEYED = Redactor(_KEYED_POLICY)
UNFILTERED_KEYED = _unfiltered(_KEYED_POLICY)

#: Short texts built from the characters detectors care about, to reach odd corners.
_DENSE = st.lists(
    st.sampled_from(
        [
            *"0123456789 -+%=:@._/\\\"'[]<>;^?BDXYZeyJkpasword",
            *("%20", "%2B", "%3D", "%40", "eyJ", "cvv", "pan", "://", "sk_live_", "\\n", "</"),
        ]
    ),
    max_size=40,
).map("".join)


def prefilter(redactor: Redactor, text: str) -> bool:
    """Return the pre-filter's verdict on ``text``."""
    return redactor._scanner._prefilter(text)


class TestPrefilter:
    """The pre-filter is conservative: no finding is ever lost because of it."""

    @SETTINGS
    @given(planted_text())
    @example("pay 4111 1111 1111 1111 cvv=123 key sk_live_abcdefghijklmnop1234")
    @example("Routing: 011000015")
    @example("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----")
    def test_scan_findings_imply_prefilter_pass(self, text: str) -> None:
        """Whenever the unfiltered scan finds something, the pre-filter says True."""
        findings = UNFILTERED._scanner.scan(text)
        if findings:
            assert prefilter(FILTERED, text), findings
        assert FILTERED._scanner.scan(text) == findings

    @SETTINGS
    @given(_DENSE)
    def test_dense_text(self, text: str) -> None:
        """Texts dense in separators, digits and anchors lose no finding either."""
        findings = UNFILTERED._scanner.scan(text)
        if findings:
            assert prefilter(FILTERED, text), findings
        assert FILTERED._scanner.scan(text) == findings

    @SETTINGS
    @given(samples, st.sampled_from((str, str.upper, str.lower, str.title, str.swapcase)))
    def test_samples_in_any_case(self, sample: str, case: object) -> None:
        """A planted sample in any letter case loses no finding to the pre-filter."""
        text = case(sample)
        findings = UNFILTERED._scanner.scan(text)
        if findings:
            assert prefilter(FILTERED, text), findings
        assert FILTERED._scanner.scan(text) == findings

    @SETTINGS
    @given(planted_text(), st.sampled_from(("x-internal-auth", "X-Internal-Auth", "sessionKey")))
    def test_policy_keys(self, text: str, key: str) -> None:
        """Keys added by a policy are part of the pre-filter's key scan."""
        line = f"{text} {key}: {text[:8] or 'v4lue'}"
        findings = UNFILTERED_KEYED._scanner.scan(line)
        if findings:
            assert prefilter(FILTERED_KEYED, line), findings
        assert FILTERED_KEYED._scanner.scan(line) == findings

    @SETTINGS
    @given(planted_text(st.text(string.printable, max_size=20)))
    def test_redact_line_same_with_and_without_prefilter(self, text: str) -> None:
        """redact_line() gives the same output with or without the pre-filter."""
        for line in (text, json.dumps({"msg": text, "n": 1})):
            assert FILTERED.redact_line(line) == UNFILTERED.redact_line(line)

    @SETTINGS
    @given(arbitrary_text(80))
    def test_arbitrary_text(self, text: str) -> None:
        """Arbitrary text without planted samples: same findings with and without it."""
        assert FILTERED._scanner.scan(text) == UNFILTERED._scanner.scan(text)
