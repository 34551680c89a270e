"""Redaction for the standard library's :mod:`logging`: a filter, a formatter, a helper.

Theory of operation
-------------------
A :class:`logging.LogRecord` can carry sensitive data through many attributes, and
formatters downstream re-read most of them: ``getMessage()`` re-merges ``msg`` with
``args``, ``Formatter.format`` renders ``exc_info`` into ``exc_text`` unless it is
already set, python-json-logger calls ``formatException(record.exc_info)`` itself and
copies every non-standard attribute into its output. :class:`RedactingFilter`
therefore rewrites the record in place so that no attribute it leaves behind holds a
raw value:

* ``msg`` becomes the redacted result of ``getMessage()`` and ``args`` becomes ``()``,
  so a second ``getMessage()`` returns the same redacted text and no formatter can
  re-merge the raw arguments. If %-formatting itself fails, the message is a
  placeholder naming the failure, never ``str(args)``. A ``dict`` message (as
  python-json-logger and structlog's stdlib bridge log them) stays a dict, redacted
  by key and value.
* ``exc_info`` is rendered with :meth:`logging.Formatter.formatException`, redacted and
  stored in ``exc_text``; ``exc_info`` is then set to ``None``. Every formatter that
  re-renders the live exception would otherwise print its original message and its
  source lines again. Formatters fall back to ``exc_text`` (``logging.Formatter``,
  python-json-logger), so the traceback still appears, redacted. The cost: handlers
  that need the live exception object (error trackers) must run before the filter.
* ``stack_info`` and every attribute that came from ``extra=`` (anything outside the
  standard ``LogRecord`` attributes) are redacted by key and value. Private
  attributes (leading ``_``) holding objects other than plain data are framework
  plumbing (structlog's ``_logger``) and are left alone; formatters do not render them.

Cost: the message is scanned once; a record with flat extras (strings, numbers,
bools, None) is scanned once with its extras' names and values, and only a record
where something may be sensitive is redacted field by field: the message with the
detectors that one scan found, the extras with a scan each (see
:func:`_walk_subset`). Which attributes of a record are extras is worked out once per
tuple of attribute names and remembered (bounded), never anything about the values.
Nested extras go through their JSON text (:func:`redact_fields`).

The record is shared by every handler that sees it, so redacting it once redacts it
for all later handlers too. Attach the filter to *handlers*, not loggers: a logger's
filters only run for records logged on that very logger, never for records propagated
from its children. :func:`install` does this for every handler of the root logger.

Custom record classes (``logging.setLogRecordFactory``) whose ``getMessage`` renders
``msg`` and ``args`` in their own way must return ``msg`` unchanged when ``args`` is
empty, since that is how the filter leaves a record; otherwise they may re-render it.

The filter never raises into the logging call: if anything fails, the record is
replaced by a placeholder (message, exception, stack and every extra) and counted
under ``error``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from redactor import Redactor, default_redactor
from redactor.engine import FAILED
from redactor.policy import Policy

__all__ = [
    "PolicyLike",
    "RedactingFilter",
    "RedactingFormatter",
    "install",
    "redact_fields",
    "resolve_redactor",
]

#: What ``policy=`` accepts: a :class:`Policy`, a TOML file path, or a mapping of the
#: same shape as the TOML file (what ``logging.config.dictConfig`` passes through).
PolicyLike = Policy | str | os.PathLike[str] | Mapping[str, Any]

_BARE_RECORD = logging.LogRecord("", 0, "", 0, "", (), None).__dict__
#: The names ``LogRecord.__init__`` sets, in the order it sets them: on a record whose
#: attribute names start with exactly these, every later name is an extra (or was added
#: by a formatter, such as ``message``). Counting names is not enough: a record that
#: lost a standard attribute and gained an extra has the bare record's count.
_BARE_NAMES = list(_BARE_RECORD)
_BARE_SIZE = len(_BARE_NAMES)
#: Attributes every ``LogRecord`` has; anything else on a record came from ``extra=``
#: (or from a filter or formatter that ran earlier). ``message`` and ``asctime`` are
#: added by ``Formatter.format``; ``taskName`` exists from Python 3.12 on.
_STANDARD = frozenset(_BARE_RECORD) | {"message", "asctime", "taskName"}

#: Values of these types are data a formatter may render, even under a private name.
_DATA = (str, bytes, bytearray, int, float, dict, list, tuple)

_FORMATTER = logging.Formatter()
_UNPLANNED: Any = object()
#: A plain record's extras to scan, their names as a text, whether a name is sensitive.
_Plan = tuple[tuple[str, ...], str, bool]
#: Value types of flat fields: written out by ``str`` they show all a walk would scan.
_FLAT_TYPES = frozenset({str, int, bool, float, type(None)})
#: How many plans (per tuple of names) an integration remembers; names can come from
#: input, so the memory is bounded.
_PLANS = 1024


def _key_plan(redactor: Redactor, keys: tuple[str, ...]) -> tuple[str, bool]:
    """The keys of flat fields as the head of the one-pass text, and if one is sensitive.

    A value under a sensitive key is masked whatever it holds, so such fields are
    walked even when the pass finds nothing.
    """
    kind_of = redactor._catalog.kind_of
    return "".join(key + "\n" for key in keys), any(kind_of(key) is not None for key in keys)


def _remember_plan(plans: dict[Any, Any], names: tuple[Any, ...], plan: Any) -> None:
    """Store a plan, forgetting all of them first when :data:`_PLANS` are stored."""
    if len(plans) >= _PLANS:
        plans.clear()
    plans[names] = plan


def _walk_subset(found: frozenset[int] | None) -> frozenset[int] | None:
    """The subset to walk flat fields with, after the one pass over all of them said ``found``.

    Empty (only a sensitive key sent them to the walk): no value needs a scan. Else
    None, a scan per value, which leaves the clean ones (most) at once: measured, the
    detectors found for the whole text cost more when run on every value.
    """
    return found if not found else None


def resolve_redactor(
    redactor: Redactor | None = None, policy: PolicyLike | None = None
) -> Redactor:
    """Return the redactor an integration should use.

    Args:
        redactor: a shared redactor; wins when given.
        policy: a :class:`Policy`, a TOML path or a policy mapping; compiled into a new
            redactor.

    Returns:
        ``redactor``, a redactor compiled from ``policy``, or the process-wide
        :func:`redactor.default_redactor`.

    Raises:
        ValueError: both arguments were given.
        PolicyError: the policy is invalid (raised at configuration time, never while
            logging).
    """
    if redactor is not None and policy is not None:
        raise ValueError("pass either redactor= or policy=, not both")
    if redactor is not None:
        return redactor
    if policy is None:
        return default_redactor()
    if isinstance(policy, Policy):
        return Redactor(policy)
    if isinstance(policy, Mapping):
        return Redactor(Policy.from_dict(policy))
    return Redactor(Policy.from_toml(policy))


class RedactingFilter(logging.Filter):
    """A :class:`logging.Filter` that redacts a record in place and always lets it pass.

    Attach it to handlers (``handler.addFilter(...)``, or ``"filters": [...]`` of a
    handler in ``dictConfig`` with ``"()": "redactor.stdlib.RedactingFilter"``).
    Place it before any handler that sends records off the process, including
    ``QueueHandler`` so that records cross the queue already redacted.

    Args:
        name: as for :class:`logging.Filter`; only records of this logger subtree are
            redacted (the default ``""`` redacts all).
        redactor: the shared redactor to use.
        policy: a policy (object, TOML path or mapping) to compile a redactor from.
    """

    def __init__(
        self,
        name: str = "",
        *,
        redactor: Redactor | None = None,
        policy: PolicyLike | None = None,
    ) -> None:
        super().__init__(name)
        self._redactor = resolve_redactor(redactor, policy)
        self._probe = self._redactor._probe
        #: Per tuple of a record's attribute names, how to check it (see ``_plan``).
        self._plans: dict[tuple[str, ...], _Plan | None] = {}

    @property
    def redactor(self) -> Redactor:
        """The redactor this filter uses (read its ``counts()`` for metrics)."""
        return self._redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact ``record`` in place.

        Args:
            record: the record on its way to the handler.

        Returns:
            True, so the redacted record is still emitted. As with any
            :class:`logging.Filter` given a ``name``, records of other logger subtrees
            are rejected (False) rather than passed on unredacted.
        """
        if self.nlen and not super().filter(record):
            return False
        try:
            msg = record.msg
            if (
                type(msg) is str
                and record.exc_info is None
                and record.exc_text is None
                and not record.stack_info
                and type(record) is logging.LogRecord
            ):
                # The common records, a message with flat extras or none, handled here
                # in one frame: on a record that costs 15-25 us to log, each call and
                # attribute lookup around the scan is a visible share of the overhead.
                attrs = record.__dict__
                names = list(attrs)
                if names == _BARE_NAMES:  # no extras: the most common record
                    keys: tuple[str, ...] = ()
                    head = ""
                    sensitive = False
                else:
                    named = tuple(names)
                    plan = self._plans.get(named, _UNPLANNED)
                    if plan is _UNPLANNED:
                        plan = self._plan(named)
                    if plan is None:
                        self._redact(record)
                        return True
                    keys, head, sensitive = plan
                if keys:
                    values = list(map(attrs.__getitem__, keys))
                    if not _FLAT_TYPES.issuperset(map(type, values)):
                        self._redact(record)
                        return True
                # ``getMessage`` inlined (a record class of its own may render
                # differently and takes ``_redact``).
                args = record.args
                try:
                    message = msg % args if args else msg
                except Exception:
                    message = self._message(record)  # fails again: the placeholder
                if keys:
                    # Keys, values and message in one pre-filter pass. Every value is
                    # written out (bools, floats and short ints too, which the walk of
                    # ``redact_event`` leaves alone): scanning more text than the walk
                    # cannot miss anything it would find.
                    found = self._probe(head + "\n".join(map(str, values)) + "\n" + message)
                else:
                    found = self._probe(message)
                if found is not None and not found and not sensitive:
                    record.msg = message  # certainly clean: kept as it is
                    record.args = ()
                    if "message" in attrs:  # a formatter already ran on this record
                        record.message = message
                elif not keys:
                    record.msg = self._redactor._redact_line(message, found)
                    record.args = ()
                    if "message" in attrs:
                        record.message = record.msg
                else:
                    self._redact_flagged(record, message, found)
            else:
                self._redact(record)
        except _Failed:  # the redactor already counted it
            self._fail(record, count=False)
        except Exception:  # fail closed: never raise into the logging call
            self._fail(record)
        return True

    def _plan(self, names: tuple[str, ...]) -> _Plan | None:
        """How to check a plain record with these attribute names (remembered, bounded).

        None sends such records to :meth:`_redact`: standard attributes missing or out
        of ``__init__``'s order (a count alone would miss an extra on a record that
        lost a standard name), a name that is not a string, or a private name (plumbing
        such as structlog's ``_logger`` is told from data by its value, per record).
        Otherwise: the extras to scan (standard names a formatter adds, ``message``
        and ``asctime``, are not extras), their names joined as the head of the text
        to scan, and whether any name is sensitive by the key catalogue.
        """
        plan: _Plan | None = None
        if list(names[:_BARE_SIZE]) == _BARE_NAMES:
            keys = tuple(name for name in names[_BARE_SIZE:] if name not in _STANDARD)
            if all(type(key) is str and key[:1] != "_" for key in keys):
                plan = (keys, *_key_plan(self._redactor, keys))
        _remember_plan(self._plans, names, plan)
        return plan

    def _redact_flagged(
        self, record: logging.LogRecord, message: str, found: frozenset[int] | None
    ) -> None:
        """Redact a record with flat extras that the pre-filter flagged.

        ``found``, the detectors that can match in the text of that pass, holds every
        detector that can match in the message, which is part of that text: the
        message is redacted with it instead of a pass of its own (as
        :meth:`Redactor.redact_events` does with the lines its events came from);
        the extras are walked with :func:`_walk_subset`.
        """
        r = self._redactor
        attrs = record.__dict__
        record.msg = r._redact_line(message, found)
        record.args = ()
        extra = self._extra(attrs)
        if extra is not None:
            self._apply_extra(attrs, extra, r._event(extra, _walk_subset(found)))
        if "message" in attrs:
            record.message = record.msg

    def _redact(self, record: logging.LogRecord) -> None:
        r = self._redactor
        attrs = record.__dict__
        msg = record.msg
        message: str | None = None  # set when flat extras were flagged: redact below
        if (
            type(msg) is str
            and type(record) is logging.LogRecord
            and record.exc_info is None
            and record.exc_text is None
            and not record.stack_info
            and (flat := _flat_extras(r, attrs)) is not None
        ):
            # Flat extras (the common case): one pre-filter pass over the message,
            # the extras' names and their strings decides; a record where something
            # may be found is redacted below with the message formatted here.
            texts, sensitive_key = flat
            args = record.args
            try:
                message = msg % args if args else msg
            except Exception:
                message = self._message(record)  # fails again: the placeholder
            texts.append(message)
            found = r._probe("\n".join(texts))
            if found is not None and not found and not sensitive_key:
                record.msg = message
                record.args = ()
                if "message" in attrs:  # a formatter already ran on this record
                    record.message = message
                return
        extra = self._extra(attrs)
        if message is not None:
            # Flat extras the pass above flagged: redacted by the public methods (which
            # a subclass may wrap; they repeat the pre-filter, a cost paid by few records).
            record.msg = r.redact_line(message)
            if extra is not None:
                self._apply_extra(attrs, extra, r.redact_event(extra))
        elif isinstance(msg, dict) and not record.args:
            record.msg = self._redact_dict_message(msg)
            if extra is not None:
                self._apply_extra(attrs, extra, redact_fields(r, extra))
        elif extra is None:
            message = self._message(record)
            found = r._probe(message)
            record.msg = message if found is not None and not found else r.redact_line(message)
        elif (flat := flat_texts(r, extra)) is not None:
            # Flat extras of a record the pass above does not handle (a record class of
            # its own, or attributes out of order): the same one pre-filter pass.
            texts, sensitive_key = flat
            message = self._message(record)
            texts.append(message)
            found = r._probe("\n".join(texts))
            if found is not None and not found and not sensitive_key:
                record.msg = message
            else:
                record.msg = r.redact_line(message)
                self._apply_extra(attrs, extra, r.redact_event(extra))
        else:
            # Nested extras: one pass over message and extras together through JSON.
            out = redact_fields(r, [self._message(record), extra])
            if not (isinstance(out, list) and len(out) == 2 and isinstance(out[0], str)):
                raise _Failed  # already counted by the redactor
            record.msg = out[0]
            self._apply_extra(attrs, extra, out[1])
        record.args = ()
        if "message" in attrs:  # a formatter already ran on this record
            record.message = record.getMessage()
        exc_info = record.exc_info
        if exc_info and exc_info[0] is not None:
            record.exc_text = r.redact(_FORMATTER.formatException(exc_info))
        elif record.exc_text:
            record.exc_text = r.redact(record.exc_text)
        record.exc_info = None
        if record.stack_info:
            record.stack_info = r.redact(record.stack_info)

    def _message(self, record: logging.LogRecord) -> str:
        """Return the %-formatted message (not yet redacted), or a failure placeholder."""
        try:
            return record.getMessage()
        except Exception as exc:  # the raw args must not reach a fallback rendering
            self._redactor.note("error")
            return _format_failure(self._redactor, record, exc)

    def _redact_dict_message(self, msg: dict[Any, Any]) -> Any:
        """Redact a dict message; a live exception under ``exc_info`` becomes text.

        structlog's stdlib bridge keeps ``exc_info`` inside the event dict until its
        ``ProcessorFormatter`` renders it; rendered later it would show the raw
        exception, so it is rendered now into ``exception`` as structlog's own
        ``format_exc_info`` would.
        """
        exc_info = _exc_info_of(msg.get("exc_info"))
        if "exc_info" in msg and (exc_info is not None or msg["exc_info"] is True):
            msg = dict(msg)
            del msg["exc_info"]
            if exc_info is not None:
                msg["exception"] = _FORMATTER.formatException(exc_info)
        return redact_fields(self._redactor, msg)

    @staticmethod
    def _extra(attrs: dict[str, Any]) -> dict[str, Any] | None:
        """Return the attributes that came from ``extra=`` and may be rendered, or None."""
        extra = {
            name: attrs[name]
            for name in attrs.keys() - _STANDARD
            if not name.startswith("_") or isinstance(attrs[name], _DATA)
        }
        return extra or None

    @staticmethod
    def _apply_extra(attrs: dict[str, Any], extra: dict[str, Any], redacted: Any) -> None:
        """Write redacted extras back onto the record (nothing to do if none changed)."""
        if redacted is extra:
            return
        if not isinstance(redacted, dict) or len(redacted) != len(extra):
            raise _Failed  # a failure placeholder, or keys that redacted to the same text
        for (old, _), (new, value) in zip(extra.items(), redacted.items(), strict=True):
            if new != old:  # a key that was itself sensitive
                del attrs[old]
                if not isinstance(new, str) or new in _STANDARD:
                    continue
            attrs[new] = value

    def _fail(self, record: logging.LogRecord, *, count: bool = True) -> None:
        """Replace everything a formatter could render by placeholders."""
        if count:
            self._redactor.note("error")
        record.msg = FAILED
        record.args = ()
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        attrs = record.__dict__
        if "message" in attrs:
            record.message = FAILED
        for name in attrs.keys() - _STANDARD:
            if not name.startswith("_") or isinstance(attrs[name], _DATA):
                attrs[name] = FAILED


