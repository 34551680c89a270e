"""The encrypted archive format: layout, authentication, truncation, gzip members."""

from __future__ import annotations

import os
import struct
import zlib

import pytest

from sidecar.archive.format import (
    MAGIC,
    MAX_FRAME_BYTES,
    MAX_PLAINTEXT_BYTES,
    ArchiveFormatError,
    Decoder,
    Encoder,
    FrameAuthenticationError,
    TruncatedTailError,
    UnknownKeyError,
    decode_frames,
    pack_lines,
    split_lines,
    unpack_lines,
)
from sidecar.archive.keys import ArchiveKey

KEY = ArchiveKey.from_bytes(bytes(range(32)))
RING = {KEY.key_id: KEY}
SECRET = b'{"msg":"order 7f3c9a1be2d44c08 shipped to Zanzibar"}'


def encode(batches: list[list[bytes]], key: ArchiveKey = KEY) -> tuple[bytes, list[int]]:
    """Return a file's bytes and the offset where each frame ends."""
    encoder = Encoder(key)
    data = encoder.header
    ends = []
    for batch in batches:
        data += encoder.frame(pack_lines(batch))
        ends.append(len(data))
    return data, ends


def decode(data: bytes, ring=RING) -> list[list[bytes]]:
    return [unpack_lines(p) for p in decode_frames([data], ring)]


class TestLayout:
    def test_header_bytes(self):
        """The header is magic, version 1, key id length and id, then a 16-byte file id."""
        header = Encoder(KEY).header
        assert header[:8] == MAGIC == b"\x89PCIARC\n"
        assert header[8] == 1
        assert header[9] == 16
        assert header[10:26] == KEY.key_id.encode()
        assert len(header) == 42
        assert Encoder(KEY).header[26:] != header[26:]  # random file id

    def test_frame_bytes(self):
        """A frame is n, n XOR 0xFFFFFFFF, a 12-byte nonce, then ciphertext and 16-byte tag."""
        member = pack_lines([SECRET])
        frame = Encoder(KEY).frame(member)
        n, check = struct.unpack(">II", frame[:8])
        assert n == len(frame) - 8 == 12 + len(member) + 16
        assert check == n ^ 0xFFFFFFFF

    def test_nonces_are_fresh(self):
        """Two frames of the same plaintext differ (random nonce)."""
        encoder = Encoder(KEY)
        member = pack_lines([SECRET])
        assert encoder.frame(member)[8:20] != encoder.frame(member)[8:20]

    def test_no_plaintext_in_encrypted_bytes(self):
        """Neither the record nor any 8-byte piece of it, nor its gzip form, is in the file."""
        data, _ = encode([[SECRET] * 3])
        assert SECRET not in data and pack_lines([SECRET] * 3) not in data
        for i in range(len(SECRET) - 8):
            assert SECRET[i : i + 8] not in data

    def test_oversized_plaintext_refused(self):
        """The encoder refuses a plaintext larger than the frame cap."""
        with pytest.raises(ValueError, match="exceeds"):
            Encoder(KEY).frame(bytes(MAX_PLAINTEXT_BYTES + 1))


