r"""RFC 5424 syslog messages in RFC 6587 octet-counting frames, sans-I/O.

Theory of operation: :func:`format_message` turns one :class:`~sidecar.record.Shipped`
record into one RFC 5424 message and :func:`frame` prefixes it with its length, the
octet-counting framing of RFC 6587 section 3.4.1 that RFC 5425 (TLS) mandates. Nothing
here touches a socket; the asyncio glue is :mod:`sidecar.sinks.syslog`.

A message reads::

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [retention@32473 ...] BOM{"json":...}

- PRI is ``facility * 8 + severity``; the severity comes from the record's own
  ``level``, ``levelname`` or ``severity`` field (first one that names a level), else
  informational (6).
- TIMESTAMP is the record's own ``ts``, ``time``, ``timestamp`` or ``@timestamp`` when
  it is an ISO 8601 date-time *with* a UTC offset (a naive time names no instant, so it
  is not guessed at), else ``now``. Fractions beyond microseconds are cut, as RFC 5424
  allows at most six digits; an invalid date or a leap second falls back to ``now``.
- MSGID is the retention tier, cut to 32 characters; the structured data carries the
  full tier plus the record's ``retention_days`` and ``expire_at`` so the server can
  route by tier without parsing the JSON.
- MSG is a UTF-8 BOM and the record's JSON line, byte for byte. A line that is not
  valid UTF-8 (the pipeline never makes one) goes without the BOM, as MSG-ANY.

Header fields are restricted to what the ABNF allows: PRINTUSASCII (``!`` to ``~``),
anything else replaced by ``_``, cut to the field's length limit, and NILVALUE ``-``
when empty. PARAM-VALUE escapes ``"``, ``\`` and ``]`` with a backslash. Octet counting
makes a newline inside a message harmless, so nothing is stripped from MSG.

Sizes: there is no limit here; servers truncate or drop messages longer than their own
limit (rsyslog: ``maxMessageSize``, 8 KiB by default), so it must be set to at least the
sidecar's largest record plus the header (under 200 bytes in practice, about 700 at
worst with every field at its length limit).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from sidecar.record import Shipped

__all__ = [
    "BOM",
    "MAX_APP_NAME",
    "MAX_HOSTNAME",
    "MAX_MSGID",
    "MAX_PROCID",
    "NILVALUE",
    "SD_ID",
    "format_message",
    "frame",
    "severity_of",
]

#: The structured-data element carrying the tier. 32473 is the private enterprise
#: number RFC 5612 reserves for documentation and examples; a deployment that owns a
#: PEN may want its own, but the receiving side's routing rules must then match it.
SD_ID = "retention@32473"
#: Marks MSG as UTF-8 (RFC 5424 section 6.4).
BOM = b"\xef\xbb\xbf"
NILVALUE = "-"
#: Field length limits of the RFC 5424 ABNF.
MAX_HOSTNAME = 255
MAX_APP_NAME = 48
MAX_PROCID = 128
MAX_MSGID = 32

#: Informational: what a record that names no level is shipped as.
DEFAULT_SEVERITY = 6
_LEVEL_FIELDS = ("level", "levelname", "severity")
_TIME_FIELDS = ("ts", "time", "timestamp", "@timestamp")
#: Level names of common loggers (Python, structlog, log4j, Go, GCP) and syslog's own.
_SEVERITIES: Mapping[str, int] = {
    "emerg": 0,
    "emergency": 0,
    "panic": 0,
    "alert": 1,
    "crit": 2,
    "critical": 2,
    "fatal": 2,
    "err": 3,
    "error": 3,
    "warn": 4,
    "warning": 4,
    "notice": 5,
    "info": 6,
    "informational": 6,
    "debug": 7,
    "trace": 7,
}
#: pino and bunyan write numeric levels: 10 trace ... 60 fatal.
_NUMERIC_LEVELS: Mapping[int, int] = {10: 7, 20: 7, 30: 6, 40: 4, 50: 3, 60: 2}

_NOT_PRINTUSASCII = re.compile(r"[^!-~]")
_SD_ESCAPE = re.compile(r'(["\\\]])')
_ISO8601 = re.compile(
    r"""
    (\d{4})-(\d{2})-(\d{2})          # full-date
    [Tt\ ]
    (\d{2}):(\d{2}):(\d{2})          # partial-time
    (?:[.,](\d+))?                   # fraction, any number of digits
    (?: ([Zz]) | ([+-])(\d{2}):?(\d{2}) )   # the offset is required
    """,
    re.VERBOSE | re.ASCII,
)


def frame(message: bytes) -> bytes:
    """Return ``message`` in octet-counting framing: ``MSG-LEN SP SYSLOG-MSG``.

    Args:
        message: one syslog message (from :func:`format_message`).

    Returns:
        The frame to write to the stream; the receiver reads exactly ``MSG-LEN`` octets
        after the space, so the message may contain any byte, newlines included.
    """
    return b"%d %s" % (len(message), message)


def format_message(
    record: Shipped,
    *,
    hostname: str,
    app_name: str,
    facility: int,
    procid: int | str | None,
    now: datetime,
) -> bytes:
    """Return ``record`` as one RFC 5424 message (unframed).

    Args:
        record: the shipped record; its ``line`` becomes MSG unchanged.
        hostname: the HOSTNAME field (sanitized, cut to 255).
        app_name: the APP-NAME field (sanitized, cut to 48).
        facility: syslog facility, 0 to 23.
        procid: the PROCID field, usually the sidecar's pid; None for NILVALUE.
        now: the timestamp used when the record carries none; must be timezone-aware.

    Returns:
        The message bytes: an ASCII header, UTF-8 structured data, then MSG.

    Raises:
        ValueError: ``facility`` out of range or ``now`` naive (a caller's bug).
    """
    if not 0 <= facility <= 23:
        raise ValueError(f"syslog facility must be 0 to 23, got {facility}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    try:
        text: str | None = record.line.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    event = _parse(text) if text is not None else {}
    pri = facility * 8 + severity_of(event)
    timestamp = _record_time(event) or _rfc3339(now)
    header = (
        f"<{pri}>1 {timestamp} {_field(hostname, MAX_HOSTNAME)} "
        f"{_field(app_name, MAX_APP_NAME)} "
        f"{_field('' if procid is None else str(procid), MAX_PROCID)} "
        f"{_field(record.tier, MAX_MSGID)} {_structured_data(record.tier, event)} "
    )
    body = BOM + record.line if text is not None else record.line
    # "replace" only matters for lone surrogates in a tier or field value: structured
    # data must be valid UTF-8, and a "?" there is better than refusing the record.
    return header.encode("utf-8", "replace") + body


def severity_of(event: Mapping[str, Any]) -> int:
    """Return the syslog severity (0-7) a parsed record names, or 6 (informational).

    Args:
        event: the record's top-level fields.

    Returns:
        The severity of the first of ``level``, ``levelname``, ``severity`` that names a
        known level (``error`` 3, ``warning`` 4, ``info`` 6, ``debug`` 7,
        ``critical``/``fatal`` 2, syslog's own names, pino's numbers 10-60).
    """
    for key in _LEVEL_FIELDS:
        value = event.get(key)
        if isinstance(value, str):
            found = _SEVERITIES.get(value.strip().lower())
        elif key == "level" and isinstance(value, int) and not isinstance(value, bool):
            found = _NUMERIC_LEVELS.get(value)
        else:
            found = None
        if found is not None:
            return found
    return DEFAULT_SEVERITY


def _parse(text: str) -> Mapping[str, Any]:
    """The record's top-level fields, or nothing when the line is not a JSON object."""
    if not text.startswith("{"):
        return {}
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def _record_time(event: Mapping[str, Any]) -> str | None:
    """The record's own time as an RFC 5424 TIMESTAMP, or None when it has none usable."""
    for key in _TIME_FIELDS:
        value = event.get(key)
        if isinstance(value, str):
            stamp = _iso8601(value.strip())
            if stamp is not None:
                return stamp
    return None


def _iso8601(value: str) -> str | None:
    """Parse an ISO 8601 date-time with an offset into RFC 5424's profile of RFC 3339."""
    match = _ISO8601.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, frac, zulu, sign, off_h, off_m = match.groups()
    if not zulu and int(off_m) > 59:
        return None
    try:
        # datetime() rejects Feb 30, hour 24 and the leap second 60, none of which
        # RFC 5424 allows either; timezone() rejects offsets of 24 hours or more.
        offset = timedelta(hours=int(off_h or 0), minutes=int(off_m or 0))
        y, mo, d, h, mi, sec = map(int, (year, month, day, hour, minute, second))
        datetime(y, mo, d, h, mi, sec, tzinfo=timezone(offset))
    except ValueError:
        return None
    fraction = f".{frac[:6]}" if frac else ""
    zone = "Z" if zulu else f"{sign}{off_h}:{off_m}"
    return f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction}{zone}"


