"""Detector triggers rewritten as Hyperscan patterns over the original bytes.

The pure pre-filter searches the *shape* of a text (digits read ``0``, capitals ``A``,
small letters ``a``); Hyperscan searches the text itself. So a shape pattern becomes a
pattern over bytes by widening every shape letter into its class (``0`` -> ``[0-9]``,
``A`` -> ``[A-Z]``, ``a`` -> ``[a-z]``), inside and outside character classes, leaving
escapes and ``{m,n}`` counts alone. A shape pattern ``lead`` + ``(?<=X)`` (a lead with a
lookbehind, which Hyperscan does not support) stands for ``X`` itself, since ``X`` ends
with the lead. Keys become caseless patterns of the key's words with optional
separators, followed by what may sit between a key and its value and a separator;
words become caseless literals. Every translation matches at least what the pure
trigger matches, so a text the pure pre-filter flags is flagged here too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from redactor.keys import KeyTerm

__all__ = ["key_pattern", "shape_pattern", "word_pattern"]

_WIDE = {"0": "0-9", "A": "A-Z", "a": "a-z"}
_LOOKBEHIND_ONLY = re.compile(r"\(\?<=(?P<body>(?:[^()\\]|\\.)*)\)")


def _widen(source: str) -> str:
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(source):
        char = source[index]
        if char == "\\":
            out.append(source[index : index + 2])
            index += 2
            continue
        if not in_class and char == "{":
            close = source.index("}", index)
            out.append(source[index : close + 1])
            index = close + 1
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
        elif char == "]" and in_class:
            in_class = False
            out.append(char)
        elif char in _WIDE:
            out.append(_WIDE[char] if in_class else f"[{_WIDE[char]}]")
        else:
            out.append(char)
        index += 1
    return "".join(out)


#: What may stand before the digit run of a bounded shape (see ``Trigger.bounded``):
#: the start, a non-alphanumeric byte, a backslash escape or a %XX escape.
_BOUNDARY = r"(?:^|[^0-9A-Za-z]|\\[A-Za-z]|%[0-9A-Za-z]{2})[0-9]*"


def shape_pattern(lead: str, tail: str, bounded: bool = False) -> str:
    """Return the Hyperscan pattern for a shape trigger ``(lead, tail)``.

    Args:
        lead: the shape's literal lead.
        tail: the regex that follows it.
        bounded: the shape's digit run must start at a boundary.

    Raises:
        ValueError: the tail uses a lookbehind anywhere but as the whole tail, or a
            bounded shape does not start with a digit.
    """
    whole = _LOOKBEHIND_ONLY.fullmatch(tail)
    if whole is not None:
        body = whole.group("body")
        if not body.endswith(lead):
            raise ValueError(f"lookbehind {body!r} does not end with its lead {lead!r}")
        return _widen(body)
    if "(?<" in tail:
        raise ValueError(f"shape tail {tail!r}: only a whole-tail lookbehind translates")
    if bounded and not lead.startswith("0"):
        raise ValueError(f"bounded shape lead {lead!r} does not start with a digit")
    return (_BOUNDARY if bounded else "") + _widen(re.escape(lead) + tail)


def key_pattern(terms: Iterable[KeyTerm]) -> str:
    """Return one caseless pattern for "a catalogue key, then a separator".

    The forward detector also requires a key boundary on the left; leaving it out only
    widens the pattern.
    """
    # Longest first, then alphabetical: the same pattern in every process (ties in a
    # set's order would follow string hashing, which differs per process, and a
    # compiled database handed to a worker is looked up by its exact patterns).
    spelled = sorted(
        {r"[_\-. ]?".join(re.escape(word) for word in term.words) for term in terms},
        key=lambda text: (-len(text), text),
    )
    return (
        "(?:" + "|".join(spelled) + r")(?:[_\-.]?[0-9]{1,3})?\]?(?:\\?[\"'])?[ \t]*"
        r"(?:[:=]|%3[da])"
    )


def word_pattern(word: str) -> str:
    """Return the pattern of a trigger word not glued to a letter or digit on its left.

    Compiled caseless, ``[^a-z0-9]`` also excludes capitals; a line start is either the
    buffer start or the newline that joins it to the previous line.
    """
    return "(?:^|[^a-z0-9])" + re.escape(word)