def _format_failure(redactor: Redactor, record: logging.LogRecord, exc: Exception) -> str:
    """The message that stands in for one whose %-formatting raised.

    It names the exception type and shows the redacted template, never the arguments:
    ``logging`` itself would print them raw in its "--- Logging error ---" report.
    """
    try:
        template = redactor.redact_line(str(record.msg))
    except Exception:
        template = FAILED
    return f"{FAILED} log message formatting failed ({type(exc).__name__}); template: {template}"


class _Failed(Exception):
    """Redaction failed and the redactor has already counted the error."""


def _reject(value: Any) -> Any:
    raise TypeError("not plain JSON data")


def redact_fields(redactor: Redactor, data: Any) -> Any:
    """Redact log fields in one scan when nothing in them is sensitive.

    :meth:`Redactor.redact_event` scans every key and value on its own; most log fields
    hold nothing sensitive, and proving that for all of them at once costs one
    pre-filter pass over their JSON text. Plain data (str, numbers, bools, None, dicts
    with string keys, lists, tuples) goes through :meth:`Redactor.redact_line` as JSON,
    which redacts structurally (by key and by value) and returns the text unchanged
    when nothing is found; anything else takes ``redact_event``. Findings are counted
    once either way.

    Args:
        redactor: the redactor whose policy decides.
        data: the fields; not mutated.

    Returns:
        ``data`` itself when nothing was found; otherwise a redacted copy (through
        JSON: tuples come back as lists, non-string keys as strings), or
        ``"[REDACTION_FAILED]"`` if redaction failed (counted).
    """
    try:
        text = json.dumps(data, ensure_ascii=False, default=_reject)
    except (TypeError, ValueError, RecursionError):
        return redactor.redact_event(data)
    out = redactor.redact_line(text)
    if out == text:
        return data
    try:
        return json.loads(out)
    except (ValueError, RecursionError):
        return FAILED  # redact_line fails closed with a placeholder it has counted


