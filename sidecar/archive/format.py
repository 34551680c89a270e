r"""The encrypted archive file format, sans-I/O: bytes in, bytes out, no files.

An encrypted archive file (``*.jsonl.gz.enc``) is a header followed by frames. Each frame
holds one batch: a complete gzip member of JSON lines, encrypted with AES-256-GCM. The
file is append-only: a writer appends whole frames and fsyncs, and never rewrites
anything, so a crash can only leave a *torn tail* (a prefix of the last frame).

Layout, byte by byte (integers are unsigned big-endian)::

    Header, 26 + L bytes (L = 16 for keys made by ArchiveKey):
      offset  size  field
      0       8     magic  89 50 43 49 41 52 43 0A  (b"\x89PCIARC\n")
      8       1     version = 1
      9       1     L = length of the key id, 1..64
      10      L     key id, ASCII lowercase hex (see sidecar.archive.keys)
      10+L    16    file id, random per file

    Frame k (k = 0, 1, 2, ...), right after the header or frame k-1:
      0       4     n = size of nonce + ciphertext + tag, 28 .. 64 MiB + 28
      4       4     n XOR 0xFFFFFFFF (length check)
      8       12    nonce, random per frame
      20      n-28  ciphertext
      n-8     16    GCM tag

Encryption of frame k::

    file_key  = HKDF-SHA256(ikm=archive key, salt=file id,
                            info=b"pci-redactor archive v1 file key", length=32)
    aad       = header bytes || k as 8 bytes
    ciphertext || tag = AES-256-GCM(file_key, nonce, plaintext, aad)
    plaintext = one gzip member (RFC 1952) of records, each followed by b"\n"

Why each piece:

* The header is in every frame's AAD and the file id salts the file key, so a frame
  copied from another file (even one with the same key) fails authentication; the
  sequence number in the AAD makes reordering or dropping a frame from the middle fail.
  Dropping *whole frames at the end* is indistinguishable from a writer that crashed
  before writing them; the format accepts that, since files are appended to for hours
  and are never closed with a trailer.
* Per-file keys keep random 96-bit nonces far from their collision bound: the GCM limit
  of about 2**32 random nonces applies per file, not per archive key.
* The length check catches a damaged length field before it is trusted, so flipping
  any byte of a frame is reported as damage and never mistaken for a torn tail, and a
  corrupt length cannot make a reader wait for or allocate gigabytes (frames are capped
  at :data:`MAX_FRAME_BYTES`).
* A torn tail is reported as :class:`TruncatedTailError` with the offset where the last
  complete frame ended: fewer bytes than a frame header, fewer than its length says, or
  only zero bytes (a filesystem that extended the file before the data landed). Every
  frame before it is good. Anything else is :class:`FrameAuthenticationError` (tampering,
  corruption) or :class:`UnknownKeyError` (the reader lacks the key).

Compression happens before encryption, so frame sizes reveal how well a batch
compressed; records are redacted before they get here, which keeps that acceptable.
"""

from __future__ import annotations

import os
import re
import struct
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sidecar.archive.keys import ArchiveKey
from sidecar.errors import ArchiveError

__all__ = [
    "FILE_ID_BYTES",
    "MAGIC",
    "MAX_FRAME_BYTES",
    "MAX_MEMBER_BYTES",
    "MAX_PLAINTEXT_BYTES",
    "VERSION",
    "ArchiveFormatError",
    "Decoder",
    "Encoder",
    "FrameAuthenticationError",
    "TruncatedTailError",
    "UnknownKeyError",
    "decode_frames",
    "pack_lines",
    "split_lines",
    "unpack_lines",
]

MAGIC = b"\x89PCIARC\n"
VERSION = 1
FILE_ID_BYTES = 16
NONCE_BYTES = 12
TAG_BYTES = 16
#: Cap on a frame's ``n`` (nonce + ciphertext + tag): bounds what a reader allocates.
MAX_FRAME_BYTES = 64 * 1024 * 1024 + NONCE_BYTES + TAG_BYTES
#: Largest plaintext (gzip member) one frame can carry.
MAX_PLAINTEXT_BYTES = MAX_FRAME_BYTES - NONCE_BYTES - TAG_BYTES
#: Default cap on one member's decompressed size: a small member cannot inflate past it.
MAX_MEMBER_BYTES = 256 * 1024 * 1024

_PREFIX = struct.Struct(">II")
_MIN_FRAME = NONCE_BYTES + TAG_BYTES
_MAX_KEY_ID = 64
_KEY_ID = re.compile(rb"[0-9a-f]+")
_INFO = b"pci-redactor archive v1 file key"


