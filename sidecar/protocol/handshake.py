"""The forward protocol's shared-key handshake: HELO, PING, PONG, built and checked.

Theory of operation (Forward Protocol Specification v1, "Handshake Messages"):

1. The server, on accept, sends ``["HELO", {"nonce": <bin>, "auth": <bin salt or "">,
   "keepalive": <bool>}]``. A non-empty ``auth`` asks for a username and password.
2. The client answers ``["PING", client_hostname, shared_key_salt,
   hex(sha512(shared_key_salt + client_hostname + nonce + shared_key)), username,
   hex(sha512(auth_salt + username + password)) or ""]``.
3. The server checks both digests and answers ``["PONG", true, "", server_hostname,
   hex(sha512(shared_key_salt + server_hostname + nonce + shared_key))]``, or
   ``["PONG", false, reason, "", ""]`` and closes.
4. The client checks the server's digest, proving the server knows the key too.

Handshake frames are decoded with ``raw=True``: salts and nonces are random bytes that
some clients send as msgpack ``str``, and decoding them as UTF-8 would change the bytes
hashed. Digests are compared with :func:`hmac.compare_digest`; an unknown user is
checked against a throwaway password so that the time taken does not reveal whether the
name exists. The client refuses a PONG whose hostname equals its own: with equal
hostnames the PONG digest equals the PING digest, so a fake server could simply echo
the PING back (the same guard Fluentd's ``out_forward`` has).

Failures raise :class:`HandshakeError`, whose message is a fixed phrase or a field
name; it never contains a key, a digest or a password.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgpack  # type: ignore[import-untyped]

__all__ = [
    "HandshakeError",
    "Helo",
    "Ping",
    "Pong",
    "build_helo",
    "build_ping",
    "build_pong",
    "decode_raw",
    "hexdigest",
    "new_salt",
    "parse_helo",
    "parse_ping",
    "parse_pong",
    "verify_ping",
    "verify_pong",
]

SHARED_KEY_MISMATCH = "shared_key mismatch"
USER_MISMATCH = "username/password mismatch"


class HandshakeError(Exception):
    """A handshake message was malformed or did not verify (peer-caused, fatal)."""


@dataclass(frozen=True, slots=True)
class Helo:
    """A server's HELO: the nonce to hash, the user-auth salt (empty: no user auth)."""

    nonce: bytes
    auth_salt: bytes = b""
    keepalive: bool = True


@dataclass(frozen=True, slots=True)
class Ping:
    """A client's PING, fields as raw bytes (exactly what was hashed)."""

    hostname: bytes
    shared_key_salt: bytes
    shared_key_digest: bytes = field(repr=False)
    username: bytes = b""
    password_digest: bytes = field(default=b"", repr=False)


@dataclass(frozen=True, slots=True)
class Pong:
    """A server's PONG: the auth result, and on success its hostname and digest."""

    ok: bool
    reason: str
    hostname: bytes
    shared_key_digest: bytes = field(repr=False)


def new_salt() -> bytes:
    """Return 16 random bytes for a nonce or salt."""
    return secrets.token_bytes(16)


def hexdigest(*parts: bytes) -> bytes:
    """Return the lowercase hex SHA-512 of the concatenated parts, as ASCII bytes."""
    digest = hashlib.sha512()
    for part in parts:
        digest.update(part)
    return digest.hexdigest().encode("ascii")


