"""Archive format properties: round trip, torn tails, tampering, wrong keys."""

from __future__ import annotations

import itertools
import os

from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.archive.format import (
    ArchiveFormatError,
    Encoder,
    FrameAuthenticationError,
    TruncatedTailError,
    UnknownKeyError,
    decode_frames,
    pack_lines,
    unpack_lines,
)
from sidecar.archive.keys import ArchiveKey
from sidecar.archive.reader import read_lines

KEY = ArchiveKey.from_bytes(bytes(range(32)))
RING = {KEY.key_id: KEY}

lines = st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"_"))
batches_st = st.lists(st.lists(lines, max_size=5), max_size=5)


def encode(batches: list[list[bytes]]) -> tuple[bytes, int, list[int]]:
    """Return the file, the header length and the offset where each frame ends."""
    encoder = Encoder(KEY)
    data, ends = encoder.header, []
    for batch in batches:
        data += encoder.frame(pack_lines(batch))
        ends.append(len(data))
    return data, len(encoder.header), ends


def decode(pieces: list[bytes], ring=RING) -> tuple[list[list[bytes]], Exception | None]:
    """Return the batches decoded before an error, and the error (or None)."""
    got: list[list[bytes]] = []
    try:
        for plain in decode_frames(pieces, ring):
            got.append(unpack_lines(plain))
    except ArchiveFormatError as exc:
        return got, exc
    return got, None


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@given(batches_st, st.lists(st.integers(min_value=0), max_size=6))
def test_roundtrip_any_split(batches, cuts):
    """decode(encode(batches)) == batches, however the bytes are split into pieces."""
    data, _, _ = encode(batches)
    assert decode(split(data, cuts)) == (batches, None)


@settings(max_examples=40)
@given(batches_st)
def test_truncation_at_every_offset(batches):
    """A file cut at any byte yields a prefix of the batches and, unless the cut falls on a
    frame boundary, a truncated-tail error at the last boundary; never garbage or an
    authentication error."""
    data, header, ends = encode(batches)
    for cut in range(len(data) + 1):
        got, error = decode([data[:cut]])
        complete = [e for e in ends if e <= cut]
        assert got == batches[: len(complete)]
        if cut == 0 or cut in (header, *ends):
            assert error is None
        else:
            assert isinstance(error, TruncatedTailError), (cut, error)
            assert error.offset == (complete[-1] if complete else header if cut > header else 0)


@settings(max_examples=60)
@given(batches_st.filter(bool), st.data())
def test_flipping_any_frame_byte_fails_authentication(batches, data):
    """Changing any byte after the header raises an authentication error at that frame,
    after yielding exactly the frames before it."""
    raw, header, ends = encode(batches)
    at = data.draw(st.integers(min_value=header, max_value=len(raw) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    damaged = bytearray(raw)
    damaged[at] ^= flip
    got, error = decode([bytes(damaged)])
    frame = next(i for i, end in enumerate(ends) if at < end)
    assert isinstance(error, FrameAuthenticationError), error
    assert error.frame == frame
    assert got == batches[:frame]


@settings(max_examples=60)
@given(batches_st, st.data())
def test_flipping_any_header_byte_yields_nothing(batches, data):
    """Changing any header byte yields no record and raises an archive error that is
    not a truncated tail, unless the file has no frame to check the header against."""
    raw, header, _ = encode(batches)
    at = data.draw(st.integers(min_value=0, max_value=header - 1))
    damaged = bytearray(raw)
    damaged[at] ^= data.draw(st.integers(min_value=1, max_value=255))
    got, error = decode([bytes(damaged)])
    assert got == []
    if batches and at < header - 16:  # magic, version, key id
        assert error is not None and not isinstance(error, TruncatedTailError)
    if batches and at >= header - 16:  # file id: the file key changes
        assert isinstance(error, FrameAuthenticationError)


@given(batches_st)
def test_wrong_key_is_unknown_key(batches):
    """A reader holding only other keys gets UnknownKeyError and no records."""
    data, _, _ = encode(batches)
    other = ArchiveKey.from_bytes(os.urandom(32))
    got, error = decode([data], {other.key_id: other})
    assert got == [] and isinstance(error, UnknownKeyError)


@settings(max_examples=40)
@given(st.lists(st.lists(lines, min_size=1, max_size=5), max_size=4))
def test_plaintext_truncation_yields_whole_members(batches):
    """A plaintext file cut anywhere yields the records of whole members only, then a
    truncated-tail error unless the cut is on a member boundary."""
    members = [pack_lines(b) for b in batches]
    data = b"".join(members)
    ends = [sum(len(m) for m in members[: i + 1]) for i in range(len(members))]
    for cut in range(len(data) + 1):
        got: list[bytes] = []
        error = None
        try:
            got.extend(read_lines([data[:cut]]))
        except ArchiveFormatError as exc:
            error = exc
        complete = len([e for e in ends if e <= cut])
        assert got == [line for b in batches[:complete] for line in b]
        if cut == 0 or cut in ends:
            assert error is None
        else:
            assert isinstance(error, TruncatedTailError), (cut, error)
            assert error.offset == (ends[complete - 1] if complete else 0)
