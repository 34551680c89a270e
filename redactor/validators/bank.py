"""Bank identifiers: IBAN (ISO 13616, ISO 7064 mod 97-10) and ABA routing numbers."""

from __future__ import annotations

__all__ = ["IBAN_LENGTHS", "aba_routing_ok", "iban_ok"]

# Total IBAN length per country, from the SWIFT IBAN registry. A known length rejects most
# random "two letters, two digits, more characters" tokens before the checksum runs.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
    "BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
    "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
    "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
    "GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
    "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
    "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
    "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
    "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
    "YE": 30,
}  # fmt: skip


def iban_ok(iban: str) -> bool:
    """Return whether ``iban`` (no spaces, upper case) is a valid IBAN.

    Args:
        iban: the compact IBAN, e.g. ``DE89370400440532013000``.

    Returns:
        True when the country is known, the length matches the registry and the
        mod-97 checksum equals 1.
    """
    if not iban.isascii() or not iban.isalnum():
        return False
    expected = IBAN_LENGTHS.get(iban[:2])
    if expected is None or len(iban) != expected or not iban[2:4].isdigit():
        return False
    if not iban.isupper():
        return False  # lower-case letters
    # ISO 7064 mod 97-10: letters become 10..35, and the number read as one integer.
    return int((iban[4:] + iban[:4]).translate(_LETTER_VALUES)) % 97 == 1


_LETTER_VALUES = {
    ord(letter): str(value) for value, letter in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZ", start=10)
}


_ABA_WEIGHTS = (3, 7, 1, 3, 7, 1, 3, 7, 1)


def aba_routing_ok(number: str) -> bool:
    """Return whether ``number`` is a checksum-valid nine-digit ABA routing number.

    Args:
        number: exactly nine ASCII digits.

    Returns:
        True when the weighted 3-7-1 sum is a multiple of ten and the first two digits
        fall in the ranges the Federal Reserve assigns (00-12, 21-32, 61-72, 80).
    """
    if len(number) != 9 or not number.isascii() or not number.isdigit():
        return False
    head = int(number[:2])
    if not (head <= 12 or 21 <= head <= 32 or 61 <= head <= 72 or head == 80):
        return False
    total = sum(weight * (ord(c) - 48) for weight, c in zip(_ABA_WEIGHTS, number, strict=True))
    return total % 10 == 0