def _rfc3339(moment: datetime) -> str:
    """``moment`` as an RFC 5424 TIMESTAMP with microseconds and its UTC offset."""
    offset = moment.utcoffset() or timedelta(0)
    if offset % timedelta(minutes=1):  # an offset in seconds has no RFC 3339 form
        moment, offset = moment.astimezone(timezone.utc), timedelta(0)
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}"
        f"{sign}{hours:02d}:{mins:02d}"
    )


@lru_cache(maxsize=256)
def _field(value: str, limit: int) -> str:
    """A header field: PRINTUSASCII only (others become ``_``), cut, ``-`` when empty."""
    cleaned = _NOT_PRINTUSASCII.sub("_", value[:limit])
    return cleaned or NILVALUE


def _sd_value(value: str) -> str:
    r"""A PARAM-VALUE: ``"``, ``\`` and ``]`` escaped with a backslash (RFC 5424 6.3.3)."""
    return _SD_ESCAPE.sub(r"\\\1", value)


def _structured_data(tier: str, event: Mapping[str, Any]) -> str:
    """The ``[retention@32473 ...]`` element: the tier, and the stamp the record carries."""
    params = [f'tier="{_sd_value(tier)}"']
    days = event.get("retention_days")
    if isinstance(days, int) and not isinstance(days, bool):
        params.append(f'days="{days}"')
    expire = event.get("expire_at")
    if isinstance(expire, str):
        params.append(f'expire="{_sd_value(expire)}"')
    return f"[{SD_ID} {' '.join(params)}]"