#: Ints this short are never scanned by the structural walk (``StructuredRedactor.event``):
#: fewer than 12 characters, sign included, cannot hold a card or account number.
_INT_LOW, _INT_HIGH = -(10**10), 10**11
_SKIPPED = (bool, float, type(None))


def flat_texts(redactor: Redactor, fields: Mapping[Any, Any]) -> tuple[list[str], bool] | None:
    """The strings a structural walk of flat ``fields`` would scan, or None if not flat.

    The walk (:meth:`Redactor.redact_event`) scans every key and every string value,
    and ints of 12 characters or more; it leaves bools, floats, ``None`` and shorter
    ints as they are, so they need no scan here either. A value under a sensitive key
    is masked whatever it holds, hence the second item. Only exact built-in types
    count as flat: a subclass may render differently from what is checked.

    Args:
        redactor: whose key catalogue decides which keys are sensitive.
        fields: string keys to scalar values (record extras, a structlog event).

    Returns:
        ``(texts, sensitive_key)``, or None when a key is not a string or a value is
        not a scalar: such fields take the general path.
    """
    return _flat(redactor, fields, fields, False)


def _flat_extras(redactor: Redactor, attrs: dict[str, Any]) -> tuple[list[str], bool] | None:
    """:func:`flat_texts` of a plain ``LogRecord``'s extras, read off its ``__dict__``.

    Finding the extras by the order of attribute names (one list comparison) instead
    of a set difference with every standard name, and not building a dict of them,
    halves the cost of a record with a few extras. A record whose standard attributes
    were deleted or re-set out of order is not recognized here (None): it takes the
    general path.
    """
    names = list(attrs)
    if names[:_BARE_SIZE] != _BARE_NAMES:
        return None
    return _flat(redactor, names[_BARE_SIZE:], attrs, True)


