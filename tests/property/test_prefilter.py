"""Differential tests: no pre-filter backend changes a single byte of the output.

The unfiltered scanner runs every detector on every text; each backend (pure Python,
Hyperscan) must find exactly what it finds, in single texts and in batches.
"""

from __future__ import annotations

import json
import re
import string

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from redactor import Policy, Redactor
from tests.property.strategies import arbitrary_text, planted_text, samples

SETTINGS = settings(max_examples=300, deadline=None)


class Bypass:
    """A pre-filter stand-in: every text may hold every detector's match.

    It stands in for both of the scanner's pre-filters: the batch one that picks the
    detectors to run, and the pure one that also says where sensitive keys start (here
    every offset where a key-triggered detector's own pattern matches, by brute force).
    """

    name = "bypass"

    def __init__(self, redactor: Redactor) -> None:
        detectors = redactor._scanner.detectors
        self._all = frozenset(range(len(detectors)))
        self._keyed = [d.compile() for d in detectors if d.trigger.keyed]

    def subset(self, text: str) -> frozenset[int]:
        """Every detector may match."""
        return self._all

    def select(self, texts: list[str]) -> list[frozenset[int]]:
        """Every detector may match in every text."""
        return [self._all] * len(texts)

    def key_starts(self, text: str) -> list[int]:
        """Return every offset where a key-triggered detector matches."""
        return [i for i in range(len(text)) if any(p.match(text, i) for p in self._keyed)]


def _unfiltered(policy: Policy | None = None) -> Redactor:
    """Return a redactor whose scanner runs every detector on every text."""
    redactor = Redactor(policy, backend="python")
    bypass = Bypass(redactor)
    redactor._scanner._prefilter = bypass
    redactor._scanner._batch = bypass
    return redactor


#: One redactor per pre-filter backend; all must agree with the unfiltered one.
BACKENDS = ("python", "hyperscan")
FILTERED = {name: Redactor(backend=name) for name in BACKENDS}
UNFILTERED = _unfiltered()
_KEYED_POLICY = Policy.from_dict({"keys": {"secret": ["x-internal-auth", "sessionKey"]}})
FILTERED_KEYED = {name: Redactor(_KEYED_POLICY, backend=name) for name in BACKENDS}
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


_RESEPARATORS = (" ", "-", "+", "%20", ".", "/", "  ", "%2D", "\t", ":", "=", "_")


@st.composite
def reformatted_samples(draw: st.DrawFn) -> str:
    """A sample with separators inserted or removed at random: formats nobody listed."""
    text = draw(samples)
    for _ in range(draw(st.integers(0, 4))):
        separators = [i for i, char in enumerate(text) if char in " -+./\t:=_"]
        if draw(st.booleans()) or not separators:
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.sampled_from(_RESEPARATORS)) + text[at:]
        else:
            at = draw(st.sampled_from(separators))
            text = text[:at] + text[at + 1 :]
    before = draw(st.sampled_from(("", "x ", "id=", '"', "(", "a")))
    return before + text + draw(st.sampled_from(("", " y", '"', ")", "a", ".")))


#: Detectors whose pattern Hypothesis cannot generate matches for (a lookbehind at the
#: start it cannot satisfy); the other tests cover them.
_UNGENERATED = frozenset(
    {"key.value", "bank_account.aba_routing", "national_id.es_dni", "email.address"}
)
#: Strings each detector's own pattern matches whole, whatever its resolver thinks.
_FROM_PATTERNS = st.one_of(
    [
        st.from_regex(re.compile(d.pattern, re.VERBOSE), fullmatch=True)
        for d in UNFILTERED._scanner.detectors
        if d.name not in _UNGENERATED
    ]
)


def prefilter(redactor: Redactor, text: str) -> bool:
    """Return the pre-filter's verdict on ``text``: some detector may match."""
    return bool(redactor._scanner.subset(text))


def agree(filtered: dict[str, Redactor], unfiltered: Redactor, text: str) -> None:
    """Every backend keeps every finding the unfiltered scan makes, and only those."""
    findings = unfiltered._scanner.scan(text)
    for name, redactor in filtered.items():
        if findings:
            assert prefilter(redactor, text), (name, findings)
        assert redactor._scanner.scan(text) == findings, name


