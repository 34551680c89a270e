"""National identity numbers with a recognisable shape: US SSN, Spanish DNI/NIF and NIE.

Only the dashed SSN form is found by pattern (nine bare digits are everywhere in logs);
bare numbers are found by key (``ssn``, ``tax_id``, ...). Passport and other document
numbers have no shape worth matching and are found by key only.
"""

from __future__ import annotations

from redactor.detectors.base import Candidate, Detector, Hit, Trigger
from redactor.validators import nie_ok, nif_ok, ssn_ok

__all__ = ["IDENTITY_DETECTORS"]


def _resolve_ssn(candidate: Candidate) -> Hit | None:
    ok = ssn_ok(candidate.text.replace("-", ""))
    return Hit(candidate.start, candidate.end, "national_id") if ok else None


def _resolve_spanish_id(candidate: Candidate) -> Hit | None:
    compact = candidate.text.replace("-", "")
    ok = nie_ok(compact) if compact[0] in "XYZ" else nif_ok(compact)
    return Hit(candidate.start, candidate.end, "national_id") if ok else None


IDENTITY_DETECTORS: tuple[Detector, ...] = (
    Detector(
        name="national_id.ssn",
        kind="national_id",
        pattern=r"""
        [0-9] (?: (?<![0-9A-Za-z\-].) | (?<=\\[nrtfv].) )   # a \n escape is a boundary
        [0-9]{2} - [0-9]{2} - [0-9]{4}
        (?![0-9A-Za-z\-])
        """,
        groups=(),
        resolve=_resolve_ssn,
        trigger=Trigger(shapes=(("0000", "(?<=000-00-0000)"),)),  # ends in four digits
    ),
    Detector(
        name="national_id.es_dni",
        kind="national_id",
        pattern=r"""
        [0-9XYZ] (?: (?<![0-9A-Za-z].) | (?<=\\[nrtfv].) )
        (?: (?<=[0-9]) [0-9]{7} -? | (?<=[XYZ]) -? [0-9]{7} -? ) [A-HJ-NP-TV-Z]
        (?![0-9A-Za-z])
        """,
        groups=(),
        resolve=_resolve_spanish_id,
        # DNI (eight digits, letter) and NIE (letter, seven digits, letter) both hold
        # seven digits, an optional dash and a capital letter.
        trigger=Trigger(shapes=(("0000", "000-?A"),)),
    ),
)