def decode_raw(frame: bytes) -> Any:
    """Decode one complete frame with strings left as bytes (``raw=True``).

    Raises:
        HandshakeError: the frame is not decodable msgpack.
    """
    try:
        return msgpack.unpackb(frame, raw=True, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise HandshakeError(f"undecodable frame ({type(exc).__name__})") from None


def build_helo(helo: Helo) -> bytes:
    """Encode a HELO (nonce and salt as msgpack ``bin``; an empty salt as ``""``)."""
    auth: bytes | str = helo.auth_salt if helo.auth_salt else ""
    options = {"nonce": helo.nonce, "auth": auth, "keepalive": helo.keepalive}
    return bytes(msgpack.packb(["HELO", options], use_bin_type=True))


def parse_helo(message: Any) -> Helo:
    """Check and read a decoded HELO (from :func:`decode_raw`).

    Raises:
        HandshakeError: not a HELO, or a field has the wrong type.
    """
    if not _is_command(message, b"HELO", 2) or not isinstance(message[1], dict):
        raise HandshakeError("expected HELO")
    options = message[1]
    nonce = options.get(b"nonce")
    auth = options.get(b"auth", b"")
    keepalive = options.get(b"keepalive", True)
    if not isinstance(nonce, bytes) or not nonce:
        raise HandshakeError("HELO.nonce: expected non-empty bytes")
    if not isinstance(auth, bytes):
        raise HandshakeError("HELO.auth: expected bytes")
    if not isinstance(keepalive, bool):
        raise HandshakeError("HELO.keepalive: expected a boolean")
    return Helo(nonce=nonce, auth_salt=auth, keepalive=keepalive)


def build_ping(
    helo: Helo,
    *,
    hostname: str,
    shared_key: str,
    salt: bytes,
    username: str | None = None,
    password: str | None = None,
) -> bytes:
    """Encode the PING answering ``helo``.

    Raises:
        HandshakeError: the server asks for a username and password and none was given.
    """
    host = hostname.encode()
    digest = hexdigest(salt, host, helo.nonce, shared_key.encode())
    user, password_digest = b"", b""
    if helo.auth_salt:
        if username is None or password is None:
            raise HandshakeError("server requires a username and password")
        user = username.encode()
        password_digest = hexdigest(helo.auth_salt, user, password.encode())
    message = ["PING", hostname, salt, digest.decode(), user.decode(), password_digest.decode()]
    return bytes(msgpack.packb(message, use_bin_type=True))


def parse_ping(message: Any) -> Ping:
    """Check and read a decoded PING (from :func:`decode_raw`).

    Raises:
        HandshakeError: not a PING, or a field is not a string.
    """
    if not _is_command(message, b"PING", 6):
        raise HandshakeError("expected PING")
    names = ("hostname", "shared_key_salt", "shared_key_digest", "username", "password_digest")
    for name, value in zip(names, message[1:], strict=True):
        if not isinstance(value, bytes):
            raise HandshakeError(f"PING.{name}: expected a string")
    return Ping(*message[1:])


def verify_ping(
    ping: Ping,
    *,
    nonce: bytes,
    shared_key: str,
    auth_salt: bytes = b"",
    users: Mapping[str, str] | None = None,
) -> str | None:
    """Check a PING's digests; return None if good, else the reason to put in the PONG."""
    expected = hexdigest(ping.shared_key_salt, ping.hostname, nonce, shared_key.encode())
    if not hmac.compare_digest(expected, ping.shared_key_digest):
        return SHARED_KEY_MISMATCH
    if not users:
        return None
    try:
        password = users.get(ping.username.decode("utf-8"))
    except UnicodeDecodeError:
        password = None
    # An unknown user costs the same hash and compare as a known one.
    secret = secrets.token_hex(16) if password is None else password
    wanted = hexdigest(auth_salt, ping.username, secret.encode())
    if not hmac.compare_digest(wanted, ping.password_digest) or password is None:
        return USER_MISMATCH
    return None


def build_pong(
    ping: Ping | None,
    *,
    nonce: bytes,
    shared_key: str,
    hostname: str,
    failure: str | None = None,
) -> bytes:
    """Encode a PONG: success for ``ping``, or ``failure`` (a reason) with empty fields."""
    if failure is not None or ping is None:
        message: list[object] = ["PONG", False, failure or "invalid ping message", "", ""]
    else:
        digest = hexdigest(ping.shared_key_salt, hostname.encode(), nonce, shared_key.encode())
        message = ["PONG", True, "", hostname, digest.decode()]
    return bytes(msgpack.packb(message, use_bin_type=True))


def parse_pong(message: Any) -> Pong:
    """Check and read a decoded PONG (from :func:`decode_raw`).

    Raises:
        HandshakeError: not a PONG, or a field has the wrong type.
    """
    if not _is_command(message, b"PONG", 5):
        raise HandshakeError("expected PONG")
    _, ok, reason, hostname, digest = message
    if not isinstance(ok, bool):
        raise HandshakeError("PONG.auth_result: expected a boolean")
    for name, value in (("reason", reason), ("hostname", hostname), ("digest", digest)):
        if not isinstance(value, bytes):
            raise HandshakeError(f"PONG.{name}: expected a string")
    return Pong(ok=ok, reason=_printable(reason), hostname=hostname, shared_key_digest=digest)


def verify_pong(
    pong: Pong, *, nonce: bytes, salt: bytes, shared_key: str, client_hostname: str
) -> None:
    """Check a PONG against our PING.

    Raises:
        HandshakeError: the server refused us, echoed our own hostname, or its digest
            does not match (it does not know the shared key).
    """
    if not pong.ok:
        raise HandshakeError(f"server refused authentication: {pong.reason}")
    if pong.hostname == client_hostname.encode():
        raise HandshakeError("PONG.hostname equals our own (possible reflected PING)")
    expected = hexdigest(salt, pong.hostname, nonce, shared_key.encode())
    if not hmac.compare_digest(expected, pong.shared_key_digest):
        raise HandshakeError("PONG.digest mismatch: the server does not know the shared key")


def _is_command(message: Any, name: bytes, size: int) -> bool:
    return isinstance(message, list) and len(message) == size and message[0] == name


def _printable(text: bytes, limit: int = 80) -> str:
    """A peer-supplied reason, cut and reduced to printable ASCII (safe in a log line)."""
    decoded = text[:limit].decode("ascii", "replace")
    return "".join(c if c.isprintable() and c.isascii() else "?" for c in decoded)
