"""The public entry point: a thread-safe redactor with per-kind counters.

One :class:`Redactor` compiles its policy once and can then be shared by every thread,
logging handler and asyncio task of a process: scanning uses only immutable compiled
state, and the counters are guarded by a lock that is taken only when something was
found.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from redactor.compiler import compile_policy
from redactor.engine import FAILED
from redactor.finding import Finding
from redactor.policy import Policy
from redactor.structured import StructuredRedactor, looks_like_json
from redactor.typing import Event

__all__ = ["Redactor"]


def _unknown(_text: str) -> frozenset[int] | None:
    """The probe of a redactor with user patterns: they run on every text, none is clean."""
    return None


class Redactor:
    """Finds and masks card data, secrets and personal data in text and events.

    Args:
        policy: what to find and how to show it; None means :meth:`Policy.default`.
        backend: which pre-filter runs before the scan: ``auto`` (Hyperscan when
            installed), ``python`` or ``hyperscan``. The output is the same with each.

    Raises:
        PolicyError: the policy names an HMAC key that is not in the environment.
    """

    def __init__(self, policy: Policy | None = None, *, backend: str = "auto") -> None:
        self._policy = policy if policy is not None else Policy.default()
        compiled = compile_policy(self._policy, backend)
        self._scanner = compiled.scanner
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._catalog = compiled.catalog
        self._structured = StructuredRedactor(compiled.scanner, compiled.catalog, self._record)
        #: The per-record check of logging integrations, see :meth:`_make_probe`.
        self._probe = self._make_probe()

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
        return self._redact_text(text, None)

    def _redact_text(self, text: str, subset: frozenset[int] | None) -> str:
        return self._structured.plain(text, subset)

    def redact_event(self, event: Event) -> Event:
        """Return a redacted copy of a structured event (the input is not mutated).

        Dicts, lists and tuples are walked to any depth; a value under a sensitive key
        is masked whole whatever its type; strings holding JSON are redacted
        structurally and re-serialized; bytes are decoded as UTF-8 with replacement;
        other objects go through ``str()``. Never raises (fails closed).
        """
        return self._event(event, None)

    def _event(self, event: Any, subset: frozenset[int] | None) -> Any:
        try:
            return self._structured.event(event, subset=subset)
        except Exception:  # fail closed
            self._record([Finding("error", "redaction_failed", 0, 0, FAILED)])
            return FAILED

    def redact_line(self, line: str) -> str:
        """Redact one log line: JSON object/array lines structurally, others as text.

        A JSON line keeps its keys, order and formatting style and stays valid JSON.
        """
        return self._redact_line(line, None)

    def _redact_line(self, line: str, subset: frozenset[int] | None) -> str:
        """Redact one line, given the detectors its raw text can trigger (None: ask)."""
        if not looks_like_json(line):
            return self._redact_text(line, subset)
        try:
            out = self._structured.json_text(line, subset)
        except Exception:  # fail closed
            self._record([Finding("error", "redaction_failed", 0, 0, FAILED)])
            return FAILED
        return out if out is not None else self._redact_text(line, subset)

    def redact_lines(self, lines: Sequence[str]) -> list[str]:
        """Redact a batch of log lines (the CLI and the sidecar's entry point).

        One pre-filter pass over the whole batch tells, per line, which detectors can
        match; lines that can match nothing are passed through without further work.

        Args:
            lines: lines without their terminators.

        Returns:
            The redacted lines, same count and order.
        """
        subsets = self._scanner.candidates(lines)
        everyone = self._scanner.has_custom
        redact_line = self._redact_line
        return [
            redact_line(line, subset)
            if subset or everyone or (("\\u" in line or "\\/" in line) and looks_like_json(line))
            else line
            for line, subset in zip(lines, subsets, strict=True)
        ]

    def redact_events(
        self, events: Sequence[Event], texts: Sequence[str] | None = None
    ) -> list[Event]:
        """Redact a batch of events: the output of :meth:`redact_event`, one pass.

        The sidecar parses lines into events and must redact each of them as
        :meth:`redact_event` does; given the texts the events came from, one pre-filter
        pass over all of them tells which events can hold anything, and only those are
        walked. A differential property test holds this equal to ``redact_event``.

        Args:
            events: the events.
            texts: per event, a text holding every key and string value of the event as
                written (the JSON line it was parsed from, or the plain line wrapped as
                ``{"message": line}``). None walks every event.

        Returns:
            The redacted events, same count and order. An event in which nothing can
            match is returned as it is (the same object), not copied.
        """
        if texts is None:
            return [self._event(event, None) for event in events]
        if len(texts) != len(events):
            raise ValueError("redact_events: events and texts differ in length")
        subsets = self._scanner.candidates(texts)
        everyone = self._scanner.has_custom
        walk = self._event
        out: list[Event] = []
        for event, text, subset in zip(events, texts, subsets, strict=True):
            if "\\u" in text or "\\/" in text:
                out.append(walk(event, None))  # escapes decode to other characters
            elif subset or everyone:
                out.append(walk(event, subset))
            else:
                out.append(event)
        return out

    def _make_probe(self) -> Callable[[str], frozenset[int] | None]:
        r"""Build the one-call check that logging integrations run on every record.

        The returned function takes a text (a message, or a record's strings joined by
        newlines: no trigger spans a newline) and returns:

        * an empty set: nothing in the text can match, the text needs no redaction;
        * a non-empty set: the detectors that may match, to hand to ``_redact_line`` or
          ``_event`` so they do not run the pre-filter again on each part;
        * None: the pre-filter cannot vouch for the text (user patterns run on every
          text; JSON escapes such as ``\u0040`` decode to characters the triggers
          look for), so it must be redacted with no subset given.

        On a short line each Python frame counts: it is the backend's own probe when it
        has one (Hyperscan: one frame around the scan), else a closure over the
        pre-filter's bound method.
        """
        if self._scanner.has_custom:
            return _unknown
        own = self._scanner.probe_function
        if own is not None:
            return own
        subset = self._scanner.subset_function

        def probe(text: str) -> frozenset[int] | None:
            if "\\u" in text or "\\/" in text:
                return None
            return subset(text)

        return probe

    def is_clean(self, texts: Sequence[str], keys: Iterable[str] = ()) -> bool:
        """Return True when none of ``texts`` can hold a finding and no key is sensitive.

        The fast path of logging integrations: the message and the string forms of a
        record's fields are checked in one pre-filter pass, without serializing them
        or walking a structure. False means "redact them properly", not "sensitive".

        Args:
            texts: strings to check (scalars already turned into strings).
            keys: field names to check against the sensitive key catalogue.
        """
        kind_of = self._catalog.kind_of
        if any(kind_of(key) is not None for key in keys):
            return False
        # No trigger can span a newline, so one pre-filter call over the joined texts
        # answers for all of them; None (user patterns, JSON escapes) means "not clean".
        found = self._probe("\n".join(texts))
        return found is not None and not found

    @property
    def backend(self) -> str:
        """The pre-filter backend in use: ``python`` or ``hyperscan``."""
        return self._scanner.backend

    def scan(self, text: str) -> list[Finding]:
        """Return findings in ``text``: kind, rule, span and masked preview, never the value.

        Findings are not counted: scanning is for audits, not for redaction metrics.
        """
        try:
            return self._scanner.scan(text)
        except Exception:
            return [Finding("error", "redaction_failed", 0, len(text), FAILED)]