class TestPrefilter:
    """The pre-filter is conservative: no finding is ever lost because of it."""

    @SETTINGS
    @given(planted_text())
    @example("pay 4111 1111 1111 1111 cvv=123 key sk_live_abcdefghijklmnop1234")
    @example("Routing: 011000015")
    @example("-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----")
    def test_scan_findings_imply_prefilter_pass(self, text: str) -> None:
        """Whenever the unfiltered scan finds something, each pre-filter says True."""
        agree(FILTERED, UNFILTERED, text)

    @SETTINGS
    @given(_DENSE)
    def test_dense_text(self, text: str) -> None:
        """Texts dense in separators, digits and anchors lose no finding either."""
        agree(FILTERED, UNFILTERED, text)

    @settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        _FROM_PATTERNS,
        st.sampled_from(("", " ", "x=", '"', "a ")),
        st.sampled_from(("", " ", '"', ".", "z")),
    )
    def test_strings_each_detector_matches(self, text: str, before: str, after: str) -> None:
        """Whatever a detector's own pattern matches, the pre-filter lets through.

        Generated from the patterns themselves, so it reaches formats no sample table
        lists (a card grouped 4-5-4 once slipped past the card trigger).
        """
        agree(FILTERED, UNFILTERED, before + text + after)

    @settings(max_examples=1000, deadline=None)
    @given(reformatted_samples())
    def test_reformatted_samples(self, text: str) -> None:
        """Samples written with other separators lose no finding to the pre-filter."""
        agree(FILTERED, UNFILTERED, text)

    @SETTINGS
    @given(samples, st.sampled_from((str, str.upper, str.lower, str.title, str.swapcase)))
    def test_samples_in_any_case(self, sample: str, case: object) -> None:
        """A planted sample in any letter case loses no finding to the pre-filter."""
        agree(FILTERED, UNFILTERED, case(sample))

    @SETTINGS
    @given(planted_text(), st.sampled_from(("x-internal-auth", "X-Internal-Auth", "sessionKey")))
    def test_policy_keys(self, text: str, key: str) -> None:
        """Keys added by a policy are part of the pre-filter's key scan."""
        agree(FILTERED_KEYED, UNFILTERED_KEYED, f"{text} {key}: {text[:8] or 'v4lue'}")

    @SETTINGS
    @given(planted_text(st.text(string.printable, max_size=20)))
    def test_redact_line_same_with_and_without_prefilter(self, text: str) -> None:
        """redact_line() gives the same output with or without the pre-filter."""
        for line in (text, json.dumps({"msg": text, "n": 1})):
            expected = UNFILTERED.redact_line(line)
            for name, redactor in FILTERED.items():
                assert redactor.redact_line(line) == expected, name

    @settings(max_examples=60, deadline=None)
    @given(
        st.sampled_from(["@", "1234-", "4111 1111 1111 111 ", "DE00 ", "a@", "=", "+1 "]),
        st.integers(70, 400),
        planted_text(st.text(string.printable, max_size=20)),
        st.integers(0, 2),
    )
    def test_texts_with_more_matches_than_the_callback_limit(
        self, piece: str, times: int, planted: str, where: int
    ) -> None:
        """A text past Hyperscan's callback limit is re-scanned, never under-reported.

        Each piece repeated this often makes a trigger match more than
        ``CALLBACK_LIMIT`` times: the single-match database then decides which
        detectors run, and the findings must still be the unfiltered scan's.
        """
        flood = piece * times
        text = [planted + flood, flood + planted, flood + planted + flood][where]
        agree(FILTERED, UNFILTERED, text)
        assert FILTERED["hyperscan"].redact(text) == UNFILTERED.redact(text)

    @SETTINGS
    @given(arbitrary_text(80))
    def test_arbitrary_text(self, text: str) -> None:
        """Arbitrary text without planted samples: same findings with and without it."""
        agree(FILTERED, UNFILTERED, text)

    @SETTINGS
    @given(st.lists(planted_text(st.text(string.printable, max_size=30)), max_size=12))
    def test_batches_are_byte_identical_across_backends(self, texts: list[str]) -> None:
        """redact_lines() gives byte-identical output with every backend and without any.

        Lines become text and JSON lines, so batch selection, structural redaction and
        the per-line subsets are all exercised.
        """
        lines = [t.replace("\n", " ") for t in texts]
        lines += [json.dumps({"msg": t, "n": 1}) for t in texts]
        expected = UNFILTERED.redact_lines(lines)
        for name, redactor in FILTERED.items():
            assert redactor.redact_lines(lines) == expected, name


_KEYISH = st.lists(
    st.one_of(
        st.sampled_from(
            ["password", "PassWord", "API_KEY", "apiKey", "x-api-key", "Card Number", "cvv"]
        ),
        st.sampled_from(["=", ": ", '="', "%3D", " = ", "_", "-", ".", "0x ", "2"]),
        st.text(alphabet="aZ_-. 09=:\"'%3Dxk", max_size=6),
    ),
    max_size=12,
).map("".join)


@SETTINGS
@given(_KEYISH)
@example("0x api_key=1 dbPassWord: 2")
def test_key_starts_ascii_regex_matches_the_character_loop(text: str) -> None:
    """On ASCII text the word starts come from one regex: the same offsets as the loop.

    ``key_starts`` walks the characters of each key when the text is not ASCII; a
    non-ASCII word appended after a space sends the same text down that path without
    touching any key before it.
    """
    key_starts = FILTERED["python"]._scanner._prefilter.key_starts
    assert text.isascii()
    assert key_starts(text) == key_starts(text + " é")
