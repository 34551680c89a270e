"""Shared type aliases, so signatures across the package say the same thing the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Event", "Validator"]

#: A structured log event: whatever a logging framework hands over (dicts, lists, tuples,
#: scalars, arbitrary objects). Redaction returns a new value of the same shape.
Event = Any

#: A pure check run on a candidate's text; see :mod:`redactor.validators`.
Validator = Callable[[str], bool]
