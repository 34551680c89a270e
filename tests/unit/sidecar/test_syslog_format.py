"""Tests for sidecar.protocol.syslog: RFC 5424 messages and octet-counting frames.

The checks parse every message back with a strict RFC 5424 parser written here from the
RFC's ABNF (not from the code under test), and cut framed streams with an independent
octet-counting reader.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.protocol.syslog import BOM, SD_ID, format_message, frame, severity_of
from sidecar.record import Shipped

NOW = datetime(2025, 11, 22, 10, 11, 12, 345678, tzinfo=timezone.utc)
NOW_TEXT = "2025-11-22T10:11:12.345678+00:00"

# -- a strict RFC 5424 parser, from section 6's ABNF ----------------------------------

_PRINT = rb"[!-~]"
_SD_NAME = rb"[!#-<>-\\^-~]{1,32}"  # PRINTUSASCII except '=', SP, ']', '"'
_PARAM_VALUE = rb'"((?:[^"\\\]]|\\["\\\]])*)"'
_HEADER = re.compile(
    rb"<(0|[1-9][0-9]{0,2})>"  # PRI: 1-3 digits, no leading zero
    rb"([1-9][0-9]{0,2}) "  # VERSION
    rb"(-|(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:\d{2})) "
    rb"(" + _PRINT + rb"{1,255}) "
    rb"(" + _PRINT + rb"{1,48}) "
    rb"(" + _PRINT + rb"{1,128}) "
    rb"(" + _PRINT + rb"{1,32}) ",
)
_ELEMENT = re.compile(rb"\[(" + _SD_NAME + rb")((?: " + _SD_NAME + rb"=" + _PARAM_VALUE + rb")*)\]")
_PARAM = re.compile(rb" (" + _SD_NAME + rb")=" + _PARAM_VALUE)


@dataclass
class Parsed:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd: dict[str, dict[str, str]]
    msg: bytes | None


def _unescape(value: bytes) -> str:
    return re.sub(rb'\\(["\\\]])', rb"\1", value).decode("utf-8")  # strict UTF-8


def parse_5424(message: bytes) -> Parsed:
    """Parse ``message`` strictly; raise AssertionError on anything the ABNF forbids."""
    header = _HEADER.match(message)
    assert header, f"bad header: {message[:300]!r}"
    pri = int(header[1])
    assert 0 <= pri <= 191
    assert header[2] == b"1"
    if header[3] != b"-":
        year, month, day, hour, minute, second = (int(header[i]) for i in range(4, 10))
        datetime(year, month, day, hour, minute, second)  # raises on Feb 30, 60 s, ...
        zone = header[11]
        if zone != b"Z":
            assert int(zone[1:3]) <= 23 and int(zone[4:6]) <= 59, zone
    rest = message[header.end() :]
    sd: dict[str, dict[str, str]] = {}
    if rest.startswith(b"-"):
        rest = rest[1:]
    else:
        assert rest.startswith(b"["), f"bad structured data: {rest[:100]!r}"
        while rest.startswith(b"["):
            element = _ELEMENT.match(rest)
            assert element, f"bad SD-ELEMENT: {rest[:300]!r}"
            sd_id = element[1].decode("ascii")
            assert sd_id not in sd, "duplicate SD-ID"
            sd[sd_id] = {p[1].decode("ascii"): _unescape(p[2]) for p in _PARAM.finditer(element[2])}
            rest = rest[element.end() :]
    msg: bytes | None = None
    if rest:
        assert rest.startswith(b" "), f"no SP before MSG: {rest[:20]!r}"
        msg = rest[1:]
        if msg.startswith(BOM):
            msg[3:].decode("utf-8")  # MSG-UTF8 must be valid UTF-8
    return Parsed(
        pri=pri,
        timestamp=header[3].decode("ascii"),
        hostname=header[12].decode("ascii"),
        app_name=header[13].decode("ascii"),
        procid=header[14].decode("ascii"),
        msgid=header[15].decode("ascii"),
        sd=sd,
        msg=msg,
    )


class OctetReader:
    """An independent RFC 6587 octet-counting reader: feed bytes, get whole messages."""

    _LEN = re.compile(rb"([1-9][0-9]{0,8}) ")

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        out = []
        while True:
            head = self._LEN.match(self.buffer)
            if head is None:
                assert re.fullmatch(rb"[0-9]{0,9}", self.buffer), self.buffer[:20]
                return out
            end = head.end() + int(head[1])
            if len(self.buffer) < end:
                return out
            out.append(self.buffer[head.end() : end])
            self.buffer = self.buffer[end:]


def fmt(line: bytes | str, tier: str = "audit", **overrides: object) -> bytes:
    if isinstance(line, str):
        line = line.encode("utf-8")
    args: dict[str, object] = {
        "hostname": "web-1",
        "app_name": "sidecar",
        "facility": 16,
        "procid": 4242,
        "now": NOW,
    }
    args.update(overrides)
    return format_message(Shipped(tier, "2025-11-22", line), **args)  # type: ignore[arg-type]


def record(**fields: object) -> str:
    return json.dumps(fields)


class TestFormatMessage:
    def test_golden_message(self):
        """A typical record yields exactly the documented header, SD and BOM + JSON line."""
        line = (
            '{"level":"error","ts":"2025-11-22T09:00:00.5Z","msg":"x",'
            '"retention_tier":"audit","retention_days":365,"expire_at":"2026-11-22"}'
        )
        assert fmt(line) == (
            b"<131>1 2025-11-22T09:00:00.5Z web-1 sidecar 4242 audit "
            b'[retention@32473 tier="audit" days="365" expire="2026-11-22"] ' + BOM + line.encode()
        )

    def test_msg_is_the_line_byte_for_byte(self):
        """MSG is the BOM followed by the unchanged UTF-8 line, escapes and all."""
        line = record(message='a\nb "q" ] \\ é 😀', retention_days=30)
        parsed = parse_5424(fmt(line))
        assert parsed.msg == BOM + line.encode()

    def test_invalid_utf8_goes_without_bom(self):
        """A line that is not UTF-8 is sent as MSG-ANY, without the BOM."""
        line = b'{"msg":"\xff\xfe"}'
        parsed = parse_5424(fmt(line))
        assert parsed.msg == line
        assert parsed.pri == 16 * 8 + 6

    @pytest.mark.parametrize(
        ("fields", "severity"),
        [
            ({"level": "error"}, 3),
            ({"level": "ERROR"}, 3),
            ({"levelname": "WARNING"}, 4),
            ({"level": "warn"}, 4),
            ({"severity": "info"}, 6),
            ({"level": "debug"}, 7),
            ({"levelname": "CRITICAL"}, 2),
            ({"level": "fatal"}, 2),
            ({"severity": "NOTICE"}, 5),
            ({"level": 50}, 3),
            ({"level": 30}, 6),
            ({"level": True}, 6),
            ({"level": "verbose-ish"}, 6),
            ({}, 6),
            ({"level": "nonsense", "levelname": "error"}, 3),
            ({"level": "debug", "severity": "error"}, 7),
        ],
    )
    def test_severity_from_level_fields(self, fields, severity):
        """The first level field naming a known level sets the severity, else 6."""
        assert severity_of(fields) == severity
        assert parse_5424(fmt(record(**fields), facility=3)).pri == 3 * 8 + severity

    def test_non_object_lines_are_informational(self):
        """A line that is not a JSON object gets the defaults, and is still shipped."""
        for line in ("[1,2]", "not json", '{"level": "error"', ""):
            parsed = parse_5424(fmt(line))
            assert parsed.pri == 16 * 8 + 6
            assert parsed.timestamp == NOW_TEXT
            assert parsed.msg == BOM + line.encode()

    @pytest.mark.parametrize(
        ("fields", "expected"),
        [
            ({"ts": "2025-01-02T03:04:05Z"}, "2025-01-02T03:04:05Z"),
            ({"time": "2025-01-02T03:04:05.123+05:30"}, "2025-01-02T03:04:05.123+05:30"),
            ({"timestamp": "2025-01-02 03:04:05,5-0700"}, "2025-01-02T03:04:05.5-07:00"),
            ({"@timestamp": "2025-01-02T03:04:05.123456789Z"}, "2025-01-02T03:04:05.123456Z"),
            ({"ts": "2024-02-29T00:00:00z"}, "2024-02-29T00:00:00Z"),
            ({"ts": "bad", "time": "2025-01-02T03:04:05Z"}, "2025-01-02T03:04:05Z"),
            ({"ts": "2025-01-02T03:04:05"}, NOW_TEXT),  # naive: no instant
            ({"ts": "2025-02-30T03:04:05Z"}, NOW_TEXT),
            ({"ts": "2016-12-31T23:59:60Z"}, NOW_TEXT),  # leap second
            ({"ts": "2025-01-02T24:00:00Z"}, NOW_TEXT),
            ({"ts": "2025-01-02T03:04:05+24:00"}, NOW_TEXT),
            ({"ts": "2025-01-02T03:04:05+01:60"}, NOW_TEXT),
            ({"ts": "0000-01-02T03:04:05Z"}, NOW_TEXT),
            ({"ts": "٢٠٢٥-01-02T03:04:05Z"}, NOW_TEXT),  # non-ASCII digits
            ({"ts": 1700000000}, NOW_TEXT),
            ({"ts": "2025-01-02T03:04:05Z trailing"}, NOW_TEXT),
        ],
    )
    def test_timestamp_from_record_or_now(self, fields, expected):
        """The record's ISO 8601 time with an offset is used, anything else falls to now."""
        assert parse_5424(fmt(record(**fields))).timestamp == expected

    def test_now_keeps_its_offset_and_microseconds(self):
        """``now`` is written with six fraction digits and its own UTC offset."""
        now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
        assert parse_5424(fmt("{}", now=now)).timestamp == "2025-01-02T03:04:05.000000-03:30"

    def test_now_with_a_seconds_offset_is_converted_to_utc(self):
        """An offset in seconds, which RFC 3339 cannot write, becomes UTC."""
        now = datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(seconds=30)))
        assert parse_5424(fmt("{}", now=now)).timestamp == "2025-01-02T03:03:35.000000+00:00"

    def test_structured_data_carries_tier_and_stamp(self):
        """The SD element holds the tier, days and expiry, escaped per PARAM-VALUE."""
        line = record(retention_days=90, expire_at='2026-02-20"]\\')
        message = fmt(line, tier='er"r]o\\r')
        assert b'tier="er\\"r\\]o\\\\r"' in message
        assert parse_5424(message).sd == {
            SD_ID: {"tier": 'er"r]o\\r', "days": "90", "expire": '2026-02-20"]\\'}
        }

    def test_structured_data_without_stamp(self):
        """Days and expiry are left out when the line does not carry them as int and str."""
        parsed = parse_5424(fmt(record(retention_days=True, expire_at=5)))
        assert parsed.sd == {SD_ID: {"tier": "audit"}}

    def test_msgid_is_the_tier_cut_to_32(self):
        """MSGID is the tier, sanitized and cut to 32; the SD keeps the whole tier."""
        tier = "t" * 40
        parsed = parse_5424(fmt("{}", tier=tier))
        assert parsed.msgid == "t" * 32
        assert parsed.sd[SD_ID]["tier"] == tier

    def test_header_fields_are_sanitized_and_cut(self):
        """Non-PRINTUSASCII characters become ``_`` and fields stop at their ABNF length."""
        parsed = parse_5424(
            fmt(
                "{}", tier="a b", hostname="h\u00e9 st" + "x" * 300, app_name="a" * 60, procid="p q"
            )
        )
        assert parsed.hostname == "h__st" + "x" * 250
        assert parsed.app_name == "a" * 48
        assert parsed.procid == "p_q"
        assert parsed.msgid == "a_b"

    def test_empty_header_fields_are_nilvalue(self):
        """Empty hostname, app name, procid and tier are written as ``-``."""
        parsed = parse_5424(fmt("{}", tier="", hostname="", app_name="", procid=None))
        assert (parsed.hostname, parsed.app_name, parsed.procid, parsed.msgid) == ("-",) * 4
        assert parsed.sd == {SD_ID: {"tier": ""}}

    def test_lone_surrogate_in_tier_stays_valid_utf8(self):
        """A lone surrogate in a tier cannot make the structured data invalid UTF-8."""
        parsed = parse_5424(fmt("{}", tier="a\ud800b"))
        assert parsed.sd[SD_ID]["tier"] == "a?b"

    def test_facility_out_of_range_is_a_usage_error(self):
        """A facility outside 0-23 is refused."""
        with pytest.raises(ValueError, match="facility"):
            fmt("{}", facility=24)
        with pytest.raises(ValueError, match="facility"):
            fmt("{}", facility=-1)

    def test_naive_now_is_a_usage_error(self):
        """``now`` without a timezone is refused rather than guessed at."""
        with pytest.raises(ValueError, match="timezone"):
            fmt("{}", now=datetime(2025, 1, 1))


