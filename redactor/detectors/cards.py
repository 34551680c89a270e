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
from itertools import accumulate

from redactor.detectors.base import Candidate, Detector, Hit, Trigger
from redactor.validators import card_ok, luhn_ok
from redactor.validators.card import LENGTHS_BY_PREFIX

__all__ = ["CARD_DETECTORS", "card_starts_at"]

_SPLIT = re.compile(r"(%2[0BbDd]|[ +\-])")
_UUID = re.compile(r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}")
_UUID_HEAD = re.compile(r"[0-9A-Fa-f]{4}-")
#: Where a candidate can start inside a UUID: after its start or one of its dashes.
_UUID_GROUP_STARTS = (0, 9, 14, 19, 24)
#: Runs of up to N digit groups, by N: :func:`_next_pan_start` reads a window at a time.
_RUNS = {n: re.compile(rf"[0-9]+(?:[ +\-][0-9]+){{0,{n - 1}}}") for n in (16, 64, 256)}
_SPLIT_PLAIN = re.compile(r"([ +\-])")
_MORE_GROUPS = re.compile(r"[ +\-][0-9]")
_PERCENT_GROUP = re.compile(r"%2[0BbDd][0-9]")


def _inside_uuid(string: str, start: int) -> bool:
    """Whether offset ``start`` of ``string`` begins a group of a UUID (36 characters)."""
    match = _UUID.match
    return any(k <= start and match(string, start - k) for k in _UUID_GROUP_STARTS)


def _pan_end(string: str, start: int, text: str) -> int:
    """Where the card number of candidate ``text`` at ``start`` ends (0: it is none).

    Accepts the longest group-aligned prefix that is a plausible card number. A greedy
    match over "4111 1111 1111 1111 2024" is 20 digits long; the card is its first four
    groups. Every group but the last must have at least four digits, as in every way
    cards are written (4-4-4-4, 4-6-5, 4-6-4, 4-4-4-4-3), so that phone numbers and
    lists of small numbers ("44 20 7946 0958") are not read as cards (a short last
    group is how 18-19 digit cards are often written: 4-4-4-4-2), and all separators
    must be the same character.
    """
    if text.isdigit():  # the common case: no separators
        if len(text) == 12 and start >= 5 and _UUID_HEAD.fullmatch(string, start - 5, start):
            return 0  # the all-decimal last group of a UUID, not a 12-digit card
        return start + len(text) if card_ok(text) else 0
    if "-" in text and _inside_uuid(string, start):
        return 0  # dashed groups of a UUID ("6006-3258-2836" may pass Luhn)
    pieces = _SPLIT.split(text)  # groups at even indices, separators between them
    end = len(pieces)
    for i in range(0, end, 2):
        if len(pieces[i]) < 4:  # a short group can only be the last one
            end = i + 1
            break
    separators = pieces[1:end:2]
    if len(set(separators)) > 1 and len({sep.upper() for sep in separators}) > 1:
        return 0
    digits = "".join(pieces[0:end:2])
    ends: list[tuple[int, int]] = []  # (digits so far, characters so far) per group
    count = chars = 0
    for i in range(0, end, 2):
        count += len(pieces[i])
        chars += len(pieces[i])
        ends.append((count, chars))
        if i + 1 < end:
            chars += len(pieces[i + 1])
    for count, chars in reversed(ends):
        if 12 <= count <= 19 and card_ok(digits[:count]):
            return start + chars
    return 0


def _next_pan_start(string: str, start: int) -> int:
    """After a rejected candidate at ``start``: the next offset a card may start at.

    Near-miss input (a long run of digit groups, each window failing Luhn) would cost
    one scan step and one candidate per group. This reads the run ``start`` opens a
    window of groups at a time (16, then 64, then 256: a card close by costs little, a
    long run of near misses is read in few steps) and, for each group start after
    ``start``, works out what the card pattern would match there and whether
    :func:`_pan_end` accepts it, from running sums over the groups instead of a regex
    match, a split and a join per group; only windows whose length fits their issuer
    prefix reach Luhn. Inside a group nothing can start (a candidate is not glued to a
    longer run), so group starts are the only offsets the engine would have tried.

    Returns the first group start whose candidate is a card, else the first offset not
    checked.
    """
    if "%" in string[max(0, start - 2) : start]:
        return start + 1  # in "%204111..." a card may start inside the first group
    at, first, size = start, 1, 16
    while True:
        at, more = _walk_groups(string, at, first, size)
        if not more:
            return at
        first, size = 0, min(size * 4, 256)