class TestDecoder:
    def test_roundtrip(self):
        """Batches come back in order, including an empty batch."""
        batches = [[SECRET, b"{}"], [], [b'{"n":3}']]
        assert decode(encode(batches)[0]) == batches

    def test_byte_by_byte_feeding(self):
        """Feeding one byte at a time gives the same frames as feeding the whole file."""
        data, _ = encode([[b"a"], [b"b", b"c"]])
        decoder = Decoder(RING)
        got = []
        for i in range(len(data)):
            decoder.feed(data[i : i + 1])
            while (plain := decoder.next_frame()) is not None:
                got.append(unpack_lines(plain))
        decoder.end()
        assert got == [[b"a"], [b"b", b"c"]]
        assert decoder.key_id == KEY.key_id and decoder.frames == 2

    def test_empty_input_is_empty_file(self):
        """An empty file decodes to no frames and no error."""
        assert decode(b"") == []

    def test_unknown_key(self):
        """A file of another key raises UnknownKeyError naming the key id."""
        other = ArchiveKey.from_bytes(os.urandom(32))
        data, _ = encode([[b"x"]], key=other)
        with pytest.raises(UnknownKeyError, match=other.key_id):
            decode(data)

    def test_bad_magic_and_version(self):
        """A wrong magic or an unknown version is a format error, not a truncation."""
        data, _ = encode([[b"x"]])
        with pytest.raises(ArchiveFormatError, match="magic") as info:
            decode(b"\x89PNG\r\n\x1a\n" + data[8:])
        assert not isinstance(info.value, TruncatedTailError)
        with pytest.raises(ArchiveFormatError, match="version 2"):
            decode(data[:8] + b"\x02" + data[9:])

    def test_truncated_tail_offset(self):
        """A file cut inside frame 1 yields frame 0, then reports the offset frame 1 starts."""
        data, ends = encode([[b"a"], [b"b"]])
        decoder = Decoder(RING)
        decoder.feed(data[:-5])
        assert unpack_lines(decoder.next_frame() or b"") == [b"a"]
        assert decoder.next_frame() is None
        with pytest.raises(TruncatedTailError, match=f"truncated tail at offset {ends[0]}"):
            decoder.end()

    def test_zero_filled_tail_is_truncation(self):
        """Zero bytes after the last frame are a torn tail; zeros followed by data are not."""
        data, ends = encode([[b"a"]])
        with pytest.raises(TruncatedTailError, match=f"offset {ends[0]}"):
            decode(data + bytes(4096))
        with pytest.raises(FrameAuthenticationError):
            decode(data + bytes(100) + b"\x01")

    def test_reordered_frames_fail(self):
        """Swapping two frames fails authentication at the first swapped one."""
        data, ends = encode([[b"a"], [b"b"], [b"c"]])
        h = len(Encoder(KEY).header)
        swapped = data[:h] + data[ends[0] : ends[1]] + data[h : ends[0]] + data[ends[1] :]
        with pytest.raises(FrameAuthenticationError, match="frame 0"):
            decode(swapped)

    def test_dropped_middle_frame_fails(self):
        """Removing a frame from the middle fails authentication at its position."""
        data, ends = encode([[b"a"], [b"b"], [b"c"]])
        got = []
        with pytest.raises(FrameAuthenticationError, match="frame 1"):
            for plain in decode_frames([data[: ends[0]] + data[ends[1] :]], RING):
                got.append(unpack_lines(plain))
        assert got == [[b"a"]]

    def test_frame_moved_between_files_fails(self):
        """A frame appended to another file of the same key fails authentication."""
        first, _ = encode([[b"a"]])
        second, ends = encode([[b"b"]])
        h = len(Encoder(KEY).header)
        with pytest.raises(FrameAuthenticationError, match="frame 1"):
            decode(first + second[h : ends[0]])
        with pytest.raises(FrameAuthenticationError, match="frame 0"):
            decode(first[:h] + second[h:])

    def test_damaged_length_is_not_truncation(self):
        """A length field whose check does not match is damage, even at the end of file."""
        data, _ = encode([[b"a"]])
        h = len(Encoder(KEY).header)
        damaged = bytearray(data)
        damaged[h + 3] ^= 0x40  # n grows past the end of the file
        with pytest.raises(FrameAuthenticationError, match="length field"):
            decode(bytes(damaged))

    def test_huge_length_rejected_before_waiting(self):
        """A checked length past the cap is refused at once, without buffering for it."""
        header = Encoder(KEY).header
        n = MAX_FRAME_BYTES + 1
        decoder = Decoder(RING)
        decoder.feed(header + struct.pack(">II", n, n ^ 0xFFFFFFFF))
        with pytest.raises(FrameAuthenticationError, match="outside"):
            decoder.next_frame()

    def test_error_names_path_after_at(self):
        """at() puts the file name in front of the message and keeps the offset."""
        error = FrameAuthenticationError("authentication failed", 42, frame=3).at("a/b.enc")
        assert str(error) == "a/b.enc: frame 3 at offset 42: authentication failed"
        assert isinstance(error, FrameAuthenticationError) and error.offset == 42


class TestGzipMembers:
    def test_pack_unpack(self):
        """pack_lines ends each record with a newline inside one gzip member."""
        member = pack_lines([b"a", b"", b"c"])
        assert zlib.decompress(member, 31) == b"a\n\nc\n"
        assert unpack_lines(member) == [b"a", b"", b"c"]

    def test_deterministic(self):
        """The same batch always compresses to the same bytes (mtime is 0)."""
        assert pack_lines([SECRET]) == pack_lines([SECRET])

    def test_newline_in_record_refused(self):
        """A record with a newline byte is refused without echoing the record."""
        with pytest.raises(ValueError, match="record 1") as info:
            pack_lines([b"ok", b"secret\nvalue"])
        assert "secret" not in str(info.value)

    def test_unpack_needs_exactly_one_member(self):
        """Two members, a cut member or garbage are refused."""
        member = pack_lines([b"a"])
        for bad in (member + member, member[:-1], b"garbage"):
            with pytest.raises(ValueError):
                unpack_lines(bad)

    def test_inflate_cap(self):
        """A member that inflates past the cap is refused (decompression bombs)."""
        with pytest.raises(ValueError, match="inflates past"):
            unpack_lines(pack_lines([b"0" * 100_000]), max_bytes=10_000)

    def test_split_lines_tolerates_missing_final_newline(self):
        """Text without a final newline still yields its last record."""
        assert split_lines(b"a\nb") == [b"a", b"b"]
        assert split_lines(b"") == []
