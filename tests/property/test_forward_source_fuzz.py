"""Protocol fuzzing of the live forward source: garbage in, service goes on.

Each example opens a connection, sends random bytes or mutated valid frames, ends its
side of the stream and checks the server closes the connection in bounded time; then a
well-behaved client on a fresh connection must get its record through and its chunk
acked. A second server requires a shared key: nothing from an unauthenticated peer may
ever reach the pipeline. The servers are the integration tests' :class:`LiveSource`
(real sockets on 127.0.0.1), one per module, with a small frame limit.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sidecar.protocol import (
    Acked,
    Authenticated,
    ClientConnection,
    EventTime,
    encode_forward,
    encode_message,
    encode_packed_forward,
    new_chunk_id,
)
from tests.integration.sidecar.test_forward_source import LiveSource

FRAME_LIMIT = 64 * 1024
KEY = "fuzz-key"
FAST = {"linger_s": 0.002, "stall_timeout_s": 3.0}


@pytest.fixture(scope="module")
def plain() -> Iterator[LiveSource]:
    """A server without a handshake, frames up to 64 KiB."""
    src = LiveSource(max_frame_bytes=FRAME_LIMIT, options=FAST)
    yield src
    src.close()


@pytest.fixture(scope="module")
def keyed() -> Iterator[LiveSource]:
    """A server that requires the shared key."""
    src = LiveSource(max_frame_bytes=FRAME_LIMIT, shared_key=KEY, options=FAST)
    yield src
    src.close()


values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(),
    st.text(max_size=20),
    st.binary(max_size=20),
)
records = st.dictionaries(st.one_of(st.text(max_size=8), st.binary(max_size=8)), values, max_size=4)
times = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.builds(EventTime, st.integers(0, 2**32 - 1), st.integers(0, 10**9 - 1)),
)
entries = st.lists(st.tuples(times, records), max_size=4)
chunks = st.one_of(st.none(), st.just("c").map(lambda _: new_chunk_id()))


def _option(chunk: str | None) -> dict[str, str] | None:
    return None if chunk is None else {"chunk": chunk}


valid_frames = st.one_of(
    st.builds(lambda e, c: encode_forward("fz", e, _option(c)), entries, chunks),
    st.builds(lambda t, r, c: encode_message("fz", t, r, _option(c)), times, records, chunks),
    st.builds(
        lambda e, c, z: encode_packed_forward("fz", e, chunk=c, compress=z),
        entries,
        chunks,
        st.booleans(),
    ),
)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid frame with a few byte flips, cuts, insertions or repeats."""
    data = bytearray(draw(valid_frames))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        op = draw(st.sampled_from(["flip", "cut", "insert", "repeat"]))
        if op == "flip" and at < len(data):
            data[at] ^= draw(st.integers(1, 255))
        elif op == "cut":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 32))]
    return bytes(data)


garbage = st.one_of(
    st.binary(min_size=1, max_size=4096),
    mutated(),
    st.lists(st.one_of(valid_frames, mutated()), min_size=1, max_size=5).map(b"".join),
)


def send_and_wait_closed(port: int, data: bytes) -> None:
    """Send ``data``, end our side, and require the server to close within seconds."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(8)
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            while sock.recv(65536):  # HELO, PONG or acks may come first
                pass
        except (ConnectionResetError, BrokenPipeError):
            pass  # closed on us mid-send: also a close


def good_client(src: LiveSource, shared_key: str | None = None) -> None:
    """Send one record with a chunk on a new connection; require its ack and arrival."""
    run = uuid.uuid4().hex
    conn = ClientConnection(shared_key, client_hostname="fuzz-client")
    with socket.create_connection(("127.0.0.1", src.port)) as sock:
        sock.settimeout(8)
        while not conn.established:
            events = conn.receive(sock.recv(65536))
            sock.sendall(conn.data_to_send())
            assert all(isinstance(e, Authenticated) for e in events), events
        chunk = new_chunk_id()
        sock.sendall(conn.pack_forward("good", [(1, {"run": run, "seq": 0})], chunk=chunk))
        acked: list[object] = []
        while Acked(chunk) not in acked:
            data = sock.recv(65536)
            assert data, "closed before the ack"
            acked += conn.receive(data)
    assert src.wait_run(run, 1) == [0]


@settings(max_examples=80, deadline=None)
@given(data=garbage)
def test_garbage_never_stops_the_server(plain, data):
    """After random or mutated frames on one connection, another client is still served."""
    faults = plain.faults()
    send_and_wait_closed(plain.port, data)
    good_client(plain)
    assert plain.faults() == faults


@settings(max_examples=40, deadline=None)
@given(data=garbage)
def test_unauthenticated_bytes_never_reach_the_pipeline(keyed, data):
    """Before the handshake nothing is decoded into records, and service goes on."""
    before, faults = len(keyed.records), keyed.faults()
    send_and_wait_closed(keyed.port, data)
    good_client(keyed, KEY)
    assert len(keyed.records) == before + 1
    assert keyed.faults() == faults


def test_oversized_frame_closes_the_connection(plain):
    """A frame past max_frame_bytes is refused before it is held whole, and counted."""
    before = plain.errors("oversized")
    header = b"\x92\xa2fz\xc6" + (1 << 30).to_bytes(4, "big")  # [tag, bin32 of 1 GiB]
    with socket.create_connection(("127.0.0.1", plain.port)) as sock:
        sock.settimeout(8)
        sent = 0
        try:
            sock.sendall(header)
            while sent < 16 * FRAME_LIMIT:
                sock.sendall(b"\0" * 4096)
                sent += 4096
            closed = sock.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            closed = True
    assert closed
    assert plain.errors("oversized") == before + 1
    good_client(plain)