def _flat(
    redactor: Redactor, keys: Iterable[Any], fields: Mapping[Any, Any], record: bool
) -> tuple[list[str], bool] | None:
    """The loop of :func:`flat_texts`; with ``record``, ``keys`` are a record's extras.

    Then standard names added by a formatter (``message``) are not extras, and private
    names holding objects other than plain data are plumbing (see ``_extra``).
    """
    kinds = redactor._catalog.kind_of
    texts: list[str] = []
    sensitive = False
    for key in keys:
        if type(key) is not str:
            return None
        value = fields[key]
        kind = type(value)
        if record and (key in _STANDARD or (key[:1] == "_" and not isinstance(value, _DATA))):
            continue
        texts.append(key)
        if kinds(key) is not None:
            sensitive = True
        if kind is str:
            texts.append(value)
        elif kind is int:
            if not _INT_LOW < value < _INT_HIGH:
                texts.append(str(value))
        elif kind not in _SKIPPED:
            return None
    return texts, sensitive


def _exc_info_of(value: Any) -> tuple[Any, ...] | None:
    """Return an exception triple for what a ``exc_info`` field may hold, else None."""
    if isinstance(value, BaseException):
        return (type(value), value, value.__traceback__)
    if isinstance(value, tuple) and len(value) == 3 and isinstance(value[1], BaseException):
        return value
    if value is True:
        current = sys.exc_info()
        return current if current[1] is not None else None
    return None


