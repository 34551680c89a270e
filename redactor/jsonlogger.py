"""Redaction for python-json-logger: a drop-in ``JsonFormatter`` whose output is redacted.

:class:`RedactingJsonFormatter` redacts the serialized JSON document, after
python-json-logger has gathered every field: the message, extras, ``exc_info`` (which
it renders itself with ``formatException``, from the live exception when the record
still has one), ``stack_info``, static fields and whatever its JSON encoder makes of
custom objects. Redacting the document rather than the field dict means nothing the
encoder renders can get around it. The redaction is structural: values are redacted
by key and by value, keys, order, spacing and ASCII escaping are kept, and the output
stays valid JSON. A document in which something was redacted is re-serialized without
``json_indent`` (indentation is kept when nothing was found).

Both import paths are supported: ``pythonjsonlogger.json`` (3.1 and later) and the
deprecated ``pythonjsonlogger.jsonlogger``.

The formatter never raises into the logging call: if formatting fails, the output is a
JSON document holding only ``{"message": "[REDACTION_FAILED]"}``, counted under
``error``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from redactor import Redactor
from redactor.engine import FAILED
from redactor.stdlib import PolicyLike, resolve_redactor

try:
    from pythonjsonlogger.json import JsonFormatter
except ImportError:  # python-json-logger < 3.1
    from pythonjsonlogger.jsonlogger import JsonFormatter  # type: ignore[no-redef,attr-defined,import-not-found,unused-ignore]

__all__ = ["RedactingJsonFormatter"]


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's ``JsonFormatter`` with every field of its output redacted.

    Takes every argument ``JsonFormatter`` takes, plus the two below; in ``dictConfig``
    use ``"()": "redactor.jsonlogger.RedactingJsonFormatter"``.

    Args:
        *args: positional arguments of ``JsonFormatter`` (``fmt``, ``datefmt``, ...).
        redactor: the shared redactor to use.
        policy: a policy (object, TOML path or mapping) to compile a redactor from.
        **kwargs: keyword arguments of ``JsonFormatter``.
    """

    def __init__(
        self,
        *args: Any,
        redactor: Redactor | None = None,
        policy: PolicyLike | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._redactor = resolve_redactor(redactor, policy)

    @property
    def redactor(self) -> Redactor:
        """The redactor this formatter uses (read its ``counts()`` for metrics)."""
        return self._redactor

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one redacted JSON document; never raises.

        Args:
            record: the record to format.

        Returns:
            The JSON document, with the formatter's ``prefix`` if one is set.
        """
        try:
            return str(super().format(record))
        except Exception as exc:
            self._redactor.note("error")
            failure = f"{FAILED} log record formatting failed ({type(exc).__name__})"
            return json.dumps({"message": failure})

    def jsonify_log_record(self, log_data: Any) -> str:
        """Serialize as ``JsonFormatter`` does, then redact the document.

        Args:
            log_data: the field dict python-json-logger built.

        Returns:
            The redacted JSON text.
        """
        return self._redactor.redact_line(str(super().jsonify_log_record(log_data)))
