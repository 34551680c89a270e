"""The hand-written filter a team would write instead of adopting the redactor.

Every ratio the benchmark prints is "redactor lines/s divided by this filter's lines/s, measured
in the same process on the same corpus". A ratio is only meaningful if the denominator is what
users would really compare against, so this file is deliberately plain: ten ``re`` patterns
from a typical "mask PCI stuff in our logs" ticket, applied one after another with ``re.sub``.
It is not tuned (no combined alternation, no cheap pre-checks) and it has the blind spots such
filters usually have (no GitHub tokens, no phone numbers, ``new_password`` slips past ``\\b``).
Improving it would make the redactor look slower than the alternative it actually replaces, so
please keep it naive; add a separate baseline if a tuned comparison is ever wanted.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from benchmarks.corpus import luhn_valid

Replacement = str | Callable[[re.Match[str]], str]

REDACTED = "[REDACTED]"


def _mask_card(match: re.Match[str]) -> str:
    """Luhn-gate card candidates: without it every order id and epoch-ms would be masked."""
    raw = match.group(0)
    digits = re.sub(r"[ -]", "", raw)
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return raw
    return f"{digits[:6]}{'*' * (len(digits) - 10)}{digits[-4:]}"


def _mask_email(match: re.Match[str]) -> str:
    return f"***@{match.group(2)}"


def _mask_ssn(match: re.Match[str]) -> str:
    return f"***-**-{match.group(0)[-4:]}"


def _mask_iban(match: re.Match[str]) -> str:
    compact = match.group(0).replace(" ", "")
    return f"{compact[:2]}{'*' * (len(compact) - 6)}{compact[-4:]}"


class HandWrittenFilter:
    """Sequential ``re.sub`` passes, one per secret type; the benchmark's denominator."""

    def __init__(self) -> None:
        # Order matters the way it does in real filters: JWTs before Bearer so the header rule
        # does not half-mask a token, cards before SSN/IBAN since they are the PCI priority.
        self._rules: list[tuple[re.Pattern[str], Replacement]] = [
            (re.compile(r"\b(?:\d[ -]?){12,18}\d\b"), _mask_card),
            (
                re.compile(r"(?i)\b(cvv2?|cvc2?|csc)([\"']?\s*[:=]\s*[\"']?)\d{3,4}\b"),
                rf"\1\2{REDACTED}",
            ),
            (
                re.compile(r"(?i)\b(password|passwd|pwd)([\"']?\s*[:=]\s*[\"']?)[^\s\"'&,;}]+"),
                rf"\1\2{REDACTED}",
            ),
            (re.compile(r"\b([sr]k_live_)[0-9A-Za-z]{10,}"), rf"\1{REDACTED}"),
            (re.compile(r"\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]+"), REDACTED),
            (re.compile(r"(?i)\b(Bearer\s+)[A-Za-z0-9\-._~+/]+=*"), rf"\1{REDACTED}"),
            (re.compile(r"\b([A-Za-z0-9._%+-]+)@([A-Za-z0-9.-]+\.[A-Za-z]{2,})\b"), _mask_email),
            (re.compile(r"\b\d{3}-\d{2}-\d{4}\b"), _mask_ssn),
            (
                re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
                _mask_iban,
            ),
            (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), REDACTED),
        ]

    def redact(self, line: str) -> str:
        """Run every rule over the whole line, as the typical filter does (no early exit)."""
        for pattern, replacement in self._rules:
            line = pattern.sub(replacement, line)
        return line