class RedactingFormatter(logging.Formatter):
    """Wraps any formatter and redacts its final output (belt and braces).

    For handlers whose records you do not control: whatever the inner formatter
    renders, message, arguments, extras or a traceback it renders itself, is redacted
    as the line it produced. JSON output is redacted structurally and stays valid
    JSON; other output is redacted as text. A non-string result (fluent-logger's
    ``FluentRecordFormatter`` returns a dict) is redacted as an event.

    In ``dictConfig``: ``{"()": "redactor.stdlib.RedactingFormatter", "format": ...}``
    wraps a plain ``logging.Formatter``; ``"inner": {"()": "dotted.Factory", ...}``
    wraps any other formatter built from that factory and keyword arguments.

    Args:
        fmt: format string of the plain formatter built when ``inner`` is not given.
        datefmt: its date format.
        style: its style (``%``, ``{`` or ``$``).
        validate: passed to :class:`logging.Formatter`.
        inner: the formatter to wrap, or a mapping with a ``"()"`` factory (a callable
            or a dotted name) and its keyword arguments.
        redactor: the shared redactor to use.
        policy: a policy (object, TOML path or mapping) to compile a redactor from.
    """

    def __init__(
        self,
        fmt: str | None = None,
        datefmt: str | None = None,
        style: str = "%",
        validate: bool = True,
        *,
        inner: logging.Formatter | Mapping[str, Any] | None = None,
        redactor: Redactor | None = None,
        policy: PolicyLike | None = None,
    ) -> None:
        super().__init__(fmt, datefmt, style, validate)  # type: ignore[arg-type]
        self._redactor = resolve_redactor(redactor, policy)
        if inner is None:
            self._inner: logging.Formatter = logging.Formatter(fmt, datefmt, style, validate)  # type: ignore[arg-type]
        elif isinstance(inner, logging.Formatter):
            self._inner = inner
        else:
            self._inner = _build_formatter(inner)

    @property
    def inner(self) -> logging.Formatter:
        """The wrapped formatter."""
        return self._inner

    def format(self, record: logging.LogRecord) -> str:
        """Return the inner formatter's output, redacted; never raises.

        Args:
            record: the record to format.

        Returns:
            The redacted output (a redacted dict if the inner formatter returns one).
        """
        try:
            out: Any = self._inner.format(record)
        except Exception as exc:
            self._redactor.note("error")
            return f"{FAILED} log record formatting failed ({type(exc).__name__})"
        if isinstance(out, str):
            return self._redactor.redact_line(out)
        return self._redactor.redact_event(out)  # type: ignore[no-any-return]


