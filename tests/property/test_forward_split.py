"""Forward protocol: any split of the byte stream gives the same events; garbage is contained."""

from __future__ import annotations

import itertools
import string

import msgpack
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sidecar.protocol import (
    Acked,
    Authenticated,
    ClientConnection,
    Entries,
    EventTime,
    ProtocolViolation,
    ServerConnection,
    ServerState,
    decode_frame,
    encode_ack,
    encode_forward,
    encode_message,
    encode_packed_forward,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_KEYS = st.text(string.ascii_letters + "_.", max_size=8)
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.binary(max_size=20),
)
_VALUES = st.recursive(
    _LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(_KEYS, children, max_size=3)
    ),
    max_leaves=6,
)
_RECORDS = st.dictionaries(_KEYS, _VALUES, max_size=5)
_TIMES = st.one_of(
    st.integers(min_value=0, max_value=2**32 - 1),
    st.builds(
        EventTime,
        st.integers(min_value=0, max_value=2**32 - 1),
        st.integers(min_value=0, max_value=10**9 - 1),
    ),
    st.floats(allow_nan=False, allow_infinity=False),
)
_ENTRIES = st.lists(st.tuples(_TIMES, _RECORDS), max_size=5).map(tuple)
_CHUNKS = st.none() | st.text(string.ascii_letters + string.digits + "+/=", max_size=24)


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, Entries]:
    """A valid frame in a random mode, and the event it must decode to."""
    tag = draw(st.text(max_size=16))
    mode = draw(st.sampled_from(["message", "forward", "packed", "compressed"]))
    chunk = draw(_CHUNKS)
    option = None if chunk is None else {"chunk": chunk}
    if mode == "message":
        time, record = draw(st.tuples(_TIMES, _RECORDS))
        frame = encode_message(tag, time, record, option)
        expected = Entries(tag, ((time, record),), chunk, None, "message", len(frame))
    elif mode == "forward":
        entries = draw(_ENTRIES)
        frame = encode_forward(tag, entries, option)
        expected = Entries(tag, entries, chunk, None, "forward", len(frame))
    else:
        entries = draw(_ENTRIES)
        compress = mode == "compressed"
        frame = encode_packed_forward(tag, entries, chunk=chunk, compress=compress)
        expected = Entries(tag, entries, chunk, len(entries), "packed", len(frame))
        if compress:
            expected = Entries(tag, entries, chunk, len(entries), "compressed", len(frame))
    return frame, expected


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (taken modulo its length, sorted)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    bounds = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def feed(connection: ServerConnection | ClientConnection, pieces: list[bytes]) -> list[object]:
    events: list[object] = []
    for piece in pieces:
        if piece:
            events += connection.receive(piece)
    return events


class TestSplitting:
    @SETTINGS
    @given(st.lists(messages(), min_size=1, max_size=5), st.lists(st.integers(0, 10**6)))
    def test_any_split_gives_the_same_events(self, frames, cuts):
        """Feeding the stream whole or cut anywhere yields exactly the encoded events."""
        data = b"".join(frame for frame, _ in frames)
        expected = [event for _, event in frames]
        assert ServerConnection().receive(data) == expected
        assert feed(ServerConnection(), split(data, cuts)) == expected

    @SETTINGS
    @given(messages())
    def test_decode_inverts_encode(self, message):
        """decode_frame(encode(m)) == m for every mode."""
        frame, expected = message
        assert decode_frame(frame) == expected

    @SETTINGS
    @given(
        st.lists(messages(), max_size=3),
        st.lists(st.integers(0, 10**6)),
        st.lists(st.integers(0, 10**6)),
    )
    def test_handshake_and_acks_survive_any_split(self, frames, server_cuts, client_cuts):
        """HELO/PING/PONG, frames and acks, each cut anywhere, still authenticate and ack."""
        server = ServerConnection(shared_key="k", users={"u": "p"}, server_hostname="s")
        client = ClientConnection("k", "u", "p", client_hostname="c")
        assert feed(client, split(server.initial_bytes(), client_cuts)) == []
        ping = client.data_to_send()
        data = ping + b"".join(frame for frame, _ in frames)
        events = feed(server, split(data, server_cuts))
        assert events == [Authenticated("c", "u")] + [event for _, event in frames]
        chunks = [e.chunk for e in events if isinstance(e, Entries) and e.chunk is not None]
        reply = server.data_to_send() + b"".join(server.send_ack(c) for c in chunks)
        replies = feed(client, split(reply, client_cuts))
        assert replies == [Authenticated("s", "u")] + [Acked(c) for c in chunks]


class TestGarbage:
    @SETTINGS
    @given(st.binary(max_size=2000), st.lists(st.integers(0, 10**6)))
    def test_random_bytes_never_raise(self, data, cuts):
        """Random bytes give only violations or valid entries, with bounded buffering."""
        server = ServerConnection(max_frame_bytes=512)
        for piece in split(data, cuts):
            if server.state is ServerState.CLOSED:
                break
            for event in server.receive(piece) if piece else []:
                assert isinstance(event, (Entries, ProtocolViolation))
            assert server.buffered <= 512

    @SETTINGS
    @given(
        st.lists(messages(), min_size=1, max_size=3),
        st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8),
        st.lists(st.integers(0, 10**6)),
    )
    def test_mutated_frames_never_raise(self, frames, mutations, cuts):
        """Frames with bytes overwritten decode, or fail with a violation; never an exception."""
        data = bytearray(b"".join(frame for frame, _ in frames))
        for offset, value in mutations:
            data[offset % len(data)] = value
        server = ServerConnection(max_frame_bytes=4096, max_decompressed_bytes=4096)
        for piece in split(bytes(data), cuts):
            if server.state is ServerState.CLOSED:
                break
            events = server.receive(piece) if piece else []
            assert all(isinstance(e, (Entries, ProtocolViolation)) for e in events)
            assert server.buffered <= 4096
        assert isinstance(decode_frame(bytes(data)), (Entries, ProtocolViolation))

    @SETTINGS
    @given(st.binary(max_size=500), st.booleans())
    def test_client_survives_garbage(self, data, keyed):
        """The client turns any server bytes into events, never an exception."""
        client = ClientConnection(shared_key="k" if keyed else None, client_hostname="c")
        if data:
            for event in client.receive(data):
                assert isinstance(event, (Acked, Authenticated, ProtocolViolation))

    @SETTINGS
    @given(st.lists(_CHUNKS.filter(lambda c: c is not None), max_size=5))
    def test_acks_round_trip(self, chunks):
        """Every ack the server encodes is read back by the client as the same chunk."""
        client = ClientConnection()
        data = b"".join(encode_ack(c) for c in chunks)
        assert (client.receive(data) if data else []) == [Acked(c) for c in chunks]

    def test_msgpack_nil_frames_are_fatal(self):
        """A stream of nil bytes (not arrays) stops at the first one."""
        server = ServerConnection()
        events = server.receive(msgpack.packb(None) * 100)
        assert len(events) == 1 and events[0].fatal
