"""The server side of the forward protocol as a sans-I/O state machine.

Theory of operation: :class:`ServerConnection` owns no socket. The glue writes
``initial_bytes()`` right after accepting, then loops: read bytes, pass them to
``receive()``, write ``data_to_send()``, act on the returned events, and close on a
fatal violation. It calls ``send_ack(chunk)`` and writes the result once the entries
of a chunk are durable. Passing ``b""`` to ``receive()`` reports end of stream.

States (a small table, as in h11)::

    AWAIT_PING --PING ok--> ESTABLISHED --(frames)--> ESTABLISHED
        |                        |
        +--bad PING/other--> CLOSED <--fatal violation or EOF--+

Without a shared key the connection starts ESTABLISHED and no HELO is sent. With one,
nothing is decoded as entries before a valid PING: the first frame must be the PING, and
while waiting for it frames are capped at ``HANDSHAKE_MAX_BYTES``, so an unauthenticated
peer cannot make us hold ``max_frame_bytes``. A bad PING gets a failure PONG (queued in
``data_to_send()``) and a fatal violation, as Fluentd's ``in_forward`` does.

Bounded memory per connection: the unfinished frame is at most ``max_frame_bytes``
(held twice, see ``_framing``); a decoded frame's objects are bounded by its bytes; a
compressed frame inflates to at most ``max_decompressed_bytes``. Delivery is at least
once: a peer that gets no ack resends, so consumers must tolerate duplicates.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping
from enum import Enum

from sidecar.protocol._framing import FrameSplitter, FramingError
from sidecar.protocol.codec import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    decode_whole_frame,
    encode_ack,
)
from sidecar.protocol.events import (
    Authenticated,
    Event,
    ProtocolUsageError,
    ProtocolViolation,
)
from sidecar.protocol.handshake import (
    HandshakeError,
    Helo,
    build_helo,
    build_pong,
    decode_raw,
    new_salt,
    parse_ping,
    verify_ping,
)

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "HANDSHAKE_MAX_BYTES",
    "ServerConnection",
    "ServerState",
]

#: Default largest frame (one msgpack object) a peer may send.
DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024
#: Largest frame accepted before authentication; a PING is a few hundred bytes.
HANDSHAKE_MAX_BYTES = 64 * 1024


class ServerState(Enum):
    """Where a server connection is in the protocol."""

    AWAIT_PING = "await_ping"
    ESTABLISHED = "established"
    CLOSED = "closed"


class ServerConnection:
    """One accepted forward-protocol connection, without the socket.

    Args:
        shared_key: the shared key; None disables the handshake (no HELO is sent).
        users: username to password; non-empty asks clients for user auth too (needs
            ``shared_key``).
        server_hostname: our name in PONG; defaults to this machine's node name.
        max_frame_bytes: largest frame accepted; a bigger one is a fatal violation.
        max_decompressed_bytes: largest inflated size of a compressed frame; more is a
            non-fatal violation (the frame is dropped).
        keepalive: the ``keepalive`` value announced in HELO.

    Raises:
        ProtocolUsageError: users without a shared key, an empty shared key, or
            non-positive limits.
    """

    def __init__(
        self,
        shared_key: str | None = None,
        users: Mapping[str, str] | None = None,
        server_hostname: str | None = None,
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
        keepalive: bool = True,
    ) -> None:
        if shared_key == "":
            raise ProtocolUsageError("shared_key must not be empty (use None for no key)")
        if users and shared_key is None:
            raise ProtocolUsageError("user authentication needs a shared_key")
        if max_frame_bytes < 1 or max_decompressed_bytes < 1:
            raise ProtocolUsageError("frame limits must be positive")
        self._shared_key = shared_key
        self._users = dict(users) if users else None
        self._hostname = server_hostname or platform.node() or "localhost"
        self._max_decompressed = max_decompressed_bytes
        self._helo = Helo(
            nonce=new_salt(), auth_salt=new_salt() if self._users else b"", keepalive=keepalive
        )
        self._out = bytearray()
        if shared_key is None:
            self._state = ServerState.ESTABLISHED
            self._frames = FrameSplitter(max_frame_bytes)
        else:
            self._state = ServerState.AWAIT_PING
            self._frames = FrameSplitter(max_frame_bytes, limit=HANDSHAKE_MAX_BYTES)

    def __repr__(self) -> str:
        return f"ServerConnection(state={self._state.value}, buffered={self.buffered})"

    @property
    def state(self) -> ServerState:
        """The current protocol state."""
        return self._state

    @property
    def buffered(self) -> int:
        """Bytes held for an unfinished frame (bounded by the current frame limit)."""
        return self._frames.buffered

    def initial_bytes(self) -> bytes:
        """Return what to send right after accepting: the HELO, or b"" without a key."""
        return b"" if self._shared_key is None else build_helo(self._helo)

    def data_to_send(self) -> bytes:
        """Return and clear the bytes queued for the peer (a PONG after a PING)."""
        out = bytes(self._out)
        self._out.clear()
        return out

    def send_ack(self, chunk: str) -> bytes:
        """Return the ``{"ack": chunk}`` bytes for a chunk whose entries are now durable.

        Raises:
            ProtocolUsageError: ``chunk`` is not a string.
        """
        if not isinstance(chunk, str):
            raise ProtocolUsageError("send_ack() takes the chunk string of an Entries event")
        return encode_ack(chunk)

    def receive(self, data: bytes) -> list[Event]:
        """Feed bytes from the peer; return the events they complete, in order.

        ``b""`` means the peer closed its side: a half-received frame is then reported
        as a fatal violation. After a fatal violation the state is CLOSED.

        Raises:
            ProtocolUsageError: called after the connection was closed.
        """
        if self._state is ServerState.CLOSED:
            raise ProtocolUsageError("receive() called on a closed connection")
        events: list[Event] = []
        if not data:
            if self._frames.buffered:
                events.append(
                    ProtocolViolation(
                        f"connection closed inside the frame at offset {self._frames.offset}",
                        fatal=True,
                    )
                )
            self._state = ServerState.CLOSED
            return events
        try:
            for frame in self._frames.feed(data):
                event = self._on_frame(frame)
                events.append(event)
                if isinstance(event, ProtocolViolation) and event.fatal:
                    self._state = ServerState.CLOSED
                    break
        except FramingError as exc:
            events.append(ProtocolViolation(str(exc), fatal=True))
            self._state = ServerState.CLOSED
        return events

    def _on_frame(self, frame: bytes) -> Event:
        if self._state is ServerState.AWAIT_PING:
            return self._on_ping(frame)
        return decode_whole_frame(frame, self._max_decompressed)

    def _on_ping(self, frame: bytes) -> Event:
        assert self._shared_key is not None  # AWAIT_PING only exists with a key
        key = self._shared_key
        try:
            ping = parse_ping(decode_raw(frame))
        except HandshakeError as exc:
            self._out += build_pong(None, nonce=b"", shared_key="", hostname="")
            return ProtocolViolation(f"handshake: {exc} before any entries", fatal=True)
        failure = verify_ping(
            ping,
            nonce=self._helo.nonce,
            shared_key=key,
            auth_salt=self._helo.auth_salt,
            users=self._users,
        )
        self._out += build_pong(
            ping, nonce=self._helo.nonce, shared_key=key, hostname=self._hostname, failure=failure
        )
        if failure is not None:
            return ProtocolViolation(f"handshake: {failure}", fatal=True)
        self._state = ServerState.ESTABLISHED
        self._frames.limit = self._frames.max_frame_bytes
        username = ping.username.decode("utf-8", "replace") if self._users else ""
        return Authenticated(hostname=ping.hostname.decode("utf-8", "replace"), username=username)