def _build_formatter(spec: Mapping[str, Any]) -> logging.Formatter:
    """Build a formatter from ``{"()": factory, **kwargs}`` as ``dictConfig`` would."""
    kwargs = dict(spec)
    factory: Callable[..., Any] | str | None = kwargs.pop("()", None)
    if isinstance(factory, str):
        import logging.config  # only at configuration time

        factory = logging.config.BaseConfigurator({}).resolve(factory)
    if factory is None or not callable(factory):
        raise ValueError('inner formatter mapping needs a "()" factory')
    formatter = factory(**kwargs)
    if not isinstance(formatter, logging.Formatter):
        raise TypeError("inner factory did not return a logging.Formatter")
    return formatter


def install(
    logger: logging.Logger | None = None,
    *,
    redactor: Redactor | None = None,
    policy: PolicyLike | None = None,
) -> RedactingFilter:
    """Attach one :class:`RedactingFilter` to every handler of a logger (root by default).

    Call it after logging is configured: handlers added later are not covered, and
    neither is ``logging.lastResort`` (used when no handler exists at all). Handlers
    that already carry a :class:`RedactingFilter` keep theirs.

    Args:
        logger: whose handlers to cover; None means the root logger.
        redactor: the shared redactor to use.
        policy: a policy (object, TOML path or mapping) to compile a redactor from.

    Returns:
        The filter, for its ``redactor.counts()``.

    Raises:
        ValueError: the logger has no handlers, so nothing would be redacted.
    """
    target = logger if logger is not None else logging.getLogger()
    if not target.handlers:
        raise ValueError(f"logger {target.name!r} has no handlers; configure logging first")
    flt = RedactingFilter(redactor=redactor, policy=policy)
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
