"""Properties of splitting bytes into lines and joining lines into records.

However a file's bytes arrive (any chunking) the records are the same; and however the
joiner is flushed in between, every line ends up in exactly one record, in order.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.config import MultilineConfig
from sidecar.pipeline.multiline import Joined, Joiner, Line, LineSplitter

MAX_LINE = 40

# Lines that exercise every branch of the default rule, plus noise.
line_texts = st.one_of(
    st.sampled_from(
        [
            "Traceback (most recent call last):",
            '  File "a.py", line 1, in <module>',
            "During handling of the above exception, another exception occurred:",
            "The above exception was the direct cause of the following exception:",
            "ValueError: bad",
            "pkg.mod.Error",
            "",
            '{"a": 1}',
            "2024-01-01 INFO ok",
            "\tindented",
        ]
    ),
    st.text(
        alphabet=st.characters(blacklist_characters="\n", blacklist_categories=["Cs"]),
        max_size=50,
    ),
)
raw_lines = st.one_of(
    line_texts.map(lambda t: t.encode()),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
)
configs = st.sampled_from(
    [
        MultilineConfig(),
        MultilineConfig(max_lines=3),
        MultilineConfig(start=r"^\d{4}-"),
    ]
)


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def run(chunks: list[bytes], config: MultilineConfig) -> list[Joined]:
    splitter = LineSplitter(0, MAX_LINE, "f.log")
    joiner = Joiner(config, max_chars=200)
    out: list[Joined] = []
    for chunk in chunks:
        for line in splitter.feed(chunk):
            out += joiner.feed(line.text, line.end, invalid_utf8=line.invalid_utf8)
    last = splitter.flush()
    if last is not None:
        out += joiner.feed(last.text, last.end, invalid_utf8=last.invalid_utf8)
    final = joiner.flush()
    return [*out, final] if final is not None else out


@settings(max_examples=200)
@given(
    lines=st.lists(raw_lines, max_size=30),
    trailing_newline=st.booleans(),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    config=configs,
)
def test_any_chunking_gives_the_same_records(
    lines: list[bytes], trailing_newline: bool, cuts: list[int], config: MultilineConfig
) -> None:
    """Feeding the bytes whole or cut anywhere yields identical records and offsets."""
    data = b"\n".join(lines) + (b"\n" if trailing_newline and lines else b"")
    whole = run([data], config)
    assert run(chunked(data, cuts), config) == whole
    assert run([data[i : i + 1] for i in range(len(data))], config) == whole
    if trailing_newline:  # one chunk per line: each chunk starts with a fresh line
        assert run([line + b"\n" for line in lines], config) == whole
    if whole:
        assert whole[-1].end == len(data)
    ends = [r.end for r in whole]
    assert ends == sorted(set(ends))


@settings(max_examples=200)
@given(
    lines=st.lists(line_texts, max_size=40),
    flush_after=st.sets(st.integers(min_value=0, max_value=40)),
    config=configs,
)
def test_every_line_lands_in_exactly_one_record(
    lines: list[str], flush_after: set[int], config: MultilineConfig
) -> None:
    """With idle flushes anywhere, records hold each line once, in order, within limits."""
    joiner = Joiner(config)
    records: list[Joined] = []
    for i, line in enumerate(lines):
        records += joiner.feed(line, i + 1)
        if i in flush_after:
            flushed = joiner.flush()
            records += [flushed] if flushed is not None else []
    final = joiner.flush()
    records += [final] if final is not None else []
    rebuilt = [part for r in records for part in r.text.split("\n")]
    assert rebuilt == lines
    assert sum(r.lines for r in records) == len(lines)
    assert all(1 <= r.lines <= config.max_lines for r in records)
    assert [r.end for r in records] == sorted({r.end for r in records})


@settings(max_examples=300)
@given(
    batches=st.lists(
        st.lists(
            st.tuples(line_texts, st.booleans(), st.booleans()).filter(lambda t: "\n" not in t[0]),
            max_size=12,
        ),
        max_size=6,
    ),
    config=configs,
)
def test_feeding_a_batch_equals_feeding_line_by_line(
    batches: list[list[tuple[str, bool, bool]]], config: MultilineConfig
) -> None:
    """``feed_lines`` (with its batch shortcut) gives what ``feed`` gives line by line.

    Records, offsets and flags, and the pending record left for the next batch.
    """
    batched, single = Joiner(config, max_chars=200), Joiner(config, max_chars=200)
    end = 0
    got: list[Joined] = []
    want: list[Joined] = []
    for batch in batches:
        lines = []
        for text, invalid, oversized in batch:
            end += len(text) + 1
            lines.append(Line(text, end, invalid, oversized))
        got += batched.feed_lines(lines)
        for line in lines:
            want += single.feed(*line)
        assert got == want
        assert (batched.pending_lines, batched._in_traceback) == (
            single.pending_lines,
            single._in_traceback,
        )
    assert batched.flush() == single.flush()
