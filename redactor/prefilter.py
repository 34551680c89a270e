"""The pre-filter: a cheap, conservative test run before the combined scan.

Most log lines hold nothing sensitive, and running thirty-odd detectors over them costs
far more than proving they cannot match. Each detector declares a
:class:`~redactor.detectors.base.Trigger`; this module tests the union of all triggers:

* anchors: one regex, the trie of all literal anchors (``sk_live_``, ``eyJ``, ``@``);
* shapes: the line is encoded and mapped through a byte table (digits to ``0``, ASCII
  capitals to ``A``, small letters to ``a``), then searched with one regex for needles
  such as ``0000000`` (seven digits in a row) or ``000-00-0000`` (a dashed SSN);
* keys: the lower-cased line is reversed and searched for a separator (``=``, ``:``,
  ``%3d``, ``%3a``) followed by a reversed key name, so the regex engine jumps from
  separator to separator instead of trying a key at every word.

It is conservative by construction: every detector's matches contain its trigger, so a
line rejected here would have produced no finding. A differential property test checks
exactly that. A detector with no cheap trigger makes the pre-filter always pass.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from redactor.detectors.base import Detector
from redactor.detectors.keyed import build_trie, render_trie
from redactor.keys import KeyCatalog

__all__ = ["SHAPE_TABLE", "Prefilter", "shape_of"]

SHAPE_TABLE = bytes.maketrans(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    b"0" * 10 + b"A" * 26 + b"a" * 26,
)


def shape_of(text: str) -> bytes:
    """Return the shape of ``text``: digits ``0``, capitals ``A``, small letters ``a``."""
    return text.encode("utf-8", "surrogatepass").translate(SHAPE_TABLE)


def _minimal(needles: set[str]) -> tuple[str, ...]:
    """Drop needles that contain another needle: finding the shorter one suffices."""
    return tuple(sorted(n for n in needles if not any(o != n and o in n for o in needles)))


class Prefilter:
    """Answers "can any detector match this text?" without running them.

    Args:
        detectors: the detectors in force.
        catalog: key names, for detectors triggered by keys.
    """

    def __init__(self, detectors: Sequence[Detector], catalog: KeyCatalog) -> None:
        anchors: set[str] = set()
        shapes: set[str] = set()
        keyed = False
        self._always = False
        for detector in detectors:
            trigger = detector.trigger
            self._always |= trigger.always
            anchors.update(trigger.anchors)
            shapes.update(trigger.shapes)
            keyed |= trigger.keyed
        # Measured on typical 180-byte lines: one trie regex beats 50 ``in`` tests.
        self._anchors: re.Pattern[str] | None = None
        if anchors:
            trie = render_trie(build_trie((a,) for a in _minimal(anchors)), cased=False)
            self._anchors = re.compile(trie)
        self._shapes: re.Pattern[bytes] | None = None
        if shapes:
            self._shapes = re.compile(b"|".join(re.escape(s.encode()) for s in _minimal(shapes)))
        self._keys: re.Pattern[str] | None = None
        if keyed:
            reversed_keys = render_trie(
                build_trie((term.words for term in catalog.terms), reverse=True), cased=False
            )
            self._keys = re.compile(rf"(?:[:=]|d3%|a3%)[ \t]*(?:[\"']\\?)?\]?{reversed_keys}")

    def key_starts(self, text: str) -> list[int] | None:
        """Return the offsets where a sensitive key may start, in increasing order.

        Returns:
            The offsets, or None when lower-casing changed the text's length (a few
            non-ASCII letters do) so offsets in the reversed copy would not line up.
        """
        if self._keys is None:
            return []
        lowered = text.lower()
        if len(lowered) != len(text):
            return None
        end = len(text)
        return [end - m.end() for m in reversed(list(self._keys.finditer(lowered[::-1])))]

    def __call__(self, text: str) -> bool:
        """Return False only if no detector can match anywhere in ``text``."""
        if self._always:
            return True
        if self._anchors is not None and self._anchors.search(text) is not None:
            return True
        if self._shapes is not None and self._shapes.search(shape_of(text)) is not None:
            return True
        return self._keys is not None and self._keys.search(text.lower()[::-1]) is not None
