"""Contact details: email addresses and international (E.164) phone numbers.

Emails keep their domain (which service, which tenant) and lose the local part. Phone
numbers are only found by pattern when written in international form with a leading
``+`` and 8-15 digits; national formats are too close to other numbers and are found by
key (``phone``, ``mobile``, ``msisdn``).
"""

from __future__ import annotations

import re

from redactor.detectors.base import Candidate, Detector, Hit, Trigger
from redactor.detectors.cards import card_starts_at

__all__ = ["CONTACT_DETECTORS"]


_LOCAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-")


def _resolve_email(candidate: Candidate) -> Hit | None:
    """Extend the ``@domain`` match leftwards over the local part and check the TLD.

    Matching from ``@`` rather than from the local part keeps the scan from trying an
    email at every word start; the local part is at most 64 characters (RFC 5321).
    """
    string = candidate.string
    domain = candidate.text.removeprefix("%40")
    tld = domain.rpartition(".")[2]
    if not (2 <= len(tld) <= 24 and tld.isalpha()):
        return None
    start = candidate.start
    limit = max(candidate.floor, start - 64)
    while start > limit and string[start - 1] in _LOCAL:
        start -= 1
    if start == candidate.start or string[start] == ".":
        return None
    return Hit(start, candidate.end, "email")


def _resolve_phone(candidate: Candidate) -> Hit | None:
    """Stop the phone number before a card number that follows it.

    The pattern is greedy up to 15 digits, so in ``+14155552671 4111 1111 1111 1111`` it
    would take the card's first group, and the phone mask (which shows the last four)
    would then reveal that group next to the rest of the card. A card found at any
    group start inside the match ends the phone number there; fewer than eight digits
    left is no phone number.
    """
    string, start, end = candidate.string, candidate.start, candidate.end
    for group in _GROUP_START.finditer(string, start + 2, end):
        if card_starts_at(string, group.start()):
            end = group.start()
            while end > start and not string[end - 1].isdigit():
                end -= 1
            break
    if sum(c.isdigit() for c in string[start:end]) < 8:
        return None
    return Hit(start, end, "phone")


_GROUP_START = re.compile(r"(?<=[ \-.()])[0-9]")


CONTACT_DETECTORS: tuple[Detector, ...] = (
    Detector(
        name="email.address",
        kind="email",
        pattern=r"""
        [@%] (?: (?<=@) | (?<=%) 40 )                 # "@", or "%40" in URLs
        [A-Za-z0-9\-]{1,63} (?: \. [A-Za-z0-9\-]{1,63} ){1,8}
        """,
        groups=(),
        resolve=_resolve_email,
        trigger=Trigger(anchors=("@", "%40")),
    ),
    Detector(
        name="phone.e164",
        kind="phone",
        pattern=r"""
        \+ (?<![0-9A-Za-z+].) [1-9]
        (?: (?: \)? [\ \-.]? \(? )? [0-9] ){7,14}   # one separator, maybe with parens
        (?![0-9A-Za-z@_])                           # not the start of another token
        """,
        groups=(),
        resolve=_resolve_phone,
        trigger=Trigger(shapes=(("+0", r"(?:\)?[ .\-]?\(?0){7}"),)),
    ),
)
