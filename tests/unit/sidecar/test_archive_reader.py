"""Reading archive files back: plaintext multi-member gzip and encrypted files."""

from __future__ import annotations

import gzip
import os

import pytest

from sidecar.archive.format import (
    ArchiveFormatError,
    Encoder,
    FrameAuthenticationError,
    TruncatedTailError,
    UnknownKeyError,
    pack_lines,
)
from sidecar.archive.keys import ArchiveKey
from sidecar.archive.reader import CHUNK_BYTES, iter_lines, read_lines

KEY = ArchiveKey.from_bytes(bytes(range(32)))
RING = {KEY.key_id: KEY}


def collect(path, ring=None, **kw):
    """Return (records yielded, error raised or None)."""
    got = []
    try:
        for line in iter_lines(path, ring, **kw):
            got.append(line)
    except ArchiveFormatError as exc:
        return got, exc
    return got, None


def encrypted(batches):
    encoder = Encoder(KEY)
    data, ends = encoder.header, []
    for batch in batches:
        data += encoder.frame(pack_lines(batch))
        ends.append(len(data))
    return data, ends


class TestPlaintext:
    def test_reads_every_member(self, tmp_path):
        """Records of every gzip member come back in order, without newlines."""
        path = tmp_path / "a.jsonl.gz"
        path.write_bytes(pack_lines([b'{"a":1}', b'{"b":2}']) + pack_lines([b'{"c":3}']))
        assert collect(path) == ([b'{"a":1}', b'{"b":2}', b'{"c":3}'], None)

    def test_reads_gzip_module_output(self, tmp_path):
        """A file written by the gzip module (name, mtime in the header) reads too."""
        path = tmp_path / "b.jsonl.gz"
        with gzip.open(path, "wb") as f:
            f.write(b'{"x":1}\n{"y":2}\n')
        assert collect(path) == ([b'{"x":1}', b'{"y":2}'], None)

    def test_truncated_last_member(self, tmp_path):
        """A cut final member is reported at its start; earlier members are yielded first."""
        first = pack_lines([b'{"a":1}'])
        path = tmp_path / "c.jsonl.gz"
        path.write_bytes(first + pack_lines([b'{"b":2}', b'{"c":3}'])[:-3])
        got, error = collect(path)
        assert got == [b'{"a":1}']
        assert isinstance(error, TruncatedTailError)
        assert error.offset == len(first)
        assert str(error).startswith(f"{path}: truncated tail at offset {len(first)}")

    def test_zero_filled_tail(self, tmp_path):
        """Zero bytes after the last member are a truncated tail, not damage."""
        member = pack_lines([b"{}"])
        path = tmp_path / "d.jsonl.gz"
        path.write_bytes(member + bytes(5000))
        got, error = collect(path)
        assert got == [b"{}"] and isinstance(error, TruncatedTailError)

    def test_damaged_member_is_not_truncation(self, tmp_path):
        """A corrupted member in the middle raises a format error that is not a torn tail."""
        first = pack_lines([b'{"a":1}'])
        second = bytearray(pack_lines([b'{"b":2}']))
        second[-6] ^= 0xFF  # inside the CRC-32 trailer
        path = tmp_path / "e.jsonl.gz"
        path.write_bytes(first + bytes(second) + pack_lines([b"{}"]))
        got, error = collect(path)
        assert got == [b'{"a":1}']
        assert isinstance(error, ArchiveFormatError)
        assert not isinstance(error, TruncatedTailError)
        assert error.offset == len(first)

    def test_not_an_archive(self, tmp_path):
        """A text file is refused as neither gzip nor encrypted."""
        path = tmp_path / "f.jsonl.gz"
        path.write_bytes(b'{"plain":"json"}\n')
        got, error = collect(path)
        assert got == [] and error is not None and "not a gzip" in str(error)

    def test_inflate_cap(self, tmp_path):
        """A member inflating past max_member_bytes is refused."""
        path = tmp_path / "g.jsonl.gz"
        path.write_bytes(pack_lines([b"0" * 200_000]))
        got, error = collect(path, max_member_bytes=50_000)
        assert got == [] and error is not None and "inflates past" in str(error)

    def test_empty_file(self, tmp_path):
        """An empty file has no records and no error (a crash right after creating it)."""
        path = tmp_path / "h.jsonl.gz"
        path.write_bytes(b"")
        assert collect(path) == ([], None)

    def test_file_larger_than_a_chunk(self, tmp_path):
        """Members that straddle read chunks read back whole."""
        lines = [os.urandom(900).hex().encode() for _ in range(2500)]
        path = tmp_path / "i.jsonl.gz"
        path.write_bytes(b"".join(pack_lines(lines[i : i + 700]) for i in range(0, 2500, 700)))
        assert path.stat().st_size > 2 * CHUNK_BYTES
        assert collect(path) == (lines, None)


