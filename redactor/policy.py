r"""Policy: which kinds are found and how each is shown, as plain data loaded from TOML.

A rule is a kind times a masker, written ``@card:mask``; a bare ``@card`` uses the kind's
default masker and bundles (``@pci``, ``@secrets``, ``@pii``, ``@default``) stand for
several kinds. Per-kind tables refine the rules. Everything is checked at load time and
a bad policy raises :class:`~redactor.errors.PolicyError` naming the file and field:
there is never a silent fall-back to less redaction. Secrets such as the HMAC key come
from environment variables named in the policy, never from the policy file itself.

Example::

    rules = ["@default", "@email:hash"]
    disable = ["national_id.es_dni"]

    [kinds.card]
    keep = "first8_last4"        # first6_last4 (default) | first8_last4 | last4

    [hash]
    key_env = "REDACTOR_HASH_KEY"
    key_id = "2026-11"

    [keys]
    secret = ["x-internal-auth"]  # more sensitive keys, by kind
    allow = ["next_page_token"]   # keys never treated as sensitive

    [allow]
    values = ["4242424242424242"] # exact values left alone

    [[patterns]]
    name = "employee_id"
    kind = "employee_id"
    regex = 'EMP-\d{6}'
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from redactor.errors import PolicyError
from redactor.keys import KeyTerm, key_words
from redactor.validators import aba_routing_ok, card_ok, iban_ok, luhn_ok

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = ["BUILTIN_KINDS", "BUNDLES", "KindRule", "PatternRule", "Policy"]

#: Every built-in kind with its default masker.
BUILTIN_KINDS: Mapping[str, str] = {
    "card": "mask",
    "track": "remove",
    "cvv": "remove",
    "pin": "remove",
    "secret": "remove",
    "password": "remove",
    "iban": "mask",
    "bank_account": "mask",
    "national_id": "mask",
    "email": "mask",
    "phone": "mask",
}

BUNDLES: Mapping[str, tuple[str, ...]] = {
    "pci": ("card", "track", "cvv", "pin"),
    "secrets": ("secret", "password"),
    "pii": ("iban", "bank_account", "national_id", "email", "phone"),
    "default": tuple(BUILTIN_KINDS),
}

#: Sensitive authentication data: PCI DSS forbids keeping it in any form, even hashed.
SAD_KINDS = frozenset({"track", "cvv", "pin"})
#: Kinds whose partial display would reveal part of a credential.
NO_PARTIAL_KINDS = SAD_KINDS | {"secret", "password"}
MASKERS = ("remove", "replace", "mask", "hash")
CARD_KEEP = {"first6_last4": (6, 4), "first8_last4": (8, 4), "last4": (0, 4)}
VALIDATORS = {"luhn": luhn_ok, "card": card_ok, "iban": iban_ok, "aba": aba_routing_ok}


@dataclass(frozen=True, slots=True)
class KindRule:
    """How one kind is treated.

    Attributes:
        enabled: whether the kind is found at all.
        masker: ``remove``, ``replace``, ``mask`` or ``hash``.
        placeholder: text for ``replace`` (default ``[<kind>]``).
        keep: for cards, which digits ``mask`` shows.
    """

    enabled: bool = True
    masker: str = "remove"
    placeholder: str | None = None
    keep: str = "first6_last4"


@dataclass(frozen=True, slots=True)
class PatternRule:
    """A user-supplied pattern (``[[patterns]]``).

    Attributes:
        name: rule name reported in findings.
        kind: kind whose masker applies.
        regex: the pattern, compiled with the ``regex`` module.
        group: group to replace (name or number); None for the whole match.
        validator: ``luhn``, ``card``, ``iban`` or ``aba``; None for none.
    """

    name: str
    kind: str
    regex: str
    group: str | int | None = None
    validator: str | None = None


@dataclass(frozen=True, slots=True)
class Policy:
    """A complete redaction policy; the default instance redacts every built-in kind.

    Attributes:
        kinds: rule per kind (built-in and custom kinds).
        disable: detector names switched off (``national_id.es_dni``).
        keys: extra sensitive key terms.
        allow_keys: keys never treated as sensitive.
        allow_values: exact values never redacted.
        patterns: user-supplied patterns.
        hash_key_env: environment variable holding the HMAC key for ``hash``.
        hash_key_id: public name of that key, written into every token.
        timeout: seconds a user-supplied pattern may run on one string.
        source: where the policy came from, for error messages.
    """

    kinds: Mapping[str, KindRule] = field(
        default_factory=lambda: {k: KindRule(masker=m) for k, m in BUILTIN_KINDS.items()}
    )
    disable: frozenset[str] = frozenset()
    keys: tuple[KeyTerm, ...] = ()
    allow_keys: frozenset[str] = frozenset()
    allow_values: frozenset[str] = frozenset()
    patterns: tuple[PatternRule, ...] = ()
    hash_key_env: str | None = None
    hash_key_id: str = "k1"
    timeout: float = 0.25
    source: str | None = None

    @classmethod
    def default(cls) -> Policy:
        """Return the secure default: every kind on, with its default masker."""
        return cls()

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> Policy:
        """Load and validate a policy file.

        Raises:
            PolicyError: unreadable file, invalid TOML, or any invalid field.
        """
        source = str(path)
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"cannot read policy file ({exc.strerror})", source=source) from exc
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PolicyError(f"invalid TOML: {exc}", source=source) from exc
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str | None = None) -> Policy:
        """Build a policy from parsed TOML (or any mapping of the same shape).

        Raises:
            PolicyError: any invalid field, naming it.
        """
        return _Loader(source).load(data)


class _Loader:
    """Validates the raw mapping field by field so each error names its field."""

    _TOP = frozenset({"rules", "disable", "kinds", "hash", "keys", "allow", "patterns", "timeout"})

    def __init__(self, source: str | None) -> None:
        self.source = source

    def fail(self, field_name: str, message: str) -> PolicyError:
        return PolicyError(message, source=self.source, field=field_name)

    def load(self, data: Mapping[str, Any]) -> Policy:
        unknown = sorted(set(data) - self._TOP)
        if unknown:
            raise self.fail(unknown[0], "unknown setting")
        patterns = self.patterns(data.get("patterns", []))
        custom_kinds = {p.kind for p in patterns} - set(BUILTIN_KINDS)
        rules = self.rules(data.get("rules", ["@default"]), custom_kinds)
        kinds = self.kinds(data.get("kinds", {}), rules, custom_kinds)
        hash_env, hash_id = self.hash(data.get("hash", {}))
        if any(rule.enabled and rule.masker == "hash" for rule in kinds.values()):
            if hash_env is None:
                raise self.fail("hash.key_env", "required when a kind uses the 'hash' masker")
            if len(os.environ.get(hash_env, "")) < 16:
                raise self.fail(
                    "hash.key_env",
                    f"environment variable {hash_env} must hold a key of 16+ characters",
                )
        keys, allow_keys = self.keys(data.get("keys", {}), set(kinds))
        allow_values = self.allow(data.get("allow", {}))
        timeout = data.get("timeout", 0.25)
        if not isinstance(timeout, (int, float)) or not 0 < timeout <= 10:
            raise self.fail("timeout", "must be a number of seconds in (0, 10]")
        from redactor.detectors import builtin_detectors  # local: avoid an import cycle
        from redactor.keys import KeyCatalog

        names = {d.name for d in builtin_detectors(KeyCatalog())}
        disable = data.get("disable", [])
        if not isinstance(disable, list) or not all(isinstance(d, str) for d in disable):
            raise self.fail("disable", "must be a list of detector names")
        for index, name in enumerate(disable):
            if name not in names:
                raise self.fail(f"disable[{index}]", f"no detector named {name!r}")
        return Policy(
            kinds=kinds,
            disable=frozenset(disable),
            keys=keys,
            allow_keys=allow_keys,
            allow_values=allow_values,
            patterns=patterns,
            hash_key_env=hash_env,
            hash_key_id=hash_id,
            timeout=float(timeout),
            source=self.source,
        )

    def rules(self, raw: Any, custom: set[str]) -> dict[str, str]:
        if not isinstance(raw, list) or not all(isinstance(r, str) for r in raw):
            raise self.fail("rules", "must be a list of strings like '@card:mask'")
        enabled: dict[str, str] = {}
        for index, rule in enumerate(raw):
            name, _, masker = rule.removeprefix("@").partition(":")
            if not rule.startswith("@"):
                raise self.fail(f"rules[{index}]", f"{rule!r} must start with '@'")
            if name in BUNDLES:
                if masker:
                    raise self.fail(f"rules[{index}]", "a bundle takes no masker")
                for kind in BUNDLES[name]:
                    enabled.setdefault(kind, BUILTIN_KINDS[kind])
                continue
            if name not in BUILTIN_KINDS and name not in custom:
                raise self.fail(f"rules[{index}]", f"unknown kind or bundle {name!r}")
            enabled[name] = masker or BUILTIN_KINDS.get(name, "remove")
        for kind in custom:
            enabled.setdefault(kind, "remove")
        return enabled

    def kinds(self, raw: Any, rules: dict[str, str], custom: set[str]) -> dict[str, KindRule]:
        if not isinstance(raw, dict):
            raise self.fail("kinds", "must be a table of kinds")
        result: dict[str, KindRule] = {}
        for kind in (*BUILTIN_KINDS, *sorted(custom)):
            table = raw.get(kind, {})
            where = f"kinds.{kind}"
            if not isinstance(table, dict):
                raise self.fail(where, "must be a table")
            extra = sorted(set(table) - {"enabled", "masker", "placeholder", "keep"})
            if extra:
                raise self.fail(f"{where}.{extra[0]}", "unknown setting")
            enabled = table.get("enabled", kind in rules)
            masker = table.get("masker", rules.get(kind, BUILTIN_KINDS.get(kind, "remove")))
            placeholder = table.get("placeholder")
            keep = table.get("keep", "first6_last4")
            if not isinstance(enabled, bool):
                raise self.fail(f"{where}.enabled", "must be true or false")
            if masker not in MASKERS:
                raise self.fail(f"{where}.masker", f"must be one of {', '.join(MASKERS)}")
            if masker == "mask" and kind in NO_PARTIAL_KINDS:
                raise self.fail(
                    f"{where}.masker",
                    f"'mask' would reveal part of a {kind}; use remove or replace",
                )
            if masker == "hash" and kind in SAD_KINDS:
                raise self.fail(
                    f"{where}.masker",
                    "sensitive authentication data may not be kept even hashed (PCI DSS 3.3)",
                )
            if placeholder is not None and not (
                isinstance(placeholder, str) and 0 < len(placeholder) <= 64
            ):
                raise self.fail(f"{where}.placeholder", "must be a string of 1-64 characters")
            if keep not in CARD_KEEP:
                raise self.fail(f"{where}.keep", f"must be one of {', '.join(CARD_KEEP)}")
            result[kind] = KindRule(enabled, masker, placeholder, keep)
        unknown = sorted(set(raw) - set(result))
        if unknown:
            raise self.fail(f"kinds.{unknown[0]}", "unknown kind")
        return result

    def hash(self, raw: Any) -> tuple[str | None, str]:
        if not isinstance(raw, dict):
            raise self.fail("hash", "must be a table")
        env = raw.get("key_env")
        key_id = raw.get("key_id", "k1")
        if env is not None and not (isinstance(env, str) and env.isidentifier()):
            raise self.fail("hash.key_env", "must be an environment variable name")
        if "key" in raw:
            raise self.fail("hash.key", "keys never go in policy files; use key_env")
        if not (isinstance(key_id, str) and key_id.replace("-", "").replace("_", "").isalnum()):
            raise self.fail("hash.key_id", "must be a short alphanumeric name")
        return env, key_id

    def keys(self, raw: Any, kinds: set[str]) -> tuple[tuple[KeyTerm, ...], frozenset[str]]:
        if not isinstance(raw, dict):
            raise self.fail("keys", "must be a table of kind = [key names]")
        terms: list[KeyTerm] = []
        allow: frozenset[str] = frozenset()
        for kind, names in raw.items():
            where = f"keys.{kind}"
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                raise self.fail(where, "must be a list of key names")
            if kind == "allow":
                allow = frozenset("".join(key_words(n)) for n in names)
                continue
            if kind not in kinds:
                raise self.fail(where, "unknown kind")
            for index, name in enumerate(names):
                words = tuple(key_words(name))
                if not words:
                    raise self.fail(f"{where}[{index}]", "a key needs letters or digits")
                terms.append(KeyTerm(words, kind, suffix=False))
        return tuple(terms), allow

    def allow(self, raw: Any) -> frozenset[str]:
        if not isinstance(raw, dict) or set(raw) - {"values"}:
            raise self.fail("allow", "must be a table with 'values'")
        values = raw.get("values", [])
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise self.fail("allow.values", "must be a list of strings")
        return frozenset(values)

    def patterns(self, raw: Any) -> tuple[PatternRule, ...]:
        if not isinstance(raw, list):
            raise self.fail("patterns", "must be an array of tables ([[patterns]])")
        rules: list[PatternRule] = []
        for index, table in enumerate(raw):
            where = f"patterns[{index}]"
            if not isinstance(table, dict):
                raise self.fail(where, "must be a table")
            extra = sorted(set(table) - {"name", "kind", "regex", "group", "validator"})
            if extra:
                raise self.fail(f"{where}.{extra[0]}", "unknown setting")
            name, kind, source = table.get("name"), table.get("kind"), table.get("regex")
            for key, value in (("name", name), ("kind", kind), ("regex", source)):
                if not isinstance(value, str) or not value:
                    raise self.fail(f"{where}.{key}", "required, a non-empty string")
            assert isinstance(kind, str) and isinstance(source, str) and isinstance(name, str)
            if not kind.isidentifier():
                raise self.fail(f"{where}.kind", "must be an identifier like employee_id")
            try:
                compiled = regex.compile(source)
            except regex.error as exc:
                raise self.fail(f"{where}.regex", f"does not compile: {exc}") from exc
            group = table.get("group")
            if (
                group is not None
                and group not in compiled.groupindex
                and not (isinstance(group, int) and 0 <= group <= compiled.groups)
            ):
                raise self.fail(f"{where}.group", "no such group in the pattern")
            validator = table.get("validator")
            if validator is not None and validator not in VALIDATORS:
                raise self.fail(f"{where}.validator", f"must be one of {', '.join(VALIDATORS)}")
            rules.append(PatternRule(name, kind, source, group, validator))
        return tuple(rules)
