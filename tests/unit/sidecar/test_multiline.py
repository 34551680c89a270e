"""Tests of sidecar.pipeline.multiline: the line splitter and the multi-line joiner."""

from __future__ import annotations

from sidecar.config import MultilineConfig
from sidecar.pipeline.multiline import Joined, Joiner, LineSplitter


def join(lines: list[str], config: MultilineConfig | None = None, **kw: int) -> list[str]:
    """Feed lines (offsets 1, 2, ...) then flush; return the record texts."""
    joiner = Joiner(config, **kw)
    out: list[Joined] = []
    for i, line in enumerate(lines, 1):
        out.extend(joiner.feed(line, i))
    last = joiner.flush()
    if last is not None:
        out.append(last)
    return [r.text for r in out]


TRACEBACK = [
    "2024-05-01 12:00:00 ERROR payment failed",
    "Traceback (most recent call last):",
    '  File "/app/pay.py", line 10, in charge',
    "    gateway.charge(card)",
    "gateway.errors.Declined: card declined",
]


class TestJoiner:
    def test_plain_lines_are_records(self) -> None:
        """Lines that continue nothing come out one record each."""
        assert join(["a", "b", "c"]) == ["a", "b", "c"]

    def test_record_is_pending_until_the_next_record_starts(self) -> None:
        """The last record waits, since the next line might continue it."""
        joiner = Joiner()
        assert joiner.feed("a", 2) == ()
        assert joiner.pending
        assert joiner.feed("b", 4) == (Joined("a", 2, 1),)
        assert joiner.flush() == Joined("b", 4, 1)
        assert not joiner.pending
        assert joiner.flush() is None

    def test_indented_lines_continue(self) -> None:
        """Lines starting with whitespace join the record before them."""
        assert join(["start", "  more", "\tand more", "next"]) == [
            "start\n  more\n\tand more",
            "next",
        ]

    def test_traceback_joins_with_its_message_and_ends_at_the_exception(self) -> None:
        """A logged traceback, dotted exception line included, is one record."""
        assert join([*TRACEBACK, "2024-05-01 12:00:01 INFO next"]) == [
            "\n".join(TRACEBACK),
            "2024-05-01 12:00:01 INFO next",
        ]

    def test_chained_tracebacks_are_one_record(self) -> None:
        """Chained exceptions, with the blank lines between them, stay together."""
        lines = [
            "Traceback (most recent call last):",
            '  File "a.py", line 1, in <module>',
            "ZeroDivisionError: division by zero",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            '  File "a.py", line 3, in <module>',
            "KeyError: 'x'",
            "",
            "The above exception was the direct cause of the following exception:",
            "",
            "Traceback (most recent call last):",
            '  File "a.py", line 5, in <module>',
            "RuntimeError",
            "after",
        ]
        assert join(lines) == ["\n".join(lines[:-1]), "after"]

    def test_non_exception_line_ends_a_traceback(self) -> None:
        """Inside a traceback, a non-indented line that is no exception line starts anew."""
        lines = ["Traceback (most recent call last):", '  File "a.py"', "12:00 INFO x"]
        assert join(lines) == ["\n".join(lines[:2]), "12:00 INFO x"]

    def test_exception_shaped_line_outside_a_traceback_starts_a_record(self) -> None:
        """``Name: message`` only continues inside a traceback."""
        assert join(["first", "ValueError: x"]) == ["first", "ValueError: x"]

    def test_json_line_always_starts_a_record(self) -> None:
        """A line starting with ``{`` starts a record, even inside a traceback."""
        lines = ["Traceback (most recent call last):", '  File "a.py"', '{"a": 1}']
        assert join(lines) == ["\n".join(lines[:2]), '{"a": 1}']
        assert join(['{"a": 1}', '{"b": 2}']) == ['{"a": 1}', '{"b": 2}']

    def test_start_regex_decides(self) -> None:
        """With ``start`` set, only matching lines start records."""
        config = MultilineConfig(start=r"^\d{4}-")
        lines = ["2024-01-01 a", "not indented", "{json}", "2024-01-02 b"]
        assert join(lines, config) == ["2024-01-01 a\nnot indented\n{json}", "2024-01-02 b"]

    def test_continuation_without_a_record_starts_one(self) -> None:
        """A continuation line at the very start is a record of its own making."""
        assert join(["  indented", "x"]) == ["  indented", "x"]

    def test_max_lines_cuts_a_record(self) -> None:
        """A record is handed out as soon as it holds max_lines lines."""
        joiner = Joiner(MultilineConfig(max_lines=2))
        assert joiner.feed("a", 1) == ()
        assert joiner.feed(" b", 2) == (Joined("a\n b", 2, 2),)
        assert join(["a", " b", " c", " d", " e"], MultilineConfig(max_lines=2)) == [
            "a\n b",
            " c\n d",
            " e",
        ]

    def test_max_chars_cuts_before_an_overflowing_line(self) -> None:
        """A line that would take the record past max_chars starts the next record."""
        assert join(["aaaa", " bb", " cc"], max_chars=8) == ["aaaa\n bb", " cc"]

    def test_flags_and_end_offset_cover_every_line(self) -> None:
        """The record's end is its last line's, and any line's flags mark the record."""
        joiner = Joiner()
        joiner.feed("a", 5)
        joiner.feed(" b", 9, invalid_utf8=True)
        joiner.feed(" c", 14, oversized=True)
        assert joiner.flush() == Joined("a\n b\n c", 14, 3, True, True)
        joiner.feed("d", 16)
        assert joiner.flush() == Joined("d", 16, 1, False, False)


