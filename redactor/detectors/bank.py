"""Bank identifiers: IBANs anywhere in text, ABA routing numbers next to their label.

An IBAN candidate is two capitals, two digits and 10-30 more letters or digits,
optionally in space-separated groups. The country's registered length decides exactly
how many characters belong to it, so trailing words are never swallowed, and the mod-97
checksum confirms it. A bare nine-digit number passes the ABA checksum one time in ten,
so routing numbers are only found after a label such as "routing" or "ABA".
"""

from __future__ import annotations

import re
from itertools import accumulate

from redactor.detectors.base import Candidate, Detector, Hit, Trigger
from redactor.validators import aba_routing_ok, iban_ok
from redactor.validators.bank import IBAN_LENGTHS

__all__ = ["BANK_DETECTORS"]

#: How many groups :func:`_next_iban_start` reads at once.
_WINDOW = 64
#: Up to that many more groups of capitals and digits, single-spaced, after the first.
_RUN = re.compile(rf"[A-Z0-9]+(?: [A-Z0-9]+){{0,{_WINDOW}}}")
#: A run that goes on past the groups read.
_GROUP_AFTER = re.compile(r" [A-Z0-9]")


def _iban_end(string: str, start: int, text: str) -> int:
    """Where the IBAN of candidate ``text`` at ``start`` ends (0: it is none)."""
    length = IBAN_LENGTHS.get(text[:2])
    if length is None:
        return 0
    compact = text.replace(" ", "")
    if len(compact) < length:
        return 0
    # The offset just past the length-th character that is not a space: the smallest
    # end with end = length + (spaces before end), reached by iterating from below.
    end = length
    while (widened := length + text.count(" ", 0, end)) != end:
        end = widened
    following = string[start + end : start + end + 1]
    if following.isalnum() or not iban_ok(compact[:length]):
        return 0
    return start + end


def _next_iban_start(string: str, start: int) -> int:
    """After a rejected candidate at ``start``: the next offset an IBAN may start at.

    Reads the space-separated groups of capitals and digits that follow (at most
    :data:`_WINDOW`) in one match and tries only group starts whose first two letters
    name a country: near-miss input ("DE00 AB12 DE00 ...") would otherwise cost a scan
    step per group. Inside a group nothing can start (an IBAN is not glued to a longer
    word). An IBAN must end where a group ends (the character after it may not be a
    letter or digit), so the running length of the groups decides most starts without
    a regex match; only starts whose country's length lands on a group end reach the
    checksum, and a start whose IBAN would reach past the groups read is checked by
    the resolver's own match.
    """
    run = _RUN.match(string, start)
    if run is None:
        return start + 1
    groups = run.group().split(" ")
    count = len(groups)
    before = [0, *accumulate(map(len, groups))]  # characters in the groups before group k
    ends = {total: k for k, total in enumerate(before)}
    run_end = run.end()
    truncated = _GROUP_AFTER.match(string, run_end) is not None
    last_may_end = not string[run_end : run_end + 1].isalnum()
    offset = start
    for k in range(1, count):
        offset += len(groups[k - 1]) + 1
        group = groups[k]
        length = IBAN_LENGTHS.get(group[:2])
        if length is None or len(group) < 4 or not group[2:4].isdigit():
            continue
        target = before[k] + length
        if target > before[count]:
            if truncated:  # the IBAN would end in groups not read: check it exactly
                match = _IBAN.match(string, offset)
                if match is not None and _iban_end(string, offset, match.group()):
                    return offset
            continue
        j = ends.get(target)
        if j is None or (j == count and not last_may_end):
            continue  # ends inside a group, or glued to what follows the run
        if iban_ok("".join(groups[k:j])):
            return offset
    return offset + 1


def _resolve_iban(candidate: Candidate) -> Hit | None:
    end = _iban_end(candidate.string, candidate.start, candidate.text)
    if end:
        return Hit(candidate.start, end, "iban")
    candidate.skip_to = _next_iban_start(candidate.string, candidate.start)
    return None


def _resolve_aba(candidate: Candidate) -> Hit | None:
    ok = aba_routing_ok(candidate.text)
    return Hit(candidate.start, candidate.end, "bank_account") if ok else None


BANK_DETECTORS: tuple[Detector, ...] = (
    Detector(
        name="iban.iban",
        kind="iban",
        pattern=r"""
        [A-Z] (?: (?<![A-Za-z0-9].) | (?<=\\[nrtfv].) ) [A-Z] [0-9]{2} (?: \ ? [A-Z0-9] ){10,30}
        """,
        groups=(),
        resolve=_resolve_iban,
        # Country code, check digits, and four more capitals or digits: an IBAN has at
        # least ten, but a trigger of ten (each maybe after a space) makes the Hyperscan
        # database four times larger and twice as slow to compile, and four already
        # rule out the usual near-misses (SHA256, AES256, ISO8601).
        trigger=Trigger(shapes=(("AA00", "(?: ?[0A]){4}"),)),
    ),
    Detector(
        name="bank_account.aba_routing",
        kind="bank_account",
        pattern=r"""
        [RrAa] (?<![A-Za-z0-9].) (?: (?<=[Rr]) (?i: outing | tn ) | (?<=[Aa]) (?i: ba ) )
        (?: \ ? (?i: number | no\.? | num | \# ) )?
        [\ :=\#"']{1,5}
        (?P<v> [0-9]{9} ) (?![0-9A-Za-z])
        """,
        resolve=_resolve_aba,
        trigger=Trigger(words=("routing", "aba", "rtn")),
    ),
)

_IBAN = BANK_DETECTORS[0].compile()
