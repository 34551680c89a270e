"""Card data: primary account numbers and magnetic-stripe track data.

PAN candidates are 12 to 19 digits, contiguous or grouped by one consistent separator
(space, dash, ``+`` or a percent-encoded space/plus/dash as in query strings). A candidate
is a finding only if it is Luhn-valid with an issuer prefix that fits its length, and it
must not be glued to other letters or digits ("part of a longer run"). A percent escape
right before the number (``%224111...`` in URL-encoded JSON) counts as a boundary.

Track data is sensitive authentication data: it is removed whole, sentinels included.
"""

from __future__ import annotations

import re

from redactor.detectors.base import Candidate, Detector, Hit, Trigger
from redactor.validators import card_ok, luhn_ok

__all__ = ["CARD_DETECTORS", "card_starts_at"]

_SEPARATOR = re.compile(r"%2[0BbDd]|[ +\-]")
_UUID_HEAD = re.compile(r"[0-9A-Fa-f]{4}-")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")


def _inside_uuid(string: str, start: int) -> bool:
    """Whether offset ``start`` of ``string`` lies inside a UUID (36 characters)."""
    return any(
        m.start() <= start < m.end() for m in _UUID.finditer(string, max(0, start - 35), start + 36)
    )


def _resolve_pan(candidate: Candidate) -> Hit | None:
    """Accept the longest group-aligned prefix that is a plausible card number.

    A greedy match over "4111 1111 1111 1111 2024" is 20 digits long; the card is its
    first four groups. Every group but the last must have at least four digits, as in
    every way cards are written (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3), so that phone
    numbers and lists of small numbers ("44 20 7946 0958") are not read as cards (a
    short last group is how 18-19 digit cards are often written: 4-4-4-4-2), and all
    separators must be the same character.
    """
    text = candidate.text
    if text.isdigit():  # the common case: no separators
        if len(text) == 12 and _UUID_HEAD.fullmatch(
            candidate.string, candidate.start - 5, candidate.start
        ):
            return None  # the all-decimal last group of a UUID, not a 12-digit card
        return Hit(candidate.start, candidate.end, "card") if card_ok(text) else None
    if "-" in text and _inside_uuid(candidate.string, candidate.start):
        return None  # dashed groups of a UUID ("6006-3258-2836" may pass Luhn)
    groups = _SEPARATOR.split(text)
    separators = _SEPARATOR.findall(text)
    short = next((i for i, group in enumerate(groups) if len(group) < 4), len(groups))
    groups = groups[: short + 1]  # a short group can only be the last one
    if len({s.upper() for s in separators[: len(groups) - 1]}) > 1:
        return None
    for count in range(len(groups), 0, -1):
        digits = "".join(groups[:count])
        if 12 <= len(digits) <= 19 and card_ok(digits):
            length = sum(len(g) for g in groups[:count]) + sum(
                len(s) for s in separators[: count - 1]
            )
            return Hit(candidate.start, candidate.start + length, "card")
    return None


def _resolve_track2(candidate: Candidate) -> Hit | None:
    """Without the ``;`` sentinel, require a Luhn-valid account number before ``=``."""
    if candidate.text.startswith(";"):
        return Hit(candidate.start, candidate.end, "track")
    pan = candidate.text.partition("=")[0]
    return Hit(candidate.start, candidate.end, "track") if luhn_ok(pan) else None


#: What every accepted PAN contains, given the resolver's rules (12 to 19 digits; every
#: group but the last has four digits or more), in the shape alphabet where ``%20``
#: reads ``%00``. Twelve digits in a row; or two groups a, b with a + b >= 12: b >= 6,
#: or b in 4-5 and so a >= 7, or b <= 3 and so a >= 9; or three groups a, b, c (a, b
#: >= 4): c >= 4 (c is then whole or not the last), else c is the last and a + b >= 9,
#: so a >= 5, or a = 4 and b >= 5. Written so that a UUID (8-4-4-4-12 hex, the third
#: group starting with a version digit) rarely holds one: its middle groups are exactly
#: four long, so only an all-decimal run of them does.
_SEP = r"(?:[ +\-]|%0[0Aa])"
_PAN_SHAPES = (
    ("0000", "0{8}"),
    ("0000", f"{_SEP}0{{4,15}}{_SEP}0000"),
    ("0000", f"0{_SEP}0{{4,15}}{_SEP}0"),
    ("0000", f"{_SEP}0{{5,15}}{_SEP}0"),
    ("0000", f"{_SEP}000000"),
    ("0000", f"00{_SEP}0000"),
    ("0000", f"0{{5}}{_SEP}0"),
)

CARD_DETECTORS: tuple[Detector, ...] = (
    Detector(
        name="track.track1",
        kind="track",
        pattern=r"""
        [%B] (?: (?<=%) B | (?<![0-9A-Za-z]B) )   # start sentinel, or a clean boundary
        [0-9]{12,19}                             # PAN
        \^ [^^\n]{2,26} \^                       # cardholder name between carets
        [0-9]{4} [0-9A-Za-z\ /]{0,79}            # expiry YYMM, service code, discretionary
        \??                                      # end sentinel
        """,
        groups=(),
        # The start sentinel or the format code (% or B), then the PAN's 12+ digits.
        trigger=Trigger(shapes=(("A0000", "0{8}"), ("%0000", "0{8}"))),
    ),
    Detector(
        name="track.track2",
        kind="track",
        pattern=r"""
        [;0-9]
        (?: (?<=;) [0-9]{12,19}                  # start sentinel and PAN
          | (?<![0-9A-Za-z=][0-9]) [0-9]{11,18}  # or a PAN on a clean boundary
        )
        = [0-9]{7,32}                            # = YYMM, service code, discretionary
        \??                                      # end sentinel
        """,
        groups=(),
        resolve=_resolve_track2,
        trigger=Trigger(shapes=(("0000", "(?<=0=0000000)"),)),  # PAN end, =, YYMM, service
    ),
    Detector(
        name="card.pan",
        kind="card",
        pattern=r"""
        [0-9]
        (?: (?<![0-9A-Za-z][0-9])                      # not glued to a longer run,
          | (?<=%[0-9A-Fa-f]{2}[0-9])                  # but a %-escape before it is a
          | (?<=\\[nrtfv][0-9]) )                       # boundary, as is a \n escape
        (?: (?: [\ +\-] | %2[0BbDd] )? [0-9] ){11,18}            # 12-19 digits, one separator
        (?! [0-9A-Za-z] )
        """,
        groups=(),
        resolve=_resolve_pan,
        trigger=Trigger(shapes=_PAN_SHAPES, bounded=True),
    ),
)

_PAN = CARD_DETECTORS[2].compile()


def card_starts_at(string: str, position: int) -> bool:
    """Return whether an accepted card number starts exactly at ``position``.

    Lets greedy detectors of weaker evidence (phone numbers) stop short of a card.
    """
    match = _PAN.match(string, position)
    return match is not None and _resolve_pan(Candidate(match, "", *match.span())) is not None
