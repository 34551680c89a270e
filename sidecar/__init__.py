"""The log-shipper sidecar: sources, redaction, retention tiers, sinks.

Not built yet: see the sidecar issue. It will feed every record through
:meth:`redactor.Redactor.redact_event` before any sink sees it.
"""

from __future__ import annotations

__all__: list[str] = []