class TestLineSplitter:
    def test_lines_carry_their_end_offsets(self) -> None:
        """Offsets count from the starting offset and include the newline."""
        splitter = LineSplitter(100, 1024, "a.log")
        lines = splitter.feed(b"ab\ncd\r\n\n")
        assert [(x.text, x.end) for x in lines] == [("ab", 103), ("cd", 107), ("", 108)]
        assert splitter.offset == 108

    def test_unterminated_line_waits_for_its_newline(self) -> None:
        """A line without a newline is only returned once it is complete, or by flush."""
        splitter = LineSplitter(0, 1024, "a.log")
        assert splitter.feed(b"par") == []
        assert [x.text for x in splitter.feed(b"tial\nnext")] == ["partial"]
        last = splitter.flush()
        assert last is not None and (last.text, last.end) == ("next", 12)
        assert splitter.flush() is None

    def test_invalid_utf8_is_replaced_and_flagged(self) -> None:
        """Bad bytes become U+FFFD and the line is flagged; good lines are not."""
        lines = LineSplitter(0, 1024, "a.log").feed(b"ok \xc3\xa9\nbad \xff\xfe\n")
        assert [(x.text, x.invalid_utf8) for x in lines] == [
            ("ok é", False),
            ("bad \ufffd\ufffd", True),
        ]

    def test_long_line_becomes_a_placeholder(self) -> None:
        """An over-long line is replaced by text naming file, offset and length."""
        splitter = LineSplitter(0, 8, "/var/log/a.log")
        lines = splitter.feed(b"short\n" + b"x" * 20 + b"\nafter\n")
        assert [x.oversized for x in lines] == [False, True, False]
        assert lines[1].text == "[oversized line: 20 bytes at offset 6 in /var/log/a.log]"
        assert lines[1].end == 27
        assert "x" not in lines[1].text.split("in ")[0]
        assert lines[2].text == "after"

    def test_long_line_across_chunks_is_not_buffered(self) -> None:
        """Fed in pieces, an over-long line is counted, not kept, and still reported once."""
        splitter = LineSplitter(0, 8, "a.log")
        for _ in range(10):
            assert splitter.feed(b"y" * 5) == []
        assert len(splitter._buf) == 0
        lines = splitter.feed(b"y\nz\n")
        assert [(x.text, x.oversized) for x in lines] == [
            ("[oversized line: 51 bytes at offset 0 in a.log]", True),
            ("z", False),
        ]

    def test_skip_state_does_not_leak_into_the_next_long_line(self) -> None:
        """Each over-long line reports its own length, however the chunks fall."""
        splitter = LineSplitter(0, 8, "a.log")
        assert splitter.feed(b"x" * 20) == []
        first = splitter.feed(b"\n")
        second = splitter.feed(b"y" * 10 + b"\n")
        assert [x.text for x in first + second] == [
            "[oversized line: 20 bytes at offset 0 in a.log]",
            "[oversized line: 10 bytes at offset 21 in a.log]",
        ]

    def test_line_at_the_limit_is_kept(self) -> None:
        """A line exactly max_bytes long is a normal line."""
        lines = LineSplitter(0, 4, "a.log").feed(b"abcd\n")
        assert [(x.text, x.oversized) for x in lines] == [("abcd", False)]
