"""The scanner: every detector of a policy compiled into one pattern, one pass per string.

Theory of operation
-------------------
All detectors are joined into a single alternation, each wrapped in a named group so a
match tells which detector fired (``Match.lastindex``) and with its own group names
renamed to be unique. Scanning a string is a loop of ``search(text, pos)`` calls over
that one pattern: the regex engine walks the text once, and Python only runs for
candidates. A candidate goes to its detector's resolver (validators, context checks);
a rejected candidate is offered to the lower-priority detectors at the same start
position, then the scan resumes one character later. An accepted hit is replaced and
the scan resumes after it.

Overlap rule: the leftmost candidate wins; among candidates starting at the same
position, the detector listed first wins; hits never overlap.

Linear time: the built-in patterns bound every repetition that could otherwise
backtrack (see :mod:`redactor.detectors.base`), start most alternatives with a class
test or a lookbehind that fails fast in the middle of words and digit runs, and the
resume position always advances, so the total work is linear in the input length with
a constant set by those bounds. User-supplied patterns run on the ``regex`` module with
a timeout; a timeout fails closed (the value is replaced, never passed through).

Pre-filter: before any of that, :meth:`Scanner.subset` (or :meth:`Scanner.candidates`
for a batch) asks the pre-filter backend which detectors' triggers a text holds. Most
log lines hold none and are done; the others are scanned with a combined pattern of
just those detectors (see :mod:`redactor.prefilter` and :mod:`redactor.backends`).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import regex

from redactor.backends import make_prefilter
from redactor.detectors.base import Candidate, Detector, Hit
from redactor.errors import RedactionFailed
from redactor.finding import Finding
from redactor.keys import KeyCatalog
from redactor.maskers import REDACTED, Masker, Placeholder
from redactor.typing import Validator

__all__ = ["FAILED", "CustomPattern", "Scanner"]

#: What replaces a value whose redaction failed (fail closed).
FAILED = "[REDACTION_FAILED]"
_FAILED_MASK = Placeholder(FAILED)

try:  # the parser moved in Python 3.11; it is only used at compile time
    from re import _parser as _sre_parse  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_parse as _sre_parse

_GROUP_DEF = re.compile(r"\(\?P<([A-Za-z_]\w*)>")
_GROUP_REF = re.compile(r"\(\?P=([A-Za-z_]\w*)\)")
_JSON_BARE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+\-]?[0-9]+)?|true|false|null")


@dataclass(frozen=True, slots=True)
class _Combined:
    """A combined pattern and which detector each of its tag groups stands for."""

    pattern: re.Pattern[str] | None
    by_group: dict[int, int]


@dataclass(frozen=True, slots=True)
class CustomPattern:
    """A user-supplied rule, run with the ``regex`` module under a timeout.

    Attributes:
        name: reported as the rule of its findings.
        kind: the family whose masker applies (may be a new kind of the policy's own).
        pattern: the compiled ``regex`` pattern.
        group: the group holding the span to replace, or None for the whole match.
        validator: optional ``str -> bool`` check on the span.
    """

    name: str
    kind: str
    pattern: regex.Pattern[str]
    group: str | int | None = None
    validator: Validator | None = None


def _no_detectors(_text: str) -> frozenset[int]:
    """The pre-filter of a policy with no built-in detector: none can ever match."""
    return frozenset()


@functools.lru_cache(maxsize=1024)
def pattern_facts(pattern: str) -> tuple[frozenset[str] | None, int]:
    """Return what a verbose pattern can start with and the fewest characters it spans.

    Parsed once per pattern text and process (the built-in detectors' patterns are
    constants, and every redactor of a process shares the answer).

    Returns:
        ``(first characters, minimum width)``; see :func:`_first_chars`.
    """
    parsed = _sre_parse.parse(pattern, re.VERBOSE)
    return _first_chars(parsed), parsed.getwidth()[0]


def _first_chars(parsed: _sre_parse.SubPattern) -> frozenset[str] | None:
    """Return the Latin-1 characters a parsed pattern can start with (None: unknown).

    The speed rule makes every detector start with one literal or class; knowing it
    lets the scan skip detectors that cannot start at a position without calling them.
    """
    if not parsed.data:
        return None
    op, arg = parsed.data[0]
    name = str(op)
    if name == "LITERAL":
        return frozenset({chr(arg)}) if arg < 256 else frozenset()
    if name != "IN":
        return None
    chars: set[str] = set()
    negate = False
    for item_op, item_arg in arg:
        item = str(item_op)
        if item == "NEGATE":
            negate = True
        elif item == "LITERAL":
            chars.add(chr(item_arg))
        elif item == "RANGE":
            low, high = item_arg
            chars.update(chr(c) for c in range(low, min(high, 255) + 1))
        else:
            return None  # categories (\d, \w): not worth modelling, always try
    if negate:
        return frozenset(chr(c) for c in range(256)) - chars
    return frozenset(c for c in chars if ord(c) < 256)


def _prefixed(pattern: str, prefix: str) -> str:
    pattern = _GROUP_DEF.sub(lambda m: f"(?P<{prefix}{m.group(1)}>", pattern)
    return _GROUP_REF.sub(lambda m: f"(?P={prefix}{m.group(1)})", pattern)


class Scanner:
    """An immutable, thread-safe compiled policy: finds and masks in one pass.

    Args:
        detectors: built-in detectors in priority order (only enabled ones).
        maskers: the masker for every enabled kind; hits of other kinds are ignored.
        catalog: the key names that key-based detectors use (for the pre-filter).
        allow_values: exact values that are never findings.
        custom: user-supplied patterns, run after the built-in pass.
        timeout: seconds each user-supplied pattern may run on one string.
        backend: pre-filter backend, see :func:`redactor.backends.make_prefilter`.
    """

    def __init__(
        self,
        detectors: Sequence[Detector],
        maskers: Mapping[str, Masker],
        catalog: KeyCatalog,
        allow_values: frozenset[str] = frozenset(),
        custom: Sequence[CustomPattern] = (),
        timeout: float = 0.25,
        backend: str = "auto",
    ) -> None:
        self._detectors = tuple(detectors)
        self._maskers = dict(maskers)
        self._kinds = frozenset(self._maskers)
        self._placeholders = frozenset(
            {REDACTED, FAILED}
            | {m.text for m in self._maskers.values() if isinstance(m, Placeholder)}
        )
        self._allow = allow_values
        self._custom = tuple(custom)
        self._timeout = timeout
        self._prefixes = tuple(f"d{i}_" for i in range(len(self._detectors)))
        # Each detector's span groups under their names in the combined pattern, so a
        # candidate's span is read without building a name per group per candidate.
        self._group_names = tuple(
            tuple(p + name for name in d.groups)
            for d, p in zip(self._detectors, self._prefixes, strict=True)
        )
        bodies = [
            _prefixed(d.pattern, p) for d, p in zip(self._detectors, self._prefixes, strict=True)
        ]
        # Key-triggered detectors are not in the combined pattern: the pre-filter's
        # reversed key scan already knows where every sensitive key starts, so they are
        # matched only there instead of being tried at every letter of the text.
        self._keyed = frozenset(i for i, d in enumerate(self._detectors) if d.trigger.keyed)
        self._keyed_first = min(self._keyed, default=len(self._detectors))
        self._bodies = tuple(bodies)
        # Each detector's own pattern, compiled on first use: most texts only ever need
        # the combined pattern, and compiling all of them is a good share of start-up.
        self._single: list[re.Pattern[str] | None] = [None] * len(bodies)
        facts = [pattern_facts(d.pattern) for d in self._detectors]
        self._firsts = tuple(first for first, _ in facts)
        # The fewest characters a match of each detector spans: a text shorter than that
        # for every detector that can fire cannot hold a finding (most values of a JSON
        # line flagged for a card number are a word or two).
        self._widths = tuple(width for _, width in facts)
        self._min_widths: dict[frozenset[int], int] = {}
        self._by_char: dict[str, tuple[int, ...]] = {}
        self._combined: dict[frozenset[int], _Combined] = {}
        self._everything = frozenset(range(len(self._detectors)))
        # The pure pre-filter also locates keys; the batch one (Hyperscan when
        # installed) decides which texts to scan. Both are built from the same triggers.
        self._prefilter, self._batch = make_prefilter(self._detectors, catalog, backend)
        self._combined_for(self._everything)  # compile the common case up front

    def _combined_for(self, subset: frozenset[int]) -> _Combined:
        """The one pattern of the detectors in ``subset`` (compiled once, then cached).

        An empty tag group closes each alternative: ``lastindex`` then names the
        detector, and no group opens before the first character test (which would stop
        the regex engine from rejecting the alternative in one comparison). A line is
        scanned only with the detectors whose triggers it holds, typically one or two.
        """
        combined = self._combined.get(subset)
        if combined is not None:
            return combined
        indices = sorted(subset - self._keyed)
        tagged = [f"{self._bodies[i]}\n(?P<t{i}>)" for i in indices]
        pattern = re.compile("|".join(tagged), re.VERBOSE) if tagged else None
        by_group: dict[int, int] = {}
        if pattern is not None:
            for name, group in pattern.groupindex.items():
                if name[0] == "t" and name[1:].isdigit():
                    by_group[group] = int(name[1:])
        combined = _Combined(pattern, by_group)
        if len(self._combined) >= 512:  # bounded: subsets come from the input
            everything = self._combined.get(self._everything)
            self._combined.clear()
            if everything is not None:
                self._combined[self._everything] = everything
        self._combined[subset] = combined
        return combined

    def min_width(self, subset: frozenset[int]) -> int:
        """The fewest characters any match of the detectors in ``subset`` spans.

        Custom patterns are not counted: they run on every text whatever its length.
        """
        width = self._min_widths.get(subset)
        if width is None:
            width = min((self._widths[i] for i in subset), default=0)
            if len(self._min_widths) < 4096:  # bounded: subsets come from the input
                self._min_widths[subset] = width
        return width

    @property
    def kinds(self) -> frozenset[str]:
        """The kinds this scanner masks (enabled by the policy)."""
        return self._kinds

    @property
    def detectors(self) -> tuple[Detector, ...]:
        """The built-in detectors in force, in priority order."""
        return self._detectors

    def subset(self, text: str) -> frozenset[int]:
        """Return the detectors that can fire on ``text`` (indices; empty: none)."""
        if not self._detectors:
            return frozenset()
        return self._batch.subset(text)

    @property
    def subset_function(self) -> Callable[[str], frozenset[int]]:
        """:meth:`subset` without its own frame: the backend's bound method.

        For the per-record hot path of logging integrations, where one Python frame
        is a noticeable share of the cost of checking a short line.
        """
        if not self._detectors:
            return _no_detectors
        return self._batch.subset

    @property
    def probe_function(self) -> Callable[[str], frozenset[int] | None] | None:
        """The backend's own one-frame probe (see ``Redactor._make_probe``), if it has one."""
        if not self._detectors:
            return None
        make = getattr(self._batch, "probe_function", None)
        return make() if make is not None else None

    def candidates(self, texts: Sequence[str]) -> list[frozenset[int]]:
        """Return, per text, the detectors that can fire on it (one pass over a batch)."""
        if not self._detectors:
            return [frozenset()] * len(texts)
        return self._batch.select(texts)

    @property
    def has_custom(self) -> bool:
        """Whether user patterns exist: they run on every text, triggers or not."""
        return bool(self._custom)

    @property
    def backend(self) -> str:
        """The name of the pre-filter backend in use (``python`` or ``hyperscan``)."""
        return self._batch.name

    # -- finding -----------------------------------------------------------------------

    def _accept(
        self, index: int, match: re.Match[str], floor: int, skips: dict[int, int]
    ) -> Hit | None:
        detector = self._detectors[index]
        start, end = -1, -1
        for name in self._group_names[index]:
            start, end = match.span(name)
            if start >= 0:
                break
        grouped = start >= 0
        if not grouped:
            start, end = match.span()
        if detector.resolve is None:
            hit: Hit | None = Hit(start, end, detector.kind)
        else:
            candidate = Candidate(match, self._prefixes[index], start, end, floor, grouped)
            hit = detector.resolve(candidate)
            if hit is None and candidate.skip_to:
                skips[index] = candidate.skip_to
        if hit is None or hit.kind not in self._maskers or not floor <= hit.start < hit.end:
            return None
        if self._allow and match.string[hit.start : hit.end] in self._allow:
            return None
        return hit

    def _pattern(self, index: int) -> re.Pattern[str]:
        """Detector ``index``'s own pattern (compiled once; a race compiles it twice)."""
        pattern = self._single[index]
        if pattern is None:
            pattern = self._single[index] = re.compile(self._bodies[index], re.VERBOSE)
        return pattern

    def _able_to_start(self, char: str) -> tuple[int, ...]:
        """Detectors (in priority order) whose pattern can start with ``char``.

        Skipping the others without calling their regex keeps a rejected candidate
        cheap: near-miss input (digit groups failing Luhn) is full of them.
        """
        able = self._by_char.get(char)
        if able is None:
            latin = ord(char) < 256
            able = tuple(
                i
                for i, firsts in enumerate(self._firsts)
                if not latin or firsts is None or char in firsts
            )
            if len(self._by_char) < 4096:  # bounded: characters come from the input
                self._by_char[char] = able
        return able

    def _key_starts(self, text: str) -> list[int]:
        """Offsets where a sensitive key may start, in increasing order."""
        starts = self._prefilter.key_starts(text)
        if starts is None:  # lower-casing changed the length: scan forwards instead
            seen = {m.start() for i in self._keyed for m in self._pattern(i).finditer(text)}
            starts = sorted(seen)
        return starts

    def _builtin_hits(self, text: str, subset: frozenset[int]) -> Iterator[tuple[int, Hit]]:
        """Yield hits left to right; see the overlap rule in the module docstring.

        Args:
            text: the text to scan.
            subset: the detectors that can match (from the pre-filter); others are
                neither searched for nor retried.
        """
        combined = self._combined_for(subset)
        search = combined.pattern.search if combined.pattern is not None else None
        by_group = combined.by_group
        keys = self._key_starts(text) if subset & self._keyed else []
        key_at = 0
        keyed_first = self._keyed_first
        by_char = self._by_char
        # Detector -> offset before which it rejects every candidate (Candidate.skip_to).
        skips: dict[int, int] = {}
        unkeyed: frozenset[int] | None = None
        pos = 0
        match = search(text, 0) if search is not None else None
        while True:
            while key_at < len(keys) and keys[key_at] < pos:
                key_at += 1
            if match is not None and match.start() < pos and search is not None:
                match = search(text, pos)
            key = keys[key_at] if key_at < len(keys) else -1
            if match is None and key < 0:
                return
            own = -1
            if match is not None and (key < 0 or match.start() <= key):
                start = match.start()
                first = own = by_group[match.lastindex or 0]
                if key == start:
                    first = min(first, keyed_first)
            else:
                start, first = key, keyed_first
            hit = None
            index = first
            able = by_char.get(text[start]) or self._able_to_start(text[start])
            for index in able:
                if index < first or index not in subset:
                    continue
                if skips and skips.get(index, 0) > start:
                    continue
                if index == own:
                    candidate: re.Match[str] | None = match
                elif index in self._keyed and key != start:
                    continue
                else:
                    candidate = (self._single[index] or self._pattern(index)).match(text, start)
                if candidate is not None:
                    hit = self._accept(index, candidate, pos, skips)
                    if hit is not None:
                        break
            if hit is None:
                pos = start + 1
                if skips:
                    # When every detector the scan looks for rejects all it could find
                    # before some offset, the scan resumes there (or at a sensitive key).
                    if unkeyed is None:
                        unkeyed = subset - self._keyed
                    resume = min((skips.get(i, 0) for i in unkeyed), default=0)
                    if resume > pos:
                        later = bisect.bisect_left(keys, pos, key_at)
                        pos = min(resume, keys[later]) if later < len(keys) else resume
                continue
            yield index, hit
            pos = max(hit.end, start + 1)

    def _custom_hits(self, text: str, taken: list[tuple[int, int]]) -> list[tuple[str, Hit]]:
        found: list[tuple[str, Hit]] = []
        for rule in self._custom:
            if rule.kind not in self._maskers:
                continue
            try:
                matches = list(rule.pattern.finditer(text, timeout=self._timeout))
            except TimeoutError as exc:
                raise RedactionFailed(f"custom pattern {rule.name!r} timed out") from exc
            for match in matches:
                start, end = match.span(rule.group) if rule.group is not None else match.span()
                if start >= end or any(s < end and start < e for s, e in taken):
                    continue
                value = text[start:end]
                if value in self._allow:
                    continue
                if rule.validator is not None and not rule.validator(value):
                    continue
                taken.append((start, end))
                found.append((rule.name, Hit(start, end, rule.kind)))
        return found

    def _hits(self, text: str, subset: frozenset[int] | None) -> list[tuple[str, Hit]]:
        if subset is None:
            subset = self.subset(text)
        elif subset & self._keyed and "=" not in text and ":" not in text and "%3" not in text:
            # A subset handed down from an enclosing text (the values of a JSON line):
            # a key-value pair needs a separator, and most values have none.
            subset = subset - self._keyed
        hits = (
            [(self._detectors[i].name, hit) for i, hit in self._builtin_hits(text, subset)]
            if subset
            else []
        )
        if self._custom:
            taken = [(hit.start, hit.end) for _, hit in hits]
            hits.extend(self._custom_hits(text, taken))
            hits.sort(key=lambda item: item[1].start)
        return hits

    # -- masking -----------------------------------------------------------------------

    def _mask(self, kind: str, value: str) -> str:
        if value in self._placeholders:
            return value  # already redacted (by this policy or another pass): idempotence
        try:
            return self._maskers[kind](value)
        except Exception:  # fail closed: a broken masker must not let the value through
            return _FAILED_MASK(value)

    def mask_value(self, kind: str, value: str) -> str:
        """Mask a whole value known to be of ``kind`` (a value under a sensitive key)."""
        if kind not in self._maskers or value in self._allow:
            return value
        return self._mask(kind, value)

    def scan(self, text: str, subset: frozenset[int] | None = None) -> list[Finding]:
        """Return the findings in ``text`` with masked previews, never raw values.

        Args:
            text: the text.
            subset: the detectors that can match, if already known (from a batch
                pre-filter pass over a text containing this one); None asks the
                pre-filter.
        """
        return [
            Finding(
                hit.kind, rule, hit.start, hit.end, self._mask(hit.kind, text[hit.start : hit.end])
            )
            for rule, hit in self._hits(text, subset)
        ]

    def redact(self, text: str, subset: frozenset[int] | None = None) -> tuple[str, list[Finding]]:
        """Return ``text`` with every finding replaced, and the findings.

        Args:
            text: the text.
            subset: as for :meth:`scan`.

        Raises:
            RedactionFailed: a user-supplied pattern timed out; the caller fails closed.
        """
        findings = self.scan(text, subset)
        if not findings:
            return text, findings
        parts: list[str] = []
        last = 0
        for finding in findings:
            parts.append(text[last : finding.start])
            parts.append(_json_safe(text, finding.start, finding.end, finding.preview))
            last = finding.end
        parts.append(text[last:])
        return "".join(parts), findings


def _json_safe(text: str, start: int, end: int, replacement: str) -> str:
    r"""Quote a replacement that stands where a bare JSON number or literal stood.

    ``{"pan": 4111111111111111}`` inside a text line must stay parseable JSON, so the
    masked value becomes a string there: ``{"pan": "411111******1111"}``, as it does in
    an array of a text that is a JSON document. A value inside a JSON string (an odd
    number of unescaped quotes before it) is left unquoted, since quotes there would end
    the string.
    """
    if not _JSON_BARE.fullmatch(text[start:end]) or _JSON_BARE.fullmatch(replacement):
        return replacement
    before = text[max(0, start - 64) : start].rstrip()
    after = text[end : end + 64].lstrip()
    if after and after[0] not in ",}]":
        return replacement
    in_object = before.endswith('":')
    in_array = before[-1:] in ("[", ",") and text.lstrip()[:1] in ("{", "[")
    if not (in_object or in_array):
        return replacement
    quotes = text.count('"', 0, start) - text.count('\\"', 0, start)
    return replacement if quotes % 2 else '"' + replacement + '"'
