"""The client side of the forward protocol as a sans-I/O state machine (the forward sink).

Theory of operation: :class:`ClientConnection` owns no socket. The glue connects, then
loops: read bytes, pass them to ``receive()``, write ``data_to_send()`` (the PING after
a HELO), and act on the events. Once ``established`` is true it sends frames built by
``pack_forward()`` and resolves a batch when an :class:`Acked` event carries its chunk.
The glue owns the map from chunk to batch and the ack timeout; on a timeout or a lost
connection it reconnects and resends the same frame (same chunk id), which is why
:func:`~sidecar.protocol.codec.encode_packed_forward` is deterministic.

States::

    AWAIT_HELO --HELO--> AWAIT_PONG --PONG ok--> ESTABLISHED --acks--> ESTABLISHED
        |                     |                       |
        +---------- anything wrong: fatal violation, CLOSED ---------+

Without a shared key the connection starts ESTABLISHED; a HELO then means the server
wants a key we do not have, which is fatal. The server's PONG digest is checked, so a
server that does not know the key is never sent data. Acks for chunks we do not know
are still reported; the glue ignores them.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from enum import Enum
from typing import Any

from sidecar.protocol._framing import FrameSplitter, FramingError
from sidecar.protocol.codec import encode_packed_forward
from sidecar.protocol.events import (
    Acked,
    Authenticated,
    Entry,
    Event,
    ProtocolUsageError,
    ProtocolViolation,
)
from sidecar.protocol.handshake import (
    HandshakeError,
    Helo,
    build_ping,
    decode_raw,
    new_salt,
    parse_helo,
    parse_pong,
    verify_pong,
)

__all__ = ["MAX_REPLY_BYTES", "ClientConnection", "ClientState"]

#: Largest frame accepted from a server: HELO, PONG and acks are all small.
MAX_REPLY_BYTES = 64 * 1024


class ClientState(Enum):
    """Where a client connection is in the protocol."""

    AWAIT_HELO = "await_helo"
    AWAIT_PONG = "await_pong"
    ESTABLISHED = "established"
    CLOSED = "closed"


class ClientConnection:
    """One outgoing forward-protocol connection, without the socket.

    Args:
        shared_key: the shared key; None expects a server without a handshake.
        username: user name, sent only if the server's HELO asks for user auth.
        password: the user's password (from an env var or file, never the config).
        client_hostname: our name in PING; defaults to this machine's node name. It
            must differ from the server's (see ``handshake``).

    Raises:
        ProtocolUsageError: an empty shared key, or a username without a password.
    """

    def __init__(
        self,
        shared_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        client_hostname: str | None = None,
    ) -> None:
        if shared_key == "":
            raise ProtocolUsageError("shared_key must not be empty (use None for no key)")
        if (username is None) != (password is None):
            raise ProtocolUsageError("username and password go together")
        self._shared_key = shared_key
        self._username = username
        self._password = password
        self._hostname = client_hostname or platform.node() or "localhost"
        self._salt = new_salt()
        self._helo: Helo | None = None
        self._frames = FrameSplitter(MAX_REPLY_BYTES)
        self._out = bytearray()
        self._state = ClientState.ESTABLISHED if shared_key is None else ClientState.AWAIT_HELO

    def __repr__(self) -> str:
        return f"ClientConnection(state={self._state.value})"

    @property
    def state(self) -> ClientState:
        """The current protocol state."""
        return self._state

    @property
    def established(self) -> bool:
        """True once frames may be sent (handshake done, or none configured)."""
        return self._state is ClientState.ESTABLISHED

    def data_to_send(self) -> bytes:
        """Return and clear the bytes queued for the server (the PING after a HELO)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def pack_forward(
        self, tag: str, entries: Iterable[Entry], chunk: str | None = None, compress: bool = False
    ) -> bytes:
        """Return a PackedForward frame (CompressedPackedForward with ``compress``).

        Args:
            tag: the Fluent tag.
            entries: ``(time, record)`` pairs; time is int seconds or EventTime.
            chunk: a chunk id (see ``new_chunk_id``) to get an :class:`Acked` for it.
            compress: gzip the entries.

        Raises:
            ProtocolUsageError: the connection is not established yet.
        """
        if self._state is not ClientState.ESTABLISHED:
            raise ProtocolUsageError(f"pack_forward() in state {self._state.value}")
        return encode_packed_forward(tag, entries, chunk=chunk, compress=compress)

    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes from the server; return the events they complete, in order.

        ``b""`` means the server closed: fatal if a handshake or a frame was unfinished.

        Raises:
            ProtocolUsageError: called after the connection was closed.
        """
        if self._state is ClientState.CLOSED:
            raise ProtocolUsageError("receive() called on a closed connection")
        events: list[Event] = []
        if not data:
            if self._frames.buffered or self._state is not ClientState.ESTABLISHED:
                events.append(
                    ProtocolViolation(f"server closed in state {self._state.value}", True)
                )
            self._state = ClientState.CLOSED
            return events
        try:
            for frame in self._frames.feed(data):
                event = self._on_frame(decode_raw(frame))
                if event is not None:
                    events.append(event)
        except (FramingError, HandshakeError) as exc:
            events.append(ProtocolViolation(str(exc), fatal=True))
            self._state = ClientState.CLOSED
        return events

    def _on_frame(self, message: Any) -> Event | None:
        """Handle one decoded server frame; raises HandshakeError when it is fatal."""
        if self._state is ClientState.AWAIT_HELO:
            self._helo = parse_helo(message)
            assert self._shared_key is not None
            self._out += build_ping(
                self._helo,
                hostname=self._hostname,
                shared_key=self._shared_key,
                salt=self._salt,
                username=self._username,
                password=self._password,
            )
            self._state = ClientState.AWAIT_PONG
            return None
        if self._state is ClientState.AWAIT_PONG:
            assert self._helo is not None and self._shared_key is not None
            pong = parse_pong(message)
            verify_pong(
                pong,
                nonce=self._helo.nonce,
                salt=self._salt,
                shared_key=self._shared_key,
                client_hostname=self._hostname,
            )
            self._state = ClientState.ESTABLISHED
            username = self._username if self._helo.auth_salt and self._username else ""
            return Authenticated(pong.hostname.decode("utf-8", "replace"), username)
        if isinstance(message, dict) and set(message) == {b"ack"}:
            chunk = message[b"ack"]
            if isinstance(chunk, bytes):
                return Acked(chunk.decode("utf-8", "replace"))
            return ProtocolViolation("ack: expected a string chunk id", fatal=False)
        if isinstance(message, list) and message[:1] == [b"HELO"]:
            raise HandshakeError("server requires a shared key; none is configured")
        raise HandshakeError("expected an ack map from the server")
