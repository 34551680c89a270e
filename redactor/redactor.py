"""The public entry point: a thread-safe redactor with per-kind counters.

One :class:`Redactor` compiles its policy once and can then be shared by every thread,
logging handler and asyncio task of a process: scanning uses only immutable compiled
state, and the counters are guarded by a lock that is taken only when something was
found.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from redactor.compiler import compile_policy
from redactor.engine import FAILED
from redactor.finding import Finding
from redactor.policy import Policy
from redactor.structured import StructuredRedactor, dumps_like, looks_like_json

__all__ = ["Redactor"]


class Redactor:
    """Finds and masks card data, secrets and personal data in text and events.

    Args:
        policy: what to find and how to show it; None means :meth:`Policy.default`.

    Raises:
        PolicyError: the policy names an HMAC key that is not in the environment.
    """

    def __init__(self, policy: Policy | None = None) -> None:
        self._policy = policy if policy is not None else Policy.default()
        compiled = compile_policy(self._policy)
        self._scanner = compiled.scanner
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._structured = StructuredRedactor(compiled.scanner, compiled.catalog, self._record)

    @property
    def policy(self) -> Policy:
        """The policy this redactor was compiled from."""
        return self._policy

    def _record(self, findings: Iterable[Finding]) -> None:
        with self._lock:
            counts = self._counts
            for finding in findings:
                counts[finding.kind] = counts.get(finding.kind, 0) + 1

    def note(self, kind: str, count: int = 1) -> None:
        """Count redactions done outside the scanner (stream state, integrations)."""
        with self._lock:
            self._counts[kind] = self._counts.get(kind, 0) + count

    def counts(self) -> dict[str, int]:
        """Return redactions per kind since creation (``error`` counts fail-closed values).

        Returns:
            A snapshot copy, safe to export as metrics: kind names only, no values.
        """
        with self._lock:
            return dict(self._counts)

    def redact(self, text: str) -> str:
        """Return ``text`` with every sensitive value masked (plain-text rules).

        Never raises: if redaction fails, the whole text is replaced by a placeholder
        and counted under ``error``.
        """
        if not isinstance(text, str):
            text = (
                bytes(text).decode("utf-8", "replace")
                if isinstance(text, (bytes, bytearray))
                else str(text)
            )
        try:
            if not self._scanner.has_candidate(text):
                return text
            out, findings = self._scanner.redact(text)
        except Exception:  # fail closed
            self._record([Finding("error", "redaction_failed", 0, len(text), FAILED)])
            return FAILED
        if findings:
            self._record(findings)
        return out

    def redact_event(self, event: Any) -> Any:
        """Return a redacted copy of a structured event (the input is not mutated).

        Dicts, lists and tuples are walked to any depth; a value under a sensitive key
        is masked whole whatever its type; strings holding JSON are redacted
        structurally and re-serialized; bytes are decoded as UTF-8 with replacement;
        other objects go through ``str()``. Never raises (fails closed).
        """
        try:
            return self._structured.event(event)
        except Exception:  # fail closed
            self._record([Finding("error", "redaction_failed", 0, 0, FAILED)])
            return FAILED

    def redact_line(self, line: str) -> str:
        """Redact one log line: JSON object/array lines structurally, others as text.

        A JSON line keeps its keys, order and formatting style and stays valid JSON.
        """
        if looks_like_json(line):
            if not self._scanner.has_candidate(line) and "\\u" not in line:
                return line
            try:
                parsed = json.loads(line)
            except (ValueError, RecursionError):
                return self.redact(line)
            if isinstance(parsed, (dict, list)):
                try:
                    return dumps_like(self.redact_event(parsed), line)
                except (ValueError, RecursionError):
                    self._record([Finding("error", "redaction_failed", 0, 0, FAILED)])
                    return FAILED
        return self.redact(line)

    def redact_lines(self, lines: Sequence[str]) -> list[str]:
        """Redact a batch of log lines (the CLI and the sidecar's entry point).

        Args:
            lines: lines without their terminators.

        Returns:
            The redacted lines, same count and order.
        """
        redact_line = self.redact_line
        return [redact_line(line) for line in lines]

    def scan(self, text: str) -> list[Finding]:
        """Return findings in ``text``: kind, rule, span and masked preview, never the value.

        Findings are not counted: scanning is for audits, not for redaction metrics.
        """
        try:
            return self._scanner.scan(text)
        except Exception:
            return [Finding("error", "redaction_failed", 0, len(text), FAILED)]
