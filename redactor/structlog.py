"""Redaction for structlog: a processor that redacts the whole event dict.

Place :class:`RedactingProcessor` after the processors that turn live objects into
text (``format_exc_info`` or ``dict_tracebacks``, ``StackInfoRenderer``) and before
the renderer (``JSONRenderer``, ``ConsoleRenderer``, ``LogfmtRenderer``, or
``ProcessorFormatter.wrap_for_formatter``)::

    structlog.configure(processors=[
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,   # or dict_tracebacks
        RedactingProcessor(),                   # after these, before the renderer
        structlog.processors.JSONRenderer(),
    ])

Bound context (``bind``, ``contextvars``) is merged into the event dict before any
processor runs, so it is redacted like every other key. Values are redacted by key and
value to any depth (see :meth:`redactor.Redactor.redact_event`); objects that are not
plain data are turned into redacted strings, so a renderer cannot ``repr()`` them raw.
Most events hold nothing sensitive: one pre-filter pass over the event's keys and
values shows that (over its JSON text when values are nested, see
:func:`redactor.stdlib.redact_fields`), and such an event is returned as it is,
without the per-value walk; a flat event that pass flags is walked as
:func:`redactor.stdlib._walk_subset` says. Whether an event's keys allow the one-pass
check (string keys, no live ``exc_info``/``stack_info``, no passthrough key) is worked
out once per tuple of keys and remembered (bounded).

If the processor is placed too early and still finds a live ``exc_info`` or
``stack_info=True``, it renders them itself (with structlog's ``format_exc_info`` and
``StackInfoRenderer``) before redacting, so they cannot reach the renderer raw.

Inside ``structlog.stdlib.ProcessorFormatter`` put it in ``processors`` after
``format_exc_info`` and before ``remove_processors_meta`` and the renderer: it then
covers structlog events and foreign (stdlib) records alike. The formatter's
``_record`` and ``_from_structlog`` keys are passed through untouched (the meta
processor removes them). If a :class:`redactor.stdlib.RedactingFilter` also sits on
that handler it has already moved the exception into ``record.exc_text``; add the
processor to ``foreign_pre_chain`` too and it carries that (redacted) text into the
event dict, which ``ProcessorFormatter`` would otherwise drop.

``dict_tracebacks`` shows frame locals, each ``repr`` cut at 80 characters *before* this
processor sees it: a value cut in the middle may no longer look like what it is. Use
``ExceptionRenderer(ExceptionDictTransformer(show_locals=False))`` (or
``locals_max_string=None``) in payment code.

The processor never raises: on failure the event becomes ``{"event":
"[REDACTION_FAILED]"}`` and is counted under ``error``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from redactor import Redactor
from redactor.engine import FAILED
from redactor.stdlib import (
    _FLAT_TYPES,
    _UNPLANNED,
    PolicyLike,
    _key_plan,
    _remember_plan,
    _walk_subset,
    redact_fields,
    resolve_redactor,
)

__all__ = ["PASSTHROUGH_KEYS", "RedactingProcessor"]

#: Keys structlog's ``ProcessorFormatter`` uses for plumbing, never rendered.
PASSTHROUGH_KEYS: frozenset[str] = frozenset({"_record", "_from_structlog"})

_STACK = structlog.processors.StackInfoRenderer(additional_ignores=[__name__])


class RedactingProcessor:
    """A structlog processor that returns a redacted copy of the event dict.

    Args:
        redactor: the shared redactor to use.
        policy: a policy (object, TOML path or mapping) to compile a redactor from.
        passthrough: keys left untouched (``ProcessorFormatter`` plumbing by default).
    """

    __slots__ = ("_passthrough", "_plans", "_probe", "_redactor")

    def __init__(
        self,
        *,
        redactor: Redactor | None = None,
        policy: PolicyLike | None = None,
        passthrough: Collection[str] = PASSTHROUGH_KEYS,
    ) -> None:
        self._redactor = resolve_redactor(redactor, policy)
        self._passthrough = frozenset(passthrough)
        self._probe = self._redactor._probe
        #: Per tuple of an event's keys, how to check it (see ``_plan``).
        self._plans: dict[tuple[Any, ...], tuple[str, bool] | None] = {}

    @property
    def redactor(self) -> Redactor:
        """The redactor this processor uses (read its ``counts()`` for metrics)."""
        return self._redactor

    def __call__(self, logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
        """Redact ``event_dict``.

        Args:
            logger: the wrapped logger (unused).
            method_name: the log method name (unused).
            event_dict: the event so far.

        Returns:
            ``event_dict`` itself when nothing in it is sensitive, otherwise a redacted
            copy; either way with the passthrough keys unchanged and the input not
            mutated.
        """
        kept: dict[str, Any] = {}
        redacted: dict[str, Any]
        try:
            if type(event_dict) is dict:
                # The common event: string keys, scalar values, nothing live to render
                # (decided once per set of keys, see ``_plan``). One pre-filter pass
                # over its keys and values decides; only an event where something may
                # be found is walked. Every value is written out, bools, floats and
                # short ints too, which the walk leaves alone: scanning more text than
                # the walk cannot miss anything it would find.
                keys = tuple(event_dict)
                plan = self._plans.get(keys, _UNPLANNED)
                if plan is _UNPLANNED:
                    plan = self._plan(keys)
                values = list(event_dict.values()) if plan is not None else None
                if values is not None and _FLAT_TYPES.issuperset(map(type, values)):
                    head, sensitive_key = plan
                    found = self._probe(head + "\n".join(map(str, values)))
                    if found is not None and not found and not sensitive_key:
                        return event_dict
                    walked: object = self._redactor._event(event_dict, _walk_subset(found))
                    # Anything but a dict is the placeholder of a failure the redactor counted.
                    return walked if isinstance(walked, dict) else {"event": FAILED}
            for key in self._passthrough:
                if key in event_dict:
                    kept[key] = event_dict[key]
            event = event_dict
            if kept or not isinstance(event, dict):  # a copy: the input is not mutated
                event = {k: v for k, v in event_dict.items() if k not in kept}
            event = self._render_live(logger, method_name, event, kept.get("_record"))
            out: object = redact_fields(self._redactor, event)
            if out is event_dict:  # nothing found, nothing copied
                return event_dict
            # Anything but a dict is the placeholder of a failure the redactor counted.
            redacted = out if isinstance(out, dict) else {"event": FAILED}
        except Exception:  # fail closed: never raise into the logging call
            self._redactor.note("error")
            redacted = {"event": FAILED}
        redacted.update(kept)
        return redacted

    def _plan(self, keys: tuple[Any, ...]) -> tuple[str, bool] | None:
        """How to check an event with these keys (remembered, bounded), or None.

        None sends such events down the general path: a key that is not a string,
        a passthrough key, or ``exc_info`` / ``stack_info`` (live objects to render
        first). Otherwise: the keys joined as the head of the text to scan, and
        whether any key is sensitive by the key catalogue.
        """
        plan: tuple[str, bool] | None = None
        if (
            all(type(key) is str for key in keys)
            and "exc_info" not in keys
            and "stack_info" not in keys
            and self._passthrough.isdisjoint(keys)
        ):
            plan = _key_plan(self._redactor, keys)
        _remember_plan(self._plans, keys, plan)
        return plan

    def _render_live(
        self, logger: WrappedLogger, method_name: str, event: EventDict, record: Any
    ) -> EventDict:
        """Turn a live exception or stack request into text before it is redacted."""
        if "exc_info" in event:
            event = structlog.processors.format_exc_info(logger, method_name, dict(event))
        elif "exception" not in event and record is not None:
            exc_text = getattr(record, "exc_text", None)
            if isinstance(exc_text, str) and exc_text:
                event = {**event, "exception": exc_text}
        if event.get("stack_info") is True:
            event = _STACK(logger, method_name, dict(event))
        return event
