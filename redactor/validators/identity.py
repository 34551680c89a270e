"""National identifiers: US SSN structure and the Spanish DNI/NIF and NIE check letter."""

from __future__ import annotations

__all__ = ["nie_ok", "nif_ok", "ssn_ok"]

_DNI_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def ssn_ok(digits: str) -> bool:
    """Return whether nine digits could be an issued US Social Security number.

    Args:
        digits: the nine digits without dashes.

    Returns:
        False for the areas the SSA never issues (000, 666, 900-999), group 00 and
        serial 0000; True otherwise.
    """
    if len(digits) != 9 or not digits.isascii() or not digits.isdigit():
        return False
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def nif_ok(value: str) -> bool:
    """Return whether ``value`` is a Spanish DNI/NIF: eight digits and the right letter.

    Args:
        value: eight digits followed by the check letter, upper case, no separator.
    """
    if len(value) != 9 or not value[:8].isascii() or not value[:8].isdigit():
        return False
    return _DNI_LETTERS[int(value[:8]) % 23] == value[8]


def nie_ok(value: str) -> bool:
    """Return whether ``value`` is a Spanish NIE: X, Y or Z, seven digits, check letter.

    Args:
        value: nine characters, upper case, no separators.
    """
    if len(value) != 9 or value[0] not in "XYZ":
        return False
    return nif_ok(str("XYZ".index(value[0])) + value[1:])
