"""Real peers on 127.0.0.1 drive ServerConnection and ClientConnection over TCP sockets.

The Fluent peer is fluent-logger (PyPI): it speaks Message mode only, with no handshake
and no acks (version 0.11 has neither option), so acks are checked with our own
ClientConnection against the same socket server.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest
from fluent.sender import FluentSender

from sidecar.protocol import (
    Acked,
    Authenticated,
    ClientConnection,
    Entries,
    EventTime,
    ProtocolViolation,
    ServerConnection,
    ServerState,
    new_chunk_id,
)

TIMEOUT = 5.0


class BlockingForwardServer:
    """Accepts one connection and runs it through a ServerConnection; acks every chunk."""

    def __init__(self, **options: object) -> None:
        self.connection = ServerConnection(**options)  # type: ignore[arg-type]
        self.events: list[object] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(TIMEOUT)
        self.port = self._listener.getsockname()[1]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            peer, _ = self._listener.accept()
        except OSError:
            self._done.set()
            return
        try:
            with peer:
                peer.settimeout(TIMEOUT)
                peer.sendall(self.connection.initial_bytes())
                while self.connection.state is not ServerState.CLOSED:
                    events = self.connection.receive(peer.recv(65536))
                    self.events += events
                    peer.sendall(self.connection.data_to_send())
                    for event in events:
                        if isinstance(event, Entries) and event.chunk is not None:
                            peer.sendall(self.connection.send_ack(event.chunk))
        except OSError:
            pass  # the peer went away first (fluent-logger closes without waiting)
        finally:
            self._done.set()

    def wait_closed(self) -> list[object]:
        """Wait until the peer closed (or was closed); return every event seen."""
        assert self._done.wait(TIMEOUT), "server did not finish"
        self._listener.close()
        return self.events


def entries_of(events: list[object]) -> list[tuple[str, object, object]]:
    return [(e.tag, t, r) for e in events if isinstance(e, Entries) for t, r in e.entries]


class TestFluentLogger:
    def test_records_arrive_in_message_mode(self):
        """fluent-logger's records arrive with their tag, integer time and record."""
        server = BlockingForwardServer()
        sender = FluentSender("app", host="127.0.0.1", port=server.port, timeout=TIMEOUT)
        for i in range(3):
            assert sender.emit_with_time("web", 1_700_000_000 + i, {"n": i, "msg": "hi"})
        sender.close()
        events = server.wait_closed()
        assert entries_of(events) == [
            ("app.web", 1_700_000_000 + i, {"n": i, "msg": "hi"}) for i in range(3)
        ]
        assert {e.mode for e in events if isinstance(e, Entries)} == {"message"}

    def test_nanosecond_times_arrive_as_event_time(self):
        """With nanosecond_precision, times arrive as EventTime with their nanoseconds."""
        server = BlockingForwardServer()
        sender = FluentSender(
            "app", host="127.0.0.1", port=server.port, timeout=TIMEOUT, nanosecond_precision=True
        )
        assert sender.emit("ns", {"a": 1})
        sender.close()
        ((tag, when, record),) = entries_of(server.wait_closed())
        assert (tag, record) == ("app.ns", {"a": 1})
        assert isinstance(when, EventTime) and abs(when.to_float() - time.time()) < 60

    def test_keyed_server_delivers_nothing_without_handshake(self):
        """fluent-logger cannot PING, so a shared-key server takes none of its records."""
        server = BlockingForwardServer(shared_key="k")
        sender = FluentSender("app", host="127.0.0.1", port=server.port, timeout=TIMEOUT)
        sender.emit_with_time("x", 1, {"pan": "4111111111111111"})
        sender.close()
        events = server.wait_closed()
        assert not any(isinstance(e, Entries) for e in events)
        assert any(isinstance(e, ProtocolViolation) and e.fatal for e in events)


class TestOwnClient:
    @pytest.mark.parametrize("compress", [False, True])
    def test_handshake_and_ack_over_tcp(self, compress):
        """Our client authenticates with users, sends a chunk and gets its ack back."""
        server = BlockingForwardServer(shared_key="k", users={"u": "p"}, server_hostname="srv")
        client = ClientConnection("k", "u", "p", client_hostname="cli")
        received: list[object] = []
        with socket.create_connection(("127.0.0.1", server.port), timeout=TIMEOUT) as sock:
            while not client.established:
                received += client.receive(sock.recv(65536))
                sock.sendall(client.data_to_send())
            chunk = new_chunk_id()
            entries = [(EventTime(1_700_000_000, 5), {"i": i}) for i in range(100)]
            sock.sendall(client.pack_forward("app", entries, chunk=chunk, compress=compress))
            while Acked(chunk) not in received:
                received += client.receive(sock.recv(65536))
        events = server.wait_closed()
        assert received == [Authenticated("srv", "u"), Acked(chunk)]
        assert events[0] == Authenticated("cli", "u")
        assert entries_of(events) == [("app", t, r) for t, r in entries]
