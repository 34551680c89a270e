"""One batch of record texts in, shipped records out: parse, classify, scrub, stamp.

This is the CPU-bound heart of the sidecar and it is kept free of I/O so it can run in
the main process or in worker processes alike (:mod:`sidecar.pipeline.workers`).

Per batch:

1. parse every text (:mod:`sidecar.pipeline.parse`);
2. classify every parsed record into a tier, on the raw values
   (:mod:`sidecar.pipeline.classify`);
3. scrub: :meth:`redactor.Redactor.redact_events`, the batch form of ``redact_event``
   (one pre-filter pass over the batch's texts; an event in which nothing can match is
   not walked at all);
4. stamp ``retention_tier``, ``retention_days`` and ``expire_at`` and serialize.

Fail closed: if the batch call raises, each event is redacted alone; an event whose
redaction still raises, or comes back as something other than an object, is replaced
by a placeholder record naming the source and the reason, and counted. A value-level
failure inside an event shows as ``[REDACTION_FAILED]`` in that field (the redactor's
own fail-closed behaviour) and is counted the same way.

Serialization: a JSON record in which nothing was found is written as its own text with
the three retention fields spliced in before the closing brace, which is both faster
and byte-faithful to what the application wrote; anything else goes through
``json.dumps``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from redactor import Redactor
from sidecar.pipeline.classify import Classifier, Stamp
from sidecar.pipeline.parse import Parsed, parse
from sidecar.record import ShippedBatch

__all__ = ["PLACEHOLDER", "Processed", "Processor"]

#: The message of a record that could not be redacted; nothing of the original is kept.
PLACEHOLDER = "[REDACTION_FAILED]"
_STAMP_KEYS = ("retention_tier", "retention_days", "expire_at")


@dataclass(slots=True)
class Processed:
    """The result of one batch.

    Attributes:
        day: the shipping day of every record of the batch.
        lines: the serialized records, in input order.
        tier_of: each line's tier (kept apart from the lines because a list of bytes
            and a list of repeated strings cross a process boundary ~100x cheaper
            than a list of objects).
        redactions: redactions per kind in this batch (no values).
        malformed: records that should have been JSON and were kept as text.
        failed: records or values replaced because redaction failed.
        tiers: records per tier.
        nbytes: bytes of the serialized records.
    """

    day: str
    lines: list[bytes]
    tier_of: list[str]
    redactions: dict[str, int] = field(default_factory=dict)
    malformed: int = 0
    failed: int = 0
    tiers: dict[str, int] = field(default_factory=dict)
    nbytes: int = 0

    def records(self) -> ShippedBatch:
        """The batch as a sequence of :class:`Shipped` records, for the sinks."""
        return ShippedBatch(self.day, self.tier_of, self.lines, self.nbytes)


class Processor:
    """Parse, classify, scrub and stamp batches; build once per process.

    Args:
        redactor: the compiled redactor (its counts feed the per-source metrics).
        classifier: the retention classifier.
    """

    def __init__(self, redactor: Redactor, classifier: Classifier) -> None:
        self._redactor = redactor
        self._classifier = classifier

    def run(self, texts: Sequence[str], source: str, fmt: str, day: str) -> Processed:
        """Process one batch.

        Args:
            texts: record texts from one source.
            source: the source's name (for rules and placeholders).
            fmt: the source's format (``auto``, ``json`` or ``text``).
            day: the shipping day, ``YYYY-MM-DD`` (UTC).
        """
        parsed = [parse(text, fmt) for text in texts]
        classifier = self._classifier
        tiers = [classifier.tier(p.event, source, p.json) for p in parsed]
        before = self._redactor.counts()
        scrubbed, failed = self._scrub(parsed, source)
        after = self._redactor.counts()
        redactions = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
        failed += redactions.pop("error", 0)

        lines = [
            _serialize(item, event, classifier.stamp(tier, day))
            for item, event, tier in zip(parsed, scrubbed, tiers, strict=True)
        ]
        per_tier: dict[str, int] = {}
        for tier in tiers:
            per_tier[tier] = per_tier.get(tier, 0) + 1
        return Processed(
            day,
            lines,
            tiers,
            redactions,
            sum(p.malformed for p in parsed),
            failed,
            per_tier,
            sum(len(line) for line in lines),
        )

    def _scrub(self, parsed: list[Parsed], source: str) -> tuple[list[Any], int]:
        events = [p.event for p in parsed]
        try:
            scrubbed = self._redactor.redact_events(events, [p.text for p in parsed])
        except Exception:  # fail closed: retry one by one, replace what still fails
            scrubbed = []
            for event in events:
                try:
                    scrubbed.append(self._redactor.redact_event(event))
                except Exception:
                    scrubbed.append(None)
        failed = 0
        for i, event in enumerate(scrubbed):
            if not isinstance(event, dict):
                scrubbed[i] = placeholder(source, "redaction_failed")
                failed += 1
        return scrubbed, failed


def placeholder(source: str, reason: str) -> dict[str, Any]:
    """Return the record shipped in place of one that could not be redacted."""
    return {"message": PLACEHOLDER, "sidecar_error": reason, "sidecar_source": source}


def _serialize(item: Parsed, event: dict[str, Any], stamp: Stamp) -> bytes:
    if event is item.event and item.json:
        spliced = _splice(item.text, event, stamp)
        if spliced is not None:
            return spliced
    elif not item.json and len(event) == 1:
        message = event.get("message")
        if isinstance(message, str):  # a text record: no dict to encode
            try:
                return (
                    '{"message":' + json.dumps(message, ensure_ascii=False) + _suffix(stamp)
                ).encode("utf-8")
            except UnicodeEncodeError:
                pass
    for key in _STAMP_KEYS:
        event.pop(key, None)  # the stamp replaces what the record said of itself
    event["retention_tier"] = stamp.tier
    event["retention_days"] = stamp.days
    event["expire_at"] = stamp.expire_at
    try:
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except ValueError:  # NaN or Infinity, which JSON cannot carry: ship them as strings
        text = json.dumps(_finite(event), ensure_ascii=False, separators=(",", ":"), default=str)
    except TypeError:
        text = json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \\ud800 escape: keep it escaped
        return json.dumps(event, separators=(",", ":"), default=str).encode("ascii")


def _splice(text: str, event: dict[str, Any], stamp: Stamp) -> bytes | None:
    """Append the stamp to an unchanged JSON object's own text, or None if unsafe."""
    raw = text.rstrip()
    if (
        not event
        or raw[-1:] != "}"
        or "\n" in raw
        or "\r" in raw
        or "retention_tier" in event
        or "retention_days" in event
        or "expire_at" in event
        or "NaN" in raw
        or "Infinity" in raw
    ):
        return None
    try:
        return (raw[:-1] + _suffix(stamp)).encode("utf-8")
    except UnicodeEncodeError:
        return None


def _suffix(stamp: Stamp) -> str:
    """The retention fields as JSON members, closing the object."""
    return (
        f',"retention_tier":"{stamp.tier}","retention_days":{stamp.days},'
        f'"expire_at":"{stamp.expire_at}"}}'
    )


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value
