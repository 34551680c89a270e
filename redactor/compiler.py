"""Turns a :class:`~redactor.policy.Policy` into a ready :class:`~redactor.engine.Scanner`.

All setup cost (regex compilation, key tries, masker construction, reading the HMAC key
from the environment) happens here, once per policy, never per record.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import regex

from redactor.backends import make_prefilter
from redactor.detectors import builtin_detectors
from redactor.detectors.base import Detector
from redactor.engine import CustomPattern, Scanner
from redactor.errors import PolicyError
from redactor.keys import KeyCatalog
from redactor.maskers import (
    EmailMask,
    IbanMask,
    KeyedHash,
    LastFour,
    Masker,
    PanMask,
    Placeholder,
)
from redactor.policy import CARD_KEEP, VALIDATORS, KindRule, Policy

__all__ = ["Compiled", "compile_backend", "compile_policy"]


@dataclass(frozen=True, slots=True)
class Compiled:
    """A compiled policy: the text scanner and the key catalogue for structured events."""

    scanner: Scanner
    catalog: KeyCatalog


def _partial(kind: str, rule: KindRule) -> Masker:
    if kind == "card":
        first, last = CARD_KEEP[rule.keep]
        return PanMask(first, last)
    if kind == "iban":
        return IbanMask()
    if kind == "email":
        return EmailMask()
    return LastFour()


def _masker(kind: str, rule: KindRule, policy: Policy) -> Masker:
    if rule.masker == "remove":
        return Placeholder()
    if rule.masker == "replace":
        return Placeholder(rule.placeholder or f"[{kind}]")
    if rule.masker == "mask":
        return _partial(kind, rule)
    env = policy.hash_key_env or ""
    key = os.environ.get(env, "")
    if len(key) < 16:
        raise PolicyError(
            f"environment variable {env or '?'} must hold the HMAC key",
            source=policy.source,
            field="hash.key_env",
        )
    numeric = kind in ("card", "iban", "phone", "bank_account", "national_id")
    return KeyedHash(kind, key.encode("utf-8"), policy.hash_key_id, normalize=numeric)


def _detectors(policy: Policy, maskers: dict[str, Masker]) -> tuple[list[Detector], KeyCatalog]:
    catalog = KeyCatalog().with_terms(policy.keys, policy.allow_keys)
    detectors = [
        d
        for d in builtin_detectors(catalog)
        if d.name not in policy.disable and (d.kind == "key" or d.kind in maskers)
    ]
    return detectors, catalog


def _maskers(policy: Policy) -> dict[str, Masker]:
    return {
        kind: _masker(kind, rule, policy) for kind, rule in policy.kinds.items() if rule.enabled
    }


def compile_backend(policy: Policy, backend: str = "auto") -> None:
    """Compile only the pre-filter backend of ``policy`` (the slow part), and cache it.

    For a process that hands the compiled backend to workers (see
    :func:`redactor.backends.export_compiled`) before it needs a redactor itself: the
    workers wait for this part only.

    Raises:
        PolicyError: as :func:`compile_policy`.
    """
    detectors, catalog = _detectors(policy, _maskers(policy))
    if detectors:
        make_prefilter(detectors, catalog, backend)


def compile_policy(policy: Policy, backend: str = "auto") -> Compiled:
    """Compile ``policy`` once into an immutable scanner and key catalogue.

    Args:
        policy: the policy.
        backend: the pre-filter backend (``auto``, ``python``, ``hyperscan``).

    Raises:
        PolicyError: the HMAC key named by the policy is missing from the environment.
    """
    maskers = _maskers(policy)
    detectors, catalog = _detectors(policy, maskers)
    custom = [
        CustomPattern(
            name=rule.name,
            kind=rule.kind,
            pattern=regex.compile(rule.regex),
            group=rule.group,
            validator=VALIDATORS[rule.validator] if rule.validator else None,
        )
        for rule in policy.patterns
    ]
    scanner = Scanner(
        detectors, maskers, catalog, policy.allow_values, custom, policy.timeout, backend
    )
    return Compiled(scanner, catalog)