class TestFrame:
    def test_octet_counting_prefix(self):
        """A frame is the decimal octet count, a space, then the message."""
        assert frame(b"hello\nworld") == b"11 hello\nworld"
        assert frame("é".encode()) == b"2 \xc3\xa9"


# -- properties --------------------------------------------------------------------------

#: Text that often holds the characters that matter here: ASCII (space, controls, DEL),
#: the SD specials, and anything else in Unicode but lone surrogates (records are
#: decoded from bytes, so they never hold one; UTF-8 cannot encode them).
_unicode = st.characters(exclude_categories=("Cs",))
_texts = st.text(
    alphabet=st.one_of(
        st.characters(max_codepoint=0x7F),
        st.sampled_from(' "\\]=-[\t\n'),
        _unicode,
    )
)
_json_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), _texts
)
_json = st.recursive(
    _json_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.text(_unicode, max_size=5), inner, max_size=3),
    ),
    max_leaves=8,
)
_level_values = st.one_of(
    st.sampled_from(["error", "WARNING", "info", "debug", "fatal", "critical", "x"]),
    st.integers(0, 70),
    _json_scalar,
)
#: Mostly valid date-times in the shapes loggers write, with long fractions and
#: offsets that are valid, missing or just out of range.
_time_texts = st.builds(
    lambda d, sep, frac, zone: (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}{sep}{d:%H:%M:%S}{frac}{zone}"
    ),
    st.datetimes(),
    st.sampled_from(["T", "t", " "]),
    st.one_of(
        st.just(""), st.from_regex(r"\A[.,][0-9]{1,6}\Z"), st.from_regex(r"\A[.,][0-9]{7,12}\Z")
    ),
    st.sampled_from(["Z", "z", "", "+00:00", "-05:30", "+2359", "-23:59", "+24:00", "+01:60"]),
)
_time_values = st.one_of(
    _time_texts,
    st.from_regex(r"\A\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})?\Z"),
    _json_scalar,
)
_objects = st.fixed_dictionaries(
    {},
    optional={
        "level": _level_values,
        "levelname": _level_values,
        "severity": _level_values,
        "ts": _time_values,
        "time": _time_values,
        "@timestamp": _time_values,
        "retention_days": st.one_of(st.integers(), _json_scalar),
        "expire_at": _json_scalar,
        "message": _json,
    },
)
_lines = st.one_of(
    st.fixed_dictionaries({"ts": _time_texts}).map(lambda o: json.dumps(o).encode("ascii")),
    _objects.map(lambda o: json.dumps(o, ensure_ascii=False).encode("utf-8")),
    _objects.map(lambda o: json.dumps(o).encode("ascii")),
    st.binary(max_size=200),
    _texts.map(lambda t: t.encode("utf-8")),
)
_offsets = st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).map(
    lambda s: timezone(timedelta(seconds=s))
)