class ArchiveFormatError(ArchiveError):
    """A file is not a readable archive; says where (offset, frame), never what it held.

    Args:
        detail: what is wrong, without record contents.
        offset: byte offset in the file where the problem starts.
        frame: index of the frame (or gzip member) concerned, when there is one.
        path: the file, when known (readers add it with :meth:`at`).
    """

    def __init__(
        self, detail: str, offset: int, *, frame: int | None = None, path: str | None = None
    ) -> None:
        self.detail = detail
        self.offset = offset
        self.frame = frame
        self.path = path
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.path}: " if self.path else ""
        if self.frame is not None:
            return f"{where}frame {self.frame} at offset {self.offset}: {self.detail}"
        return f"{where}offset {self.offset}: {self.detail}"

    def at(self, path: str) -> ArchiveFormatError:
        """Return the same error naming ``path``."""
        return type(self)(self.detail, self.offset, frame=self.frame, path=path)


class TruncatedTailError(ArchiveFormatError):
    """The file ends inside a frame or member: a torn final write, not tampering.

    Everything before :attr:`offset` was complete and has been returned already.
    """

    def _text(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}truncated tail at offset {self.offset} ({self.detail})"


class FrameAuthenticationError(ArchiveFormatError):
    """A frame failed authentication or its length check: tampered or corrupted."""


class UnknownKeyError(ArchiveFormatError):
    """The file was encrypted with a key id the reader does not hold."""


def _file_aead(key: ArchiveKey, file_id: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=file_id, info=_INFO)
    return AESGCM(hkdf.derive(key.key))


def _aad(header: bytes, seq: int) -> bytes:
    return header + seq.to_bytes(8, "big")


class Encoder:
    """Builds one encrypted file: :attr:`header` first, then :meth:`frame` per batch.

    One encoder per file: it owns the file id and the frame counter. If writing a frame
    fails part-way, abandon the file (start a new encoder and file); appending after a
    torn frame would hide every later frame from readers.

    Args:
        key: the archive key to encrypt with.
        random: source of random bytes for the file id and nonces; ``os.urandom``
            unless a test needs determinism.
    """

    def __init__(self, key: ArchiveKey, random: Callable[[int], bytes] = os.urandom) -> None:
        kid = key.key_id.encode("ascii")
        file_id = random(FILE_ID_BYTES)
        self.header = MAGIC + bytes([VERSION, len(kid)]) + kid + file_id
        self._aead = _file_aead(key, file_id)
        self._random = random
        self._seq = 0

    def frame(self, plaintext: bytes) -> bytes:
        """Encrypt the next frame.

        Args:
            plaintext: one gzip member (see :func:`pack_lines`).

        Returns:
            The frame's bytes, to append after the header and the previous frames.

        Raises:
            ValueError: ``plaintext`` is larger than :data:`MAX_PLAINTEXT_BYTES`.
        """
        if len(plaintext) > MAX_PLAINTEXT_BYTES:
            raise ValueError(f"frame plaintext of {len(plaintext)} bytes exceeds the cap")
        nonce = self._random(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(self.header, self._seq))
        self._seq += 1
        n = NONCE_BYTES + len(sealed)
        return _PREFIX.pack(n, n ^ 0xFFFFFFFF) + nonce + sealed


