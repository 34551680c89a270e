"""The pre-filter: a cheap, conservative test run before the combined scan.

Most log lines hold nothing sensitive, and running thirty-odd detectors over them costs
far more than proving they cannot match. Each detector declares a
:class:`~redactor.detectors.base.Trigger`; this module tests the union of all triggers,
using only operations that run at C speed without visiting every character in Python's
regex engine:

* anchors: one regex, the trie of all literal anchors (``sk_live_``, ``eyJ``, ``@``);
* shapes: the line is encoded and mapped through a byte table (digits to ``0``, ASCII
  capitals to ``A``, small letters to ``a``), then searched with one regex per literal
  lead (``0000``, ``AA00``, ``+0``, ``://``) followed by the alternation of the tails
  that share it; a regex that starts with a literal is searched at C speed, while a
  plain ``bytes`` needle search is slow on such repetitive text;
* keys: the lower-cased line is reversed and searched for a separator (``=`` or ``:``,
  and ``%3d``/``%3a`` when the line has a ``%3``) followed by a reversed key name, so the
  regex engine jumps from separator to separator instead of trying a key at every word;
* words: ``in`` on the lower-cased line, then a boundary check.

It is conservative by construction: every detector's matches contain its trigger, so a
line rejected here would have produced no finding. A differential property test checks
exactly that. A detector with no cheap trigger makes the pre-filter always pass.

Measured on typical 180-byte log lines, the whole test costs a few regex searches'
worth; the combined scan it saves costs ten times more.
"""

from __future__ import annotations

import re
import string
from bisect import bisect_left, bisect_right
from collections.abc import Sequence

from redactor.detectors.base import Detector
from redactor.detectors.keyed import build_trie, render_trie
from redactor.keys import KeyCatalog

__all__ = ["SHAPE_TABLE", "Prefilter", "shape_of"]

SHAPE_TABLE = bytes.maketrans(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    b"0" * 10 + b"A" * 26 + b"a" * 26,
)
# Reversed: separator, spaces, closing quote, "]", a key counter ("password2"), the key.
_KEY_SEPARATOR = r"[:=][ \t]*(?:[\"']\\?)?\]?(?:[0-9]{1,3}[_\-.]?)?"
_ENCODED_SEPARATOR = r"(?:[:=]|d3%|a3%)[ \t]*(?:[\"']\\?)?\]?(?:[0-9]{1,3}[_\-.]?)?"


def shape_of(text: str) -> bytes:
    """Return the shape of ``text``: digits ``0``, capitals ``A``, small letters ``a``."""
    return text.encode("utf-8", "surrogatepass").translate(SHAPE_TABLE)


_NOTHING: frozenset[int] = frozenset()
#: Word starts in ASCII text: a letter after a non-alphanumeric (or at the start of the
#: searched slice), or a capital after a non-capital (a camelCase hump).
_WORD_STARTS = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]|(?<![A-Z])[A-Z]")
_LETTERS = frozenset(string.ascii_letters)
_DIGIT, _BACKSLASH, _PERCENT = ord("0"), ord("\\"), ord("%")
_WORD = frozenset(b"0Aa")


def _bounded_search(pattern: re.Pattern[bytes], shape: bytes) -> bool:
    """Whether ``pattern`` occurs in ``shape`` within a digit run starting at a boundary.

    Every occurrence whose digit run fails is skipped with its whole run (they all share
    that run's start), so the search stays linear.
    """
    pos = 0
    while (match := pattern.search(shape, pos)) is not None:
        start = match.start()
        while start and shape[start - 1] == _DIGIT:
            start -= 1
        if (
            start == 0
            or shape[start - 1] not in _WORD
            or (start >= 2 and shape[start - 2] == _BACKSLASH)
            or (start >= 3 and shape[start - 3] == _PERCENT and shape[start - 2] in _WORD)
        ):
            return True
        pos = match.start() + 1
        while pos < len(shape) and shape[pos] == _DIGIT:
            pos += 1
    return False


Element = tuple[str, ...]


def _owners(detectors: Sequence[Detector], kept: tuple[str, ...]) -> dict[Element, frozenset[int]]:
    """Map each trigger element to the indices of the detectors that declared it.

    Elements are ``("anchor", literal)``, ``("shape", lead, tail)``, ``("word", word)``,
    ``("keyed", "")`` and ``("always", "")``.
    """
    owners: dict[Element, set[int]] = {}
    for index, detector in enumerate(detectors):
        trigger = detector.trigger
        elements: list[Element] = [
            ("anchor", a) for a in kept if any(a in b for b in trigger.anchors)
        ]
        elements += [("shape", lead, tail) for lead, tail in trigger.shapes]
        elements += [("word", word) for word in trigger.words]
        if trigger.keyed:
            elements.append(("keyed", ""))
        if trigger.always:
            elements.append(("always", ""))
        for element in elements:
            owners.setdefault(element, set()).add(index)
    return {element: frozenset(indices) for element, indices in owners.items()}


def _minimal(needles: set[str]) -> tuple[str, ...]:
    """Drop needles that contain another needle: finding the shorter one suffices."""
    return tuple(sorted(n for n in needles if not any(o != n and o in n for o in needles)))


