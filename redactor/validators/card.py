"""Card number checks: Luhn and plausible issuer prefixes by length.

Luhn alone lets through about one random digit string in ten, and logs are full of
13-19 digit numbers (epoch milliseconds, order and retrieval references). Requiring a
known issuer prefix for the given length removes most of those without missing a real
card: every network listed below publishes its ranges and lengths.
"""

from __future__ import annotations

__all__ = ["card_ok", "luhn_ok"]

#: Every second digit from the right is doubled, and a two-digit result counts as the
#: sum of its digits: 5 -> 10 -> 1. As a translation table this runs at C speed.
_DOUBLED = str.maketrans("0123456789", "0246813579")


def luhn_ok(digits: str) -> bool:
    """Return whether ``digits`` (ASCII digits only) passes the Luhn mod-10 check.

    Args:
        digits: the number, without separators.

    Returns:
        True when the checksum holds; False for empty or non-digit input.
    """
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    # From the last digit leftwards every other one is kept, the others doubled; summed
    # as ASCII codes (each digit counts 48 too much), which sum() adds at C speed.
    total = sum((digits[::-2] + digits[-2::-2].translate(_DOUBLED)).encode())
    return (total - 48 * len(digits)) % 10 == 0


# (prefix low, prefix high, allowed lengths). Prefixes are compared on as many leading
# digits as the bounds have (four at most). Ranges from the networks' published IIN
# tables; Discover's 622126-622925 lies inside UnionPay's 62 with the same lengths.
_IIN_RANGES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),  # Visa (13 is legacy)
    (51, 55, frozenset({16})),  # Mastercard
    (2221, 2720, frozenset({16})),  # Mastercard 2-series
    (34, 34, frozenset({15})),  # American Express
    (37, 37, frozenset({15})),
    (300, 305, frozenset({14, 16, 17, 18, 19})),  # Diners Club
    (36, 36, frozenset({14, 15, 16, 17, 18, 19})),
    (38, 39, frozenset({14, 15, 16, 17, 18, 19})),
    (3095, 3095, frozenset({14, 16, 17, 18, 19})),
    (6011, 6011, frozenset({16, 17, 18, 19})),  # Discover
    (644, 649, frozenset({16, 17, 18, 19})),
    (65, 65, frozenset({16, 17, 18, 19})),
    (3528, 3589, frozenset({16, 17, 18, 19})),  # JCB
    (62, 62, frozenset({16, 17, 18, 19})),  # UnionPay
    (81, 81, frozenset({16, 17, 18, 19})),
    (50, 50, frozenset({12, 13, 14, 15, 16, 17, 18, 19})),  # Maestro
    (56, 58, frozenset({12, 13, 14, 15, 16, 17, 18, 19})),
    (6, 6, frozenset({12, 13, 14, 15, 16, 17, 18, 19})),  # Maestro 6x, RuPay, others
    (2200, 2204, frozenset({16, 17, 18, 19})),  # Mir
    (1, 1, frozenset({15})),  # UATP
)


def _lengths_by_prefix() -> tuple[frozenset[int], ...]:
    """Expand the ranges into, per four-digit prefix (0000-9999), the lengths allowed.

    Every range is at most four digits wide, so ``int(digits[:4])`` indexes the table
    exactly, and one lookup replaces a loop over the ranges on the hot path.
    """
    table: list[frozenset[int]] = [frozenset()] * 10_000
    for low, high, lengths in _IIN_RANGES:
        scale = 10 ** (4 - len(str(low)))
        for prefix in range(low * scale, (high + 1) * scale):
            table[prefix] = table[prefix] | lengths
    return tuple(table)


#: Per four-digit prefix, the card lengths its issuer range allows. Besides checking a
#: whole number, it rules out most windows of a run of digit groups without building
#: their digits.
LENGTHS_BY_PREFIX = _lengths_by_prefix()


def _iin_ok(digits: str) -> bool:
    return len(digits) in LENGTHS_BY_PREFIX[int(digits[:4])]


def card_ok(digits: str) -> bool:
    """Return whether ``digits`` looks like a real card number.

    Args:
        digits: 12 to 19 ASCII digits, separators already removed.

    Returns:
        True for a Luhn-valid number with an issuer prefix that fits its length. A
        13-digit number starting with 1 (epoch milliseconds until 2033) is never a card.
    """
    if not (12 <= len(digits) <= 19 and digits.isascii() and digits.isdigit()):
        return False
    return _iin_ok(digits) and luhn_ok(digits)
