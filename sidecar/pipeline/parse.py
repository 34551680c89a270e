"""Turn a record's text into an event: JSON objects parsed, anything else kept as text.

Parsing is the first step after a source and is deliberately forgiving: a line that is
not the JSON it claims to be is never dropped, it is kept as ``{"message": text}`` and
counted as malformed so operators see it on the dashboard. The text a record came from
travels with its event, because the redactor's batch path uses it to decide in one
pass which events can hold anything at all.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

__all__ = ["Parsed", "parse"]


class Parsed(NamedTuple):
    """One parsed record (a named tuple: built once per record, so cheap to create).

    Attributes:
        event: the record as a dict (a JSON object, or ``{"message": text}``).
        text: the text it came from.
        json: True when ``event`` is the JSON object ``text`` holds.
        malformed: True when the text should have been JSON and was not.
    """

    event: dict[str, Any]
    text: str
    json: bool
    malformed: bool


def parse(text: str, fmt: str = "auto") -> Parsed:
    """Parse one record text.

    Args:
        text: the record (lines already joined).
        fmt: ``auto`` (JSON when the text starts with ``{``), ``json`` (every record
            should be a JSON object) or ``text`` (never parsed).

    Returns:
        The parsed record; never raises.
    """
    if fmt != "text" and text[:1] == "{":
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            return Parsed({"message": text}, text, False, True)
        if isinstance(value, dict):
            return Parsed(value, text, True, False)
        return Parsed({"message": text}, text, False, fmt == "json")
    return Parsed({"message": text}, text, False, fmt == "json")