class Prefilter:
    """Answers "which detectors can match this text?" without running them.

    Args:
        detectors: the detectors in force.
        catalog: key names, for detectors triggered by keys.
    """

    def __init__(self, detectors: Sequence[Detector], catalog: KeyCatalog) -> None:
        anchors: set[str] = set()
        shapes: dict[str, set[str]] = {}
        words: set[str] = set()
        keyed = False
        always = False
        for detector in detectors:
            trigger = detector.trigger
            always |= trigger.always
            anchors.update(trigger.anchors)
            for lead, tail in trigger.shapes:
                shapes.setdefault(lead, set()).add(tail)
            words.update(trigger.words)
            keyed |= trigger.keyed
        #: The union of the triggers, for other backends built from the same facts.
        self.always = always
        self.anchors = _minimal(anchors)
        self.shapes = {lead: tuple(sorted(tails)) for lead, tails in sorted(shapes.items())}
        self.words = tuple(sorted(words))
        self.keyed = keyed
        #: Which detectors (by index) each trigger element stands for. An anchor kept by
        #: ``_minimal`` also stands for the detectors of the longer anchors it is in.
        self.owners = _owners(detectors, self.anchors)
        #: Shapes (lead, tail) whose every owner is bounded (see ``Trigger.bounded``).
        self.bounded = frozenset(
            (lead, tail)
            for lead, tails in self.shapes.items()
            for tail in tails
            if all(detectors[i].trigger.bounded for i in self.owners[("shape", lead, tail)])
        )
        self._anchors: re.Pattern[str] | None = None
        if anchors:
            trie = render_trie(build_trie((a,) for a in self.anchors), cased=False)
            self._anchors = re.compile(trie)
        # Per lead: one pattern of all its tails, searched first (most texts stop
        # there), then each tail on its own to tell which detectors it stands for.
        self._shapes = tuple(
            (
                re.compile((re.escape(lead) + "(?:" + "|".join(tails) + ")").encode()),
                tuple(
                    (
                        re.compile((re.escape(lead) + t).encode()),
                        self.owners[("shape", lead, t)],
                        (lead, t) in self.bounded,
                    )
                    for t in tails
                ),
            )
            for lead, tails in self.shapes.items()
        )
        self._word_boundary = re.compile(
            "(?<![a-z0-9])(?:" + "|".join(map(re.escape, self.words)) + ")"
        )
        self._keys: re.Pattern[str] | None = None
        self._encoded_keys: re.Pattern[str] | None = None
        if keyed:
            reversed_keys = render_trie(
                build_trie((term.words for term in catalog.terms), reverse=True), cased=False
            )
            self._keys = re.compile(_KEY_SEPARATOR + reversed_keys)
            self._encoded_keys = re.compile(_ENCODED_SEPARATOR + reversed_keys)

    def _key_pattern(self, lowered: str) -> re.Pattern[str] | None:
        return self._encoded_keys if "%3" in lowered else self._keys

    def key_starts(self, text: str) -> list[int] | None:
        """Return the offsets where a sensitive key may start, in increasing order.

        Returns:
            The offsets, or None when lower-casing changed the text's length (a few
            non-ASCII letters do) so offsets in the reversed copy would not line up.
        """
        lowered = text.lower()
        pattern = self._key_pattern(lowered)
        if pattern is None:
            return []
        if len(lowered) != len(text):
            return None
        # A reversed match reads the longest key it can ("x api_key" for the term
        # x_api_key in "0x api_key="), whose start may not be a key start at all, while a
        # shorter term inside it is ("api_key"). So every word start inside the matched
        # key is offered; the forward detector decides.
        end = len(text)
        ascii_only = text.isascii()
        words: list[int] | None = None  # the word starts of the whole (ASCII) text
        starts: list[int] = []
        for match in reversed(list(pattern.finditer(lowered[::-1]))):
            first, last = end - match.end(), end - match.start()
            if ascii_only:
                # The rule of the loop below, from one regex pass over the text: inside
                # the key its word starts are the text's; its first letter counts
                # whatever stands before it, as in the loop.
                if words is None:
                    words = [m.start() for m in _WORD_STARTS.finditer(text)]
                if text[first] in _LETTERS:
                    starts.append(first)
                starts.extend(words[bisect_right(words, first) : bisect_left(words, last)])
                if not starts or starts[-1] < first:
                    starts.append(first)
                continue
            previous = " "
            for position in range(first, last):
                char = text[position]
                if char.isalpha() and (
                    not previous.isalnum() or (char.isupper() and not previous.isupper())
                ):
                    starts.append(position)
                previous = char
            if not starts or starts[-1] < first:
                starts.append(first)
        return starts

    def subset(self, text: str) -> frozenset[int]:
        """Return the detectors (indices) whose trigger is in ``text``: all that can match.

        Each family is first tested with its one combined pattern, so a text that holds
        no trigger (most log lines) costs one search per family and nothing more.
        """
        owners = self.owners
        found: set[int] = set(owners.get(("always", ""), ()))
        if self._anchors is not None and self._anchors.search(text) is not None:
            for anchor in self.anchors:
                if anchor in text:
                    found.update(owners[("anchor", anchor)])
        if self._shapes:
            shape = text.encode("utf-8", "surrogatepass").translate(SHAPE_TABLE)
            for lead, tails in self._shapes:
                if lead.search(shape) is not None:
                    for pattern, indices, bounded in tails:
                        if (
                            _bounded_search(pattern, shape)
                            if bounded
                            else pattern.search(shape) is not None
                        ):
                            found.update(indices)
        if self._keys is not None or self.words:
            lowered = text.lower()
            words = self.words
            if any(map(lowered.__contains__, words)) and self._word_boundary.search(lowered):
                for word in words:
                    if word in lowered:
                        found.update(owners[("word", word)])
            keys = self._key_pattern(lowered)
            if keys is not None and keys.search(lowered[::-1]) is not None:
                found.update(owners[("keyed", "")])
        return frozenset(found) if found else _NOTHING