def _walk_groups(string: str, start: int, first: int, size: int) -> tuple[int, bool]:
    """Check the group starts of up to ``size`` groups from ``start``, from group ``first``.

    Returns ``(offset, more)``: the first group start whose candidate is a card, or the
    first offset not checked, with ``more`` set when that is the next group of a run
    that goes on (read the next window from there).
    """
    run = _RUNS[size].match(string, start)
    if run is None:
        return start + 1, False
    pieces = _SPLIT_PLAIN.split(run.group())
    groups = pieces[0::2]
    count = len(groups)
    if count <= first:
        return start + 1, False
    separators = pieces[1::2]
    run_end = run.end()
    truncated = _MORE_GROUPS.match(string, run_end) is not None
    # The card pattern may run on through a percent-encoded separator: not modelled.
    open_end = not truncated and _PERCENT_GROUP.match(string, run_end) is not None
    after = string[run_end : run_end + 1]
    last_may_end = not (after.isascii() and after.isalnum())
    lengths = list(map(len, groups))
    before = [0, *accumulate(lengths)]  # digits in the groups before group k
    # Per group, the first group from it on shorter than four digits, and the last group
    # reached from it with one kind of separator (the usual run needs neither).
    short = [count] * (count + 1)
    same = [count - 1] * count
    if min(lengths) < 4 or len(set(separators)) > 1:
        for k in range(count - 1, -1, -1):
            short[k] = k if lengths[k] < 4 else short[k + 1]
            if k < count - 2 and separators[k] == separators[k + 1]:
                same[k] = same[k + 1]
            elif k < count - 1:
                same[k] = k + 1
    last = count - 1
    digits = before[count]
    reach = 0  # the furthest group a match from group k spans with 19 digits at most
    offset = start + sum(lengths[:first]) + first
    for k in range(first, count):
        if k > first:
            offset += lengths[k - 1] + 1
        base = before[k]
        if truncated and digits - base <= 19:
            return offset, True  # where the match ends depends on groups not read yet
        if open_end and digits - base < 19:  # exactly, as the engine would
            match = _PAN.match(string, offset)
            if match is not None and _pan_end(string, offset, match.group()):
                return offset, False
            continue
        if digits - base < 12:  # nothing from here to the end of the run is long enough
            return run_end, False
        # The pattern takes as many digits as it can, 12 to 19, and backs off to a
        # group end not followed by a letter or digit.
        if reach < k:
            reach = k
        limit = base + 19
        while reach < last and before[reach + 2] <= limit:
            reach += 1
        end = reach - 1 if reach == last and not last_may_end else reach
        if end < k or not 12 <= before[end + 1] - base <= 19:
            continue
        if end == k:  # one group of 12 to 19 digits: the contiguous case, done exactly
            if _pan_end(string, offset, groups[k]):
                return offset, False
            continue
        if lengths[k] < 4:
            continue  # a short first group is all that is kept: too few digits
        kept = end if end < short[k] else short[k]
        if kept > same[k]:
            continue  # two kinds of separator
        allowed = LENGTHS_BY_PREFIX[int(groups[k][:4])]
        if not allowed:
            continue
        for j in range(kept, k - 1, -1):
            total = before[j + 1] - base
            if 12 <= total <= 19 and total in allowed and luhn_ok("".join(groups[k : j + 1])):
                dashed = "-" in separators[k:end]
                if not (dashed and _inside_uuid(string, offset)):
                    return offset, False
                break
    return run_end, False


def _resolve_pan(candidate: Candidate) -> Hit | None:
    """Accept the card number the candidate starts with; see :func:`_pan_end`."""
    string, start, text = candidate.string, candidate.start, candidate.text
    end = _pan_end(string, start, text)
    if end:
        return Hit(start, end, "card")
    if "%" not in text and not text.isdigit():
        candidate.skip_to = _next_pan_start(string, start)
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
    return match is not None and _pan_end(string, position, match.group()) > 0
