"""Bank identifiers: IBANs anywhere in text, ABA routing numbers next to their label.

An IBAN candidate is two capitals, two digits and 10-30 more letters or digits,
optionally in space-separated groups. The country's registered length decides exactly
how many characters belong to it, so trailing words are never swallowed, and the mod-97
checksum confirms it. A bare nine-digit number passes the ABA checksum one time in ten,
so routing numbers are only found after a label such as "routing" or "ABA".
"""

from __future__ import annotations

from redactor.detectors.base import Candidate, Detector, Hit, Trigger
from redactor.validators import aba_routing_ok, iban_ok
from redactor.validators.bank import IBAN_LENGTHS

__all__ = ["BANK_DETECTORS"]


def _resolve_iban(candidate: Candidate) -> Hit | None:
    text = candidate.text
    length = IBAN_LENGTHS.get(text[:2])
    if length is None:
        return None
    taken = 0
    end = 0
    for end, char in enumerate(text, start=1):  # noqa: B007 - end is used after the loop
        if char != " ":
            taken += 1
            if taken == length:
                break
    if taken != length:
        return None
    following = candidate.string[candidate.start + end : candidate.start + end + 1]
    if following.isalnum() or not iban_ok(text[:end].replace(" ", "")):
        return None
    return Hit(candidate.start, candidate.start + end, "iban")


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
