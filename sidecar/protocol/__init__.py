"""Sans-I/O Fluent Forward Protocol v1: bytes in, events out, and back.

Theory of operation: nothing here touches a socket or an event loop, in the manner of
h11. :class:`ServerConnection` (the ``forward`` source) and :class:`ClientConnection`
(the ``forward`` sink) turn received bytes into :mod:`events <sidecar.protocol.events>`
and queue the bytes to write back; the asyncio glue in ``sidecar/sources/forward.py``
and ``sidecar/sinks/forward.py`` only moves bytes and dispatches events.

Modules: ``eventtime`` (the EventTime ext type), ``codec`` (the four carrier modes,
encode and decode), ``handshake`` (HELO/PING/PONG with shared key and users),
``forward`` (server state machine), ``client`` (client state machine), ``events`` (what
``receive()`` returns). ``_framing`` cuts the stream into frames with bounded memory.

Server glue, in outline::

    conn = ServerConnection(shared_key=key)
    writer.write(conn.initial_bytes())
    while True:
        events = conn.receive(await reader.read(65536))  # b"" at EOF
        writer.write(conn.data_to_send())
        for event in events:
            if isinstance(event, Entries):
                ...  # hand on; when durable: writer.write(conn.send_ack(event.chunk))
            elif isinstance(event, ProtocolViolation) and event.fatal:
                ...  # count, close
        if conn.state is ServerState.CLOSED:
            break
"""

from __future__ import annotations

from sidecar.protocol.client import ClientConnection, ClientState
from sidecar.protocol.codec import (
    DEFAULT_MAX_DECOMPRESSED_BYTES,
    decode_frame,
    encode_ack,
    encode_forward,
    encode_message,
    encode_packed_forward,
    new_chunk_id,
)
from sidecar.protocol.events import (
    Acked,
    Authenticated,
    Entries,
    Entry,
    Event,
    Mode,
    ProtocolUsageError,
    ProtocolViolation,
    Record,
    Time,
)
from sidecar.protocol.eventtime import EventTime
from sidecar.protocol.forward import (
    DEFAULT_MAX_FRAME_BYTES,
    HANDSHAKE_MAX_BYTES,
    ServerConnection,
    ServerState,
)

__all__ = [
    "DEFAULT_MAX_DECOMPRESSED_BYTES",
    "DEFAULT_MAX_FRAME_BYTES",
    "HANDSHAKE_MAX_BYTES",
    "Acked",
    "Authenticated",
    "ClientConnection",
    "ClientState",
    "Entries",
    "Entry",
    "Event",
    "EventTime",
    "Mode",
    "ProtocolUsageError",
    "ProtocolViolation",
    "Record",
    "ServerConnection",
    "ServerState",
    "Time",
    "decode_frame",
    "encode_ack",
    "encode_forward",
    "encode_message",
    "encode_packed_forward",
    "new_chunk_id",
]
