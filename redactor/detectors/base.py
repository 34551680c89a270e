"""What a detector is: mostly data, a verbose regex plus an optional resolver.

A detector's pattern finds *candidates* cheaply; its resolver (validators and context
checks) decides which candidates are findings and exactly which characters to replace.
Patterns name the part to replace ``(?P<v>...)`` (several alternatives may use ``v``,
``v2``, ``v3``... and the first that took part wins); without such a group the whole
match is replaced. Group names are local to the detector: the engine renames them when
it combines all detectors into one pattern, so two detectors may both use ``v``.

Pattern rules, which keep every scan linear in the input length (no catastrophic
backtracking): every repetition of a class that can overlap the next token is bounded
(``{1,4096}``), nested quantifiers never repeat a group whose body can match the same
text in two ways, and backtracking points are limited to a constant per start position.

Speed rule: a pattern starts with a single literal character or character class, never
a group, a repeat or an assertion; boundary lookbehinds come after that first character
(``[0-9](?<![0-9A-Za-z].)``). Python's regex engine rejects such an alternative with one
comparison, which is what makes one combined pattern of thirty-odd detectors affordable.

Every detector also declares its *trigger*: text that any of its matches must contain
(literal anchors, or "shapes" such as seven digits in a row). The pre-filter checks the
triggers of all detectors before the scan, so a line that holds none of them is passed
through without running the combined pattern at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Candidate", "Detector", "Hit", "Resolver", "Trigger"]


class Candidate:
    """A regex match of one detector, with the detector's own group names."""

    __slots__ = ("_match", "_prefix", "end", "floor", "grouped", "skip_to", "start", "string")

    def __init__(
        self,
        match: re.Match[str],
        prefix: str,
        start: int,
        end: int,
        floor: int = 0,
        grouped: bool = True,
    ) -> None:
        self._match = match
        self._prefix = prefix
        self.string = match.string
        self.start = start
        self.end = end
        #: Whether ``start``/``end`` are the span of one of the detector's groups (the
        #: first that took part, in the detector's order) rather than the whole match.
        self.grouped = grouped
        #: Hits must not start before this offset (text before it is already decided).
        self.floor = floor
        #: Set by a resolver that rejects: it would also reject every candidate of its
        #: detector that starts after this one and before this offset. The engine then
        #: does not look for them: near-miss input (a long run of digit groups that
        #: fail Luhn) would otherwise cost a full scan step per group.
        self.skip_to = 0

    @property
    def origin(self) -> int:
        """Where the detector's whole match starts (before any kept prefix or key)."""
        return self._match.start()

    @property
    def text(self) -> str:
        """The text of the span that would be replaced."""
        return self.string[self.start : self.end]

    def group(self, name: str) -> str | None:
        """Return the detector-local group ``name``, or None if it did not take part."""
        return self._match.group(self._prefix + name)

    def span(self, name: str) -> tuple[int, int]:
        """Return the detector-local group's span (``(-1, -1)`` if it did not match)."""
        return self._match.span(self._prefix + name)


@dataclass(frozen=True, slots=True)
class Hit:
    """An accepted candidate: the exact span to replace and the kind it belongs to."""

    start: int
    end: int
    kind: str


#: Decides a candidate: returns the hit (possibly a narrower span or another kind) or None.
Resolver = Callable[[Candidate], "Hit | None"]


@dataclass(frozen=True, slots=True)
class Trigger:
    r"""What every match of a detector must contain; the pre-filter tests only this.

    Attributes:
        anchors: literal substrings; a match contains at least one of them.
        shapes: ``(lead, tail)`` pairs searched in the text's *shape*, where every ASCII
            digit reads ``0``, every upper-case ASCII letter ``A`` and every lower-case
            one ``a`` (other characters stay). The lead is a literal, the tail a regex
            that follows it (lookbehinds may look back past the lead): ``("0000",
            "(?<=000-00-0000)")`` is a dashed SSN. Shapes sharing a lead are searched as
            one pattern that starts with that literal, which the regex engine finds at
            C speed.
        words: lower-case words; a match contains one of them, in any case, not glued
            to a letter or digit on its left.
        keyed: matches start with a sensitive key followed by a separator; the
            pre-filter runs its key scan.
        always: no cheap test exists; the detector always runs.
        bounded: every shape is found in a run of digits that starts at a boundary:
            the start of the text, a character other than an ASCII letter or digit, a
            backslash escape (``\n``) or a ``%XX`` escape. A card number cannot start
            in the middle of a word, so the digits inside a UUID or a hex id do not
            count.
    """

    anchors: tuple[str, ...] = ()
    shapes: tuple[tuple[str, str], ...] = ()
    words: tuple[str, ...] = ()
    keyed: bool = False
    always: bool = False
    bounded: bool = False


@dataclass(frozen=True, slots=True)
class Detector:
    """One rule of what to find.

    Attributes:
        name: ``<kind>.<what>``, reported in findings and usable in ``disable`` lists.
        kind: the family whose masker is applied.
        pattern: a verbose regex (``re.VERBOSE``); spaces must be escaped or in classes.
        groups: names of the groups holding the span to replace, tried in order;
            when none took part, the whole match is replaced.
        resolve: confirms a candidate; None accepts every match as is.
        trigger: what the pre-filter looks for (see :class:`Trigger`).
    """

    name: str
    kind: str
    pattern: str
    groups: tuple[str, ...] = ("v",)
    resolve: Resolver | None = None
    trigger: Trigger = Trigger(always=True)

    def compile(self) -> re.Pattern[str]:
        """Compile the pattern alone (used for tests and for retries at one position)."""
        return re.compile(self.pattern, re.VERBOSE)