class Decoder:
    """Incremental reader of one encrypted file: :meth:`feed` bytes, take frames.

    Feed the file's bytes in pieces of any size; :meth:`next_frame` returns each frame's
    plaintext once it is complete and authenticated. Call :meth:`end` at end of file: it
    raises :class:`TruncatedTailError` if the file stopped inside a frame. Errors are not
    recoverable: after one, stop using the decoder.

    Args:
        keyring: keys by key id; the header's key id picks one.
        max_frame_bytes: largest ``n`` accepted (never more than the format's cap).
    """

    def __init__(
        self, keyring: Mapping[str, ArchiveKey], *, max_frame_bytes: int = MAX_FRAME_BYTES
    ) -> None:
        self._keyring = keyring
        self._max = min(max_frame_bytes, MAX_FRAME_BYTES)
        self._buf = bytearray()
        self._offset = 0  # file offset of self._buf[0]
        self._header: bytes | None = None
        self._aead: AESGCM | None = None
        self._seq = 0
        self._zero_tail: int | None = None  # offset where an all-zero tail started
        self.key_id: str | None = None

    @property
    def frames(self) -> int:
        """Frames decoded so far (the index of the next frame)."""
        return self._seq

    @property
    def offset(self) -> int:
        """File offset of the next frame (0 before the header is read)."""
        return self._offset

    def feed(self, data: bytes) -> None:
        """Append the next bytes of the file."""
        if self._zero_tail is not None:
            if data.count(0) != len(data):
                raise FrameAuthenticationError(
                    "zero bytes followed by data", self._zero_tail, frame=self._seq
                )
            return
        self._buf += data

    def next_frame(self) -> bytes | None:
        """Return the next complete frame's plaintext, or None until more bytes come.

        Raises:
            ArchiveFormatError: bad magic or version (at offset 0..9).
            UnknownKeyError: the header names a key id not in the keyring.
            FrameAuthenticationError: frame damaged, tampered with, moved or reordered.
        """
        if self._header is None and not self._parse_header():
            return None
        buf = self._buf
        if self._zero_tail is not None or len(buf) < _PREFIX.size:
            return None
        n, check = _PREFIX.unpack_from(buf)
        if check != n ^ 0xFFFFFFFF:
            if buf.count(0) == len(buf):
                self._zero_tail = self._offset
                buf.clear()
                return None
            raise FrameAuthenticationError("length field damaged", self._offset, frame=self._seq)
        if not _MIN_FRAME <= n <= self._max:
            raise FrameAuthenticationError(
                f"frame length {n} outside {_MIN_FRAME}..{self._max}",
                self._offset,
                frame=self._seq,
            )
        end = _PREFIX.size + n
        if len(buf) < end:
            return None
        assert self._aead is not None and self._header is not None
        nonce = bytes(buf[8:20])
        try:
            plain = self._aead.decrypt(nonce, bytes(buf[20:end]), _aad(self._header, self._seq))
        except InvalidTag:
            raise FrameAuthenticationError(
                "authentication failed (damaged, tampered with, reordered or moved)",
                self._offset,
                frame=self._seq,
            ) from None
        del buf[:end]
        self._offset += end
        self._seq += 1
        return plain

    def end(self) -> None:
        """Declare end of file.

        Raises:
            TruncatedTailError: bytes remain that do not form a whole frame (or header).
        """
        if self._zero_tail is not None:
            raise TruncatedTailError("zero-filled", self._zero_tail, frame=self._seq)
        if self._buf:
            what = "incomplete header" if self._header is None else "incomplete frame"
            raise TruncatedTailError(what, self._offset, frame=self._seq)

    def _parse_header(self) -> bool:
        buf = self._buf
        k = min(len(buf), len(MAGIC))
        if buf[:k] != MAGIC[:k]:
            raise ArchiveFormatError("not an encrypted archive (bad magic)", 0)
        if len(buf) < 10:
            return False
        if buf[8] != VERSION:
            raise ArchiveFormatError(f"unsupported format version {buf[8]}", 8)
        if not 1 <= buf[9] <= _MAX_KEY_ID:
            raise ArchiveFormatError(f"key id length {buf[9]} outside 1..{_MAX_KEY_ID}", 9)
        size = 10 + buf[9] + FILE_ID_BYTES
        if len(buf) < size:
            return False
        raw_id = bytes(buf[10 : 10 + buf[9]])
        if not _KEY_ID.fullmatch(raw_id):
            raise ArchiveFormatError("key id is not lowercase hex", 10)
        key_id = raw_id.decode("ascii")
        key = self._keyring.get(key_id)
        if key is None:
            raise UnknownKeyError(
                f"unknown key id {key_id}: the reader needs the key that wrote this file "
                "(current key or old keys)",
                10,
            )
        self._header = bytes(buf[:size])
        self._aead = _file_aead(key, self._header[-FILE_ID_BYTES:])
        self.key_id = key_id
        del buf[:size]
        self._offset = size
        return True


def decode_frames(chunks: Iterable[bytes], keyring: Mapping[str, ArchiveKey]) -> Iterator[bytes]:
    """Yield every frame's plaintext from the pieces of one file, then check the end.

    Args:
        chunks: the file's bytes, split anywhere.
        keyring: keys by key id.

    Yields:
        Each frame's plaintext, in order; all good frames come before any error.

    Raises:
        ArchiveFormatError: as :meth:`Decoder.next_frame` and :meth:`Decoder.end`.
    """
    decoder = Decoder(keyring)
    for chunk in chunks:
        decoder.feed(chunk)
        while (plain := decoder.next_frame()) is not None:
            yield plain
    decoder.end()


def pack_lines(lines: Iterable[bytes], level: int = 6) -> bytes:
    r"""Return one gzip member holding ``lines``, each followed by ``b"\n"``.

    The member's mtime is 0 so equal batches compress to equal bytes.

    Raises:
        ValueError: a line contains a newline byte (it would read back as two records).
    """
    lines = list(lines)
    body = b"\n".join(lines) + b"\n" if lines else b""
    if body.count(b"\n") != len(lines):  # one C pass instead of a test per line
        i = next(i for i, line in enumerate(lines) if b"\n" in line)
        raise ValueError(f"record {i} of the batch contains a newline byte")
    deflate = zlib.compressobj(level, zlib.DEFLATED, 31)
    return deflate.compress(body) + deflate.flush()


def split_lines(data: bytes) -> list[bytes]:
    """Split a member's text into records (a missing final newline is tolerated)."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def unpack_lines(member: bytes, *, max_bytes: int = MAX_MEMBER_BYTES) -> list[bytes]:
    """Return the records of exactly one gzip member (the inverse of :func:`pack_lines`).

    Raises:
        ValueError: not exactly one valid gzip member, or it inflates past ``max_bytes``.
    """
    inflate = zlib.decompressobj(31)
    try:
        data = inflate.decompress(member, max_bytes + 1)
    except zlib.error as exc:
        raise ValueError(f"not a valid gzip member ({exc})") from None
    if len(data) > max_bytes:
        raise ValueError(f"gzip member inflates past {max_bytes} bytes")
    if not inflate.eof or inflate.unused_data:
        raise ValueError("not exactly one complete gzip member")
    return split_lines(data)