class TestProperties:
    @settings(max_examples=200, deadline=None)
    @given(
        line=_lines,
        tier=st.one_of(_texts, st.text(max_size=70)),
        hostname=st.one_of(_texts, st.text(min_size=250, max_size=300)),
        app_name=st.one_of(_texts, st.text(min_size=40, max_size=60)),
        procid=st.one_of(st.none(), st.integers(0, 2**31), _texts, st.text(min_size=120)),
        facility=st.integers(0, 23),
        now=st.datetimes(
            min_value=datetime(2, 1, 1), max_value=datetime(9999, 12, 30), timezones=_offsets
        ),
    )
    def test_any_record_parses_back_strictly(
        self, line, tier, hostname, app_name, procid, facility, now
    ):
        """Any record, tier and header values yield a message the strict parser accepts."""
        message = format_message(
            Shipped(tier, "2025-11-22", line),
            hostname=hostname,
            app_name=app_name,
            facility=facility,
            procid=procid,
            now=now,
        )
        parsed = parse_5424(message)
        assert parsed.pri // 8 == facility
        # Lone surrogates cannot be UTF-8: they become "?" (see the example test).
        assert parsed.sd[SD_ID]["tier"] == tier.encode("utf-8", "replace").decode()
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            assert parsed.msg == line
        else:
            assert parsed.msg == BOM + line
        if re.fullmatch(r"[!-~]{1,32}", tier):
            assert parsed.msgid == tier
        for value, got in ((hostname, parsed.hostname), (app_name, parsed.app_name)):
            if re.fullmatch(r"[!-~]+", value):
                assert value.startswith(got)

    @settings(deadline=None)
    @given(
        messages=st.lists(st.binary(min_size=1, max_size=300), max_size=8),
        cuts=st.lists(st.integers(min_value=0), max_size=10),
    )
    def test_frames_round_trip_when_split_anywhere(self, messages, cuts):
        """Framed messages read back the same however the stream is cut into pieces."""
        stream = b"".join(frame(m) for m in messages)
        points = sorted({c % (len(stream) + 1) for c in cuts})
        reader = OctetReader()
        got: list[bytes] = []
        start = 0
        for point in [*points, len(stream)]:
            got += reader.feed(stream[start:point])
            start = point
        assert got == messages
        assert reader.buffer == b""

    @settings(max_examples=50, deadline=None)
    @given(
        lines=st.lists(_lines, min_size=1, max_size=5),
        tier=_texts,
        size=st.integers(1, 64),
    )
    def test_framed_records_round_trip_in_fixed_chunks(self, lines, tier, size):
        """A batch of framed records fed in chunks of any size yields each message once."""
        messages = [fmt(line, tier=tier) for line in lines]
        stream = b"".join(frame(m) for m in messages)
        reader = OctetReader()
        got = [m for i in range(0, len(stream), size) for m in reader.feed(stream[i : i + size])]
        assert got == messages
        assert [parse_5424(m).msg for m in got] == [
            BOM + line if _utf8(line) else line for line in lines
        ]


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
