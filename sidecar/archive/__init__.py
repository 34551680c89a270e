"""The sidecar's local archive: encryption at rest, reading back, retention purge.

The ``file`` sink (:mod:`sidecar.sinks.file`) writes ``<path>/<tier>/<YYYY-MM-DD>/``
files of gzip'd JSON lines, optionally encrypted with AES-256-GCM; this package holds
what the sink and the command line share:

* :mod:`~sidecar.archive.keys`: archive keys from environment variables, by key id.
* :mod:`~sidecar.archive.format`: the encrypted file format, sans-I/O.
* :mod:`~sidecar.archive.reader`: :func:`iter_lines` for plaintext and encrypted files.
* :mod:`~sidecar.archive.purge`: removal of day folders whose retention is over.
"""

from __future__ import annotations

from sidecar.archive.format import (
    ArchiveFormatError,
    Decoder,
    Encoder,
    FrameAuthenticationError,
    TruncatedTailError,
    UnknownKeyError,
    pack_lines,
    unpack_lines,
)
from sidecar.archive.keys import ArchiveKey, load_key, load_keyring
from sidecar.archive.purge import PurgePlan, expire_at, plan, purge
from sidecar.archive.reader import iter_lines, read_lines

__all__ = [
    "ArchiveFormatError",
    "ArchiveKey",
    "Decoder",
    "Encoder",
    "FrameAuthenticationError",
    "PurgePlan",
    "TruncatedTailError",
    "UnknownKeyError",
    "expire_at",
    "iter_lines",
    "load_key",
    "load_keyring",
    "pack_lines",
    "plan",
    "purge",
    "read_lines",
    "unpack_lines",
]