class TestEncrypted:
    def test_reads_frames(self, tmp_path):
        """An encrypted file yields every record of every frame with the right key."""
        data, _ = encrypted([[b'{"a":1}'], [b'{"b":2}', b'{"c":3}']])
        path = tmp_path / "a.jsonl.gz.enc"
        path.write_bytes(data)
        assert collect(path, RING) == ([b'{"a":1}', b'{"b":2}', b'{"c":3}'], None)

    def test_content_not_name_decides(self, tmp_path):
        """An encrypted file named .jsonl.gz is still decrypted."""
        data, _ = encrypted([[b"{}"]])
        path = tmp_path / "renamed.jsonl.gz"
        path.write_bytes(data)
        assert collect(path, RING) == ([b"{}"], None)

    def test_unknown_key(self, tmp_path):
        """Without the key (or with no keyring) the reader reports the unknown key id."""
        data, _ = encrypted([[b"{}"]])
        path = tmp_path / "b.jsonl.gz.enc"
        path.write_bytes(data)
        other = ArchiveKey.from_bytes(os.urandom(32))
        for ring in (None, {other.key_id: other}):
            got, error = collect(path, ring)
            assert got == [] and isinstance(error, UnknownKeyError)
            assert KEY.key_id in str(error) and str(path) in str(error)

    def test_authentication_failure_at_frame_k(self, tmp_path):
        """A damaged frame 1 yields frame 0, then names frame 1 and its offset."""
        data, ends = encrypted([[b"a"], [b"b"], [b"c"]])
        damaged = bytearray(data)
        damaged[ends[0] + 30] ^= 1
        path = tmp_path / "c.jsonl.gz.enc"
        path.write_bytes(bytes(damaged))
        got, error = collect(path, RING)
        assert got == [b"a"]
        assert isinstance(error, FrameAuthenticationError)
        assert f"frame 1 at offset {ends[0]}" in str(error)

    def test_truncated_tail(self, tmp_path):
        """A file cut inside the last frame yields the earlier frames, then the offset."""
        data, ends = encrypted([[b"a"], [b"b"]])
        path = tmp_path / "d.jsonl.gz.enc"
        path.write_bytes(data[: ends[1] - 1])
        got, error = collect(path, RING)
        assert got == [b"a"]
        assert isinstance(error, TruncatedTailError)
        assert f"truncated tail at offset {ends[0]}" in str(error)

    def test_truncated_header(self, tmp_path):
        """A file cut inside its header is a truncated tail at offset 0."""
        data, _ = encrypted([[b"a"]])
        path = tmp_path / "e.jsonl.gz.enc"
        path.write_bytes(data[:20])
        got, error = collect(path, RING)
        assert got == [] and isinstance(error, TruncatedTailError) and error.offset == 0

    def test_read_lines_from_memory(self):
        """read_lines accepts the bytes split anywhere, here one byte at a time."""
        data, _ = encrypted([[b"x", b"y"]])
        pieces = [data[i : i + 1] for i in range(len(data))]
        assert list(read_lines(pieces, RING)) == [b"x", b"y"]

    def test_missing_file(self, tmp_path):
        """A missing file raises OSError, not an archive error."""
        with pytest.raises(FileNotFoundError):
            list(iter_lines(tmp_path / "nope.jsonl.gz"))
