"""Structural redaction of events: dicts, lists, tuples, nested, and JSON held in strings.

A value under a sensitive key is masked whole with that key's kind, whatever its type
(an int card number becomes a masked string; a dict under ``credentials`` becomes a
placeholder). Every other string goes through the text scanner; strings that hold a JSON
object or array are parsed, redacted structurally and re-serialized in the same style.
Ints are scanned too, since card numbers travel as JSON numbers. ``None`` and booleans
carry no secret and are kept. The input is never mutated.

Nesting deeper than :data:`MAX_DEPTH` is serialized and redacted as text rather than
recursed into, so hostile input cannot exhaust the stack.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from redactor.engine import FAILED, Scanner
from redactor.finding import Finding
from redactor.keys import KeyCatalog
from redactor.maskers import REDACTED

__all__ = ["MAX_DEPTH", "StructuredRedactor", "dumps_like", "looks_like_json"]

MAX_DEPTH = 64
# The separator after the first key, or after the first item of an array.
_STYLE = re.compile(
    r'\s*(?:\{\s*"(?:[^"\\]|\\.)*"\s*:|\[\s*(?:"(?:[^"\\]|\\.)*"|[^,\[\]{}"]*)\s*,)(\s?)'
)


def looks_like_json(text: str) -> bool:
    """Return whether ``text`` is shaped like a JSON object or array (cheap, no parse)."""
    stripped = text.strip()
    return len(stripped) >= 2 and (
        (stripped[0] == "{" and stripped[-1] == "}") or (stripped[0] == "[" and stripped[-1] == "]")
    )


def dumps_like(value: Any, original: str) -> str:
    """Serialize ``value`` in the style of ``original``: compact or spaced, ASCII or not.

    The style is read from the separator after the first key (or the first array
    item), not from anywhere in the text, since string values may hold ``": "`` too.
    """
    style = _STYLE.match(original)
    compact = style is not None and style.group(1) == ""
    return json.dumps(
        value,
        ensure_ascii=original.isascii(),
        separators=(",", ":") if compact else (", ", ": "),
    )


class StructuredRedactor:
    """Walks events with a compiled scanner and key catalogue.

    Args:
        scanner: the compiled text scanner.
        catalog: the sensitive key names.
        record: called with the findings of every value that was changed.
    """

    def __init__(
        self,
        scanner: Scanner,
        catalog: KeyCatalog,
        record: Callable[[list[Finding]], None],
    ) -> None:
        self._scanner = scanner
        self._catalog = catalog
        self._record = record

    def text(self, value: str, subset: frozenset[int] | None = None) -> str:
        """Redact one string as text, or structurally if it holds JSON.

        Args:
            value: the string.
            subset: the detectors that can match, when known from a pre-filter pass
                over an enclosing text; None asks the pre-filter for this string.
        """
        if looks_like_json(value):
            try:
                redacted = self.json_text(value, subset)
            except (ValueError, RecursionError):
                redacted = None  # not serializable back: redact the text itself
            if redacted is not None:
                return redacted
        return self.plain(value, subset)

    def plain(self, value: str, subset: frozenset[int] | None = None) -> str:
        """Redact one string with the text rules only; fails closed, counts findings."""
        scanner = self._scanner
        try:
            if subset is None:
                subset = scanner.subset(value)
            if not scanner.has_custom and (not subset or len(value) < scanner.min_width(subset)):
                # The common case, decided by one pre-filter call; or a short value
                # of a structure flagged as a whole, which no detector can fit into.
                return value
            out, findings = scanner.redact(value, subset)
        except Exception:  # fail closed
            self._record([Finding("error", "redaction_failed", 0, len(value), FAILED)])
            return FAILED
        if findings:
            self._record(findings)
        return out

    def json_text(
        self, value: str, subset: frozenset[int] | None = None, depth: int = 0
    ) -> str | None:
        """Redact a string holding a JSON object or array, structurally.

        Returns:
            The redacted JSON in the style of ``value``, ``value`` itself when nothing
            was found, or None when it does not parse as an object or array.

        Raises:
            ValueError, RecursionError: the redacted value could not be serialized.
        """
        # "\u0040" and "\/" decode to characters that triggers look for ("@", "://"),
        # so such texts are judged per decoded value rather than on their raw text.
        decoded_differs = "\\u" in value or "\\/" in value
        if subset is None:
            subset = self._scanner.subset(value)
        if not subset and not decoded_differs and not self._scanner.has_custom:
            return value
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):
            return None
        if not isinstance(parsed, (dict, list)):
            return None
        redacted = self.event(parsed, depth + 1, None if decoded_differs else subset)
        if redacted == parsed:
            return value  # nothing found: the text as it came, byte for byte
        return dumps_like(redacted, value)

    def event(self, value: Any, depth: int = 0, subset: frozenset[int] | None = None) -> Any:
        """Return a redacted copy of ``value``.

        Args:
            value: the event or any part of it.
            depth: nesting depth so far (bounded by :data:`MAX_DEPTH`).
            subset: the detectors that can match anywhere in ``value``, if known.
        """
        if isinstance(value, str):
            return self.text(value, subset)
        if value is None or isinstance(value, (bool, float)):
            return value
        if isinstance(value, int):
            digits = str(value)
            if len(digits) < 12:
                return value
            redacted = self.text(digits, subset)
            return value if redacted == digits else redacted
        if depth >= MAX_DEPTH and isinstance(value, (dict, list, tuple)):
            try:
                return self.text(json.dumps(value, default=str, ensure_ascii=False))
            except (ValueError, RecursionError):
                self._record([Finding("error", "redaction_failed", 0, 0, FAILED)])
                return FAILED
        if isinstance(value, dict):
            return {self._key(k, subset): self._item(k, v, depth, subset) for k, v in value.items()}
        if isinstance(value, list):
            return [self.event(item, depth + 1, subset) for item in value]
        if isinstance(value, tuple):
            return tuple(self.event(item, depth + 1, subset) for item in value)
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self.text(bytes(value).decode("utf-8", "replace"))
        try:
            rendered = str(value)
        except Exception:  # an object whose __str__ raises: nothing of it may pass
            self._record([Finding("error", "redaction_failed", 0, 0, FAILED)])
            return FAILED
        return self.text(rendered)

    def _key(self, key: Any, subset: frozenset[int] | None) -> Any:
        return self.text(key, subset) if isinstance(key, str) else key

    def _item(self, key: Any, value: Any, depth: int, subset: frozenset[int] | None) -> Any:
        kind = self._catalog.kind_of(key) if isinstance(key, str) else None
        if kind is None or value is None or isinstance(value, bool):
            return self.event(value, depth + 1, subset)
        return self.mask_whole(kind, value)

    def mask_whole(self, kind: str, value: Any) -> Any:
        """Mask a value found under a sensitive key of ``kind``, whatever its type."""
        if kind not in self._scanner.kinds:  # kind switched off by policy: scan as usual
            return self.event(value)
        if isinstance(value, (dict, list, tuple, set, frozenset)):
            masked = REDACTED
        else:
            if isinstance(value, (bytes, bytearray)):
                text = bytes(value).decode("utf-8", "replace")
            else:
                text = value if isinstance(value, str) else str(value)
            masked = self._scanner.mask_value(kind, text)
            if masked == text:
                return text  # already in the masker's own shape
        self._record([Finding(kind, "key", 0, 0, masked)])
        return masked
