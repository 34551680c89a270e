"""Read archive files back: plaintext ``.jsonl.gz`` and encrypted ``.jsonl.gz.enc``.

Theory of operation: the first byte tells the kinds apart (``0x89`` starts the encrypted
magic, ``0x1f`` a gzip member), so a renamed file still reads. Both kinds are sequences
of batches, one gzip member each, appended by a writer that fsyncs after every batch;
both are read as a stream in bounded chunks, so a file of any size reads in memory
proportional to its largest batch.

A batch's records are yielded only once the whole batch is verified: by its GCM tag for
an encrypted frame, by the gzip CRC-32 and length trailer for a plaintext member. A
batch torn by a crash was never acknowledged by the sink (the writer had not returned),
so the pipeline wrote it again elsewhere; yielding its first records would duplicate
them, or yield damaged ones.

Errors come after every good record: a generator yields all verified batches before it
raises, so ``python -m sidecar decrypt`` can print what is readable and then report the
problem. Every error is an :class:`~sidecar.archive.format.ArchiveFormatError` naming
the file and the offset (and the frame index for encrypted files):
:class:`~sidecar.archive.format.TruncatedTailError` for a torn final write (expected for
the file a crashed process was writing; everything before it was read), and for damage
:class:`~sidecar.archive.format.FrameAuthenticationError` (encrypted) or a plain
:class:`~sidecar.archive.format.ArchiveFormatError` (gzip),
:class:`~sidecar.archive.format.UnknownKeyError` for a missing key.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterable, Iterator, Mapping

from sidecar.archive.format import (
    MAX_MEMBER_BYTES,
    ArchiveFormatError,
    Decoder,
    TruncatedTailError,
    split_lines,
    unpack_lines,
)
from sidecar.archive.keys import ArchiveKey

__all__ = ["CHUNK_BYTES", "iter_lines", "read_lines"]

#: Bytes read from a file at a time.
CHUNK_BYTES = 1024 * 1024
_ENCRYPTED = 0x89


def iter_lines(
    path: str | os.PathLike[str],
    keyring: Mapping[str, ArchiveKey] | None = None,
    *,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> Iterator[bytes]:
    """Yield the records of one archive file, without their trailing newlines.

    Args:
        path: a ``.jsonl.gz`` or ``.jsonl.gz.enc`` file (the content decides which).
        keyring: keys by key id (see :func:`~sidecar.archive.keys.load_keyring`);
            needed for encrypted files only.
        max_member_bytes: cap on one batch's decompressed size (decompression bombs).

    Yields:
        Each record (one JSON object as bytes), in write order. All records of
        verified batches come before any error.

    Raises:
        ArchiveFormatError: the file is damaged, truncated or needs an unknown key;
            the message names ``path`` and an offset, never record contents.
        OSError: the file cannot be opened or read.
    """
    name = os.fspath(path)
    with open(name, "rb") as f:
        chunks = iter(lambda: f.read(CHUNK_BYTES), b"")
        try:
            yield from read_lines(chunks, keyring, max_member_bytes=max_member_bytes)
        except ArchiveFormatError as exc:
            raise exc.at(name) from None


def read_lines(
    chunks: Iterable[bytes],
    keyring: Mapping[str, ArchiveKey] | None = None,
    *,
    max_member_bytes: int = MAX_MEMBER_BYTES,
) -> Iterator[bytes]:
    """Like :func:`iter_lines`, from the bytes of one file split anywhere.

    Useful for standard input or for bytes already in memory; errors carry no path.
    An empty input yields nothing and is not an error.
    """
    pieces = iter(chunks)
    first = b""
    for first in pieces:
        if first:
            break
    if not first:
        return
    rest = _chain(first, pieces)
    if first[0] == _ENCRYPTED:
        yield from _encrypted_lines(rest, keyring or {}, max_member_bytes)
    else:
        yield from _gzip_lines(rest, max_member_bytes)


def _chain(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def _encrypted_lines(
    chunks: Iterable[bytes], keyring: Mapping[str, ArchiveKey], max_bytes: int
) -> Iterator[bytes]:
    decoder = Decoder(keyring)
    for chunk in chunks:
        decoder.feed(chunk)
        while True:
            offset, index = decoder.offset, decoder.frames
            plain = decoder.next_frame()
            if plain is None:
                break
            try:
                lines = unpack_lines(plain, max_bytes=max_bytes)
            except ValueError as exc:
                # Authenticated, so written like this: a writer bug, not tampering.
                raise ArchiveFormatError(f"frame content: {exc}", offset, frame=index) from None
            yield from lines
    decoder.end()


def _gzip_lines(chunks: Iterable[bytes], max_bytes: int) -> Iterator[bytes]:
    """Yield the records of a multi-member gzip stream, one verified member at a time.

    A member that ends the input before its trailer is a torn tail; so is a run of zero
    bytes where a member should start if nothing but zeros follows (a filesystem can
    extend a file before the data of the last write lands).
    """
    offset = 0  # file offset of the next byte of `data`
    start = 0  # file offset where the current member (or zero run) started
    index = 0  # member index, for messages
    inflate: zlib._Decompress | None = None
    out = bytearray()
    zeros = False  # inside a run of zero bytes where a member should start
    for chunk in chunks:
        data = chunk
        while data:
            if zeros:
                if data.count(0) != len(data):
                    raise ArchiveFormatError("zero bytes followed by data", start)
                offset += len(data)
                break
            if inflate is None:
                start = offset
                if data[0] == 0:
                    zeros = True
                    continue
                inflate = zlib.decompressobj(31)
                out = bytearray()
            try:
                out += inflate.decompress(data, max_bytes + 1 - len(out))
            except zlib.error as exc:
                what = "not a gzip or encrypted archive file" if start == 0 else "damaged member"
                raise ArchiveFormatError(f"{what} ({exc})", start) from None
            if len(out) > max_bytes:
                raise ArchiveFormatError(f"member inflates past {max_bytes} bytes", start)
            rest = inflate.unused_data if inflate.eof else inflate.unconsumed_tail
            offset += len(data) - len(rest)
            data = rest
            if inflate.eof:
                inflate = None
                index += 1
                yield from split_lines(bytes(out))
                out = bytearray()
    if zeros:
        raise TruncatedTailError("zero-filled", start)
    if inflate is not None:
        raise TruncatedTailError(f"incomplete gzip member {index}", start)
