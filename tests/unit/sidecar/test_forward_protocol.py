"""Tests for sidecar.protocol: forward-protocol codec, handshake and state machines."""

from __future__ import annotations

import gzip
import hashlib
import struct
import tracemalloc
import zlib

import msgpack
import pytest

from sidecar.protocol import (
    Acked,
    Authenticated,
    ClientConnection,
    ClientState,
    Entries,
    EventTime,
    ProtocolUsageError,
    ProtocolViolation,
    ServerConnection,
    ServerState,
    decode_frame,
    encode_ack,
    encode_forward,
    encode_message,
    encode_packed_forward,
    new_chunk_id,
)

SECRET = "4111111111111111"


def pack(value):
    return msgpack.packb(value, use_bin_type=True)


def one(events):
    assert len(events) == 1, events
    return events[0]


def handshake(server, client):
    """Run HELO/PING/PONG between the two; return (server events, client events)."""
    assert client.receive(server.initial_bytes()) == []
    server_events = server.receive(client.data_to_send())
    client_events = client.receive(server.data_to_send())
    return server_events, client_events


def sha512_hex(*parts):
    return hashlib.sha512(b"".join(parts)).hexdigest()


class TestEventTime:
    def test_wire_layout_is_two_big_endian_uint32(self):
        """EventTime packs as ext 0 with seconds then nanoseconds, big-endian."""
        packed = encode_message("t", EventTime(1, 2), {})
        assert b"\xd7\x00" + struct.pack(">II", 1, 2) in packed

    def test_nanosecond_conversions_are_exact(self):
        """from_ns and to_ns round-trip, and to_float agrees to the microsecond."""
        time = EventTime.from_ns(1_700_000_000_123_456_789)
        assert (time.seconds, time.nanoseconds) == (1_700_000_000, 123_456_789)
        assert time.to_ns() == 1_700_000_000_123_456_789
        assert time.to_float() == pytest.approx(1_700_000_000.123457, abs=1e-6)

    @pytest.mark.parametrize(("seconds", "nanoseconds"), [(-1, 0), (2**32, 0), (0, 10**9)])
    def test_rejects_values_the_wire_cannot_carry(self, seconds, nanoseconds):
        """Seconds must fit 32 bits and nanoseconds stay below one second."""
        with pytest.raises(ValueError):
            EventTime(seconds, nanoseconds)


class TestModes:
    def test_message_mode(self):
        """[tag, time, record] gives one entry, in message mode."""
        event = one(ServerConnection().receive(encode_message("app", 5, {"a": 1})))
        assert event == Entries("app", ((5, {"a": 1}),), mode="message", nbytes=event.nbytes)

    def test_message_mode_with_event_time_and_float(self):
        """EventTime and legacy float times are both accepted as the time."""
        server = ServerConnection()
        data = encode_message("t", EventTime(7, 8), {}) + encode_message("t", 1.5, {})
        times = [event.entries[0][0] for event in server.receive(data)]
        assert times == [EventTime(7, 8), 1.5]

    def test_forward_mode(self):
        """[tag, [[time, record], ...]] gives every entry in order."""
        entries = ((1, {"a": 1}), (EventTime(2, 3), {"b": [1, 2]}))
        event = one(ServerConnection().receive(encode_forward("fw", entries)))
        assert (event.tag, event.entries, event.mode) == ("fw", entries, "forward")

    def test_packed_forward_mode(self):
        """A bin payload of concatenated [time, record] entries is unpacked."""
        entries = tuple((i, {"n": i}) for i in range(5))
        event = one(ServerConnection().receive(encode_packed_forward("p", entries)))
        assert (event.entries, event.mode, event.size) == (entries, "packed", 5)

    def test_packed_forward_with_legacy_str_payload(self):
        """A payload sent as msgpack str (old Fluent Bit) is read as raw bytes, not text."""
        when = msgpack.ExtType(0, struct.pack(">II", 1, 0xFFFFFF))
        stream = pack([1, {"k": "v"}]) + pack([when, {"k": b"\xff"}])
        frame = b"\x92\xa1t" + b"\xdb" + struct.pack(">I", len(stream)) + stream
        event = one(ServerConnection().receive(frame))
        assert event.entries == ((1, {"k": "v"}), (EventTime(1, 0xFFFFFF), {"k": b"\xff"}))

    def test_compressed_packed_forward(self):
        """option compressed=gzip inflates the payload before unpacking."""
        entries = ((1, {"msg": "x" * 1000}),)
        frame = encode_packed_forward("c", entries, compress=True)
        event = one(ServerConnection().receive(frame))
        assert (event.entries, event.mode) == (entries, "compressed")

    def test_compressed_payload_of_several_gzip_members(self):
        """Concatenated gzip members are all inflated, in order."""
        payload = gzip.compress(pack([1, {"a": 1}])) + gzip.compress(pack([2, {"b": 2}]))
        frame = pack(["c", payload, {"compressed": "gzip"}])
        event = one(ServerConnection().receive(frame))
        assert event.entries == ((1, {"a": 1}), (2, {"b": 2}))

    def test_fluent_bit_metadata_form_keeps_time_and_record(self):
        """[[time, metadata], record] entries (Fluent Bit 2.1+) decode to (time, record)."""
        frame = pack(["fb", [[[3, {"meta": 1}], {"r": 1}]]])
        assert one(ServerConnection().receive(frame)).entries == ((3, {"r": 1}),)

    def test_invalid_utf8_is_replaced_not_rejected(self):
        """A str with invalid UTF-8 decodes with U+FFFD instead of dropping the frame."""
        frame = b"\x93\xa1t\x01\x81\xa1k\xa2\xff\xfe"
        assert one(ServerConnection().receive(frame)).entries == ((1, {"k": "\ufffd\ufffd"}),)

    def test_several_frames_in_one_read(self):
        """Frames arriving together come out as separate events, in order."""
        data = b"".join(encode_message(f"t{i}", i, {}) for i in range(10))
        assert [e.tag for e in ServerConnection().receive(data)] == [f"t{i}" for i in range(10)]

    def test_repr_hides_records(self):
        """The repr of Entries shows the count, never a record."""
        event = one(ServerConnection().receive(encode_message("t", 1, {"pan": SECRET})))
        assert SECRET not in repr(event) and "count=1" in repr(event)


class TestOptions:
    def test_chunk_and_size_are_exposed(self):
        """chunk and size options are copied to the event."""
        frame = encode_forward("t", [(1, {})], {"chunk": "abc", "size": 1})
        event = one(ServerConnection().receive(frame))
        assert (event.chunk, event.size) == ("abc", 1)

    def test_empty_frame_is_delivered_so_it_can_be_acked(self):
        """A Forward frame with no entries still yields Entries carrying its chunk."""
        event = one(ServerConnection().receive(encode_forward("t", [], {"chunk": "c"})))
        assert (event.entries, event.chunk) == ((), "c")

    def test_nil_option_and_text_compression_mean_no_option(self):
        """option nil and compressed=text are accepted as plain frames."""
        server = ServerConnection()
        events = server.receive(
            pack(["t", [], None]) + pack(["t", pack([1, {}]), {"compressed": "text"}])
        )
        assert [e.mode for e in events] == ["forward", "packed"]

    @pytest.mark.parametrize(
        ("option", "reason"),
        [
            ({"chunk": 5}, "option.chunk"),
            ({"size": -1}, "option.size"),
            ({"size": True}, "option.size"),
            ({"compressed": "zstd"}, "option.compressed"),
            ([1], "option: expected a map"),
        ],
    )
    def test_bad_options_drop_the_frame(self, option, reason):
        """A malformed option is a non-fatal violation naming the option."""
        event = one(ServerConnection().receive(pack(["t", [], option])))
        assert isinstance(event, ProtocolViolation) and not event.fatal
        assert event.reason.startswith(reason)


class TestAck:
    def test_send_ack_encodes_ack_map(self):
        """send_ack returns msgpack {"ack": chunk}."""
        assert msgpack.unpackb(ServerConnection().send_ack("c1")) == {"ack": "c1"}

    def test_send_ack_requires_a_string(self):
        """Passing something other than a chunk string is an API misuse."""
        with pytest.raises(ProtocolUsageError):
            ServerConnection().send_ack(b"c1")  # type: ignore[arg-type]

    def test_client_reports_acks(self):
        """The client turns each ack map into Acked, in order."""
        client = ClientConnection()
        assert client.receive(encode_ack("a") + encode_ack("b")) == [Acked("a"), Acked("b")]

    def test_chunk_ids_are_unique(self):
        """new_chunk_id gives a different id each time."""
        assert len({new_chunk_id() for _ in range(100)}) == 100


class TestHandshake:
    def test_shared_key_success(self):
        """Matching keys authenticate both sides; data then flows."""
        server = ServerConnection(shared_key="k", server_hostname="srv")
        client = ClientConnection(shared_key="k", client_hostname="cli")
        assert handshake(server, client) == ([Authenticated("cli")], [Authenticated("srv")])
        assert server.state is ServerState.ESTABLISHED and client.established
        frame = client.pack_forward("t", [(1, {"a": 1})], chunk="c")
        assert one(server.receive(frame)).chunk == "c"

    def test_helo_carries_bin_nonce_and_keepalive(self):
        """HELO has a 16-byte bin nonce, an empty auth without users, and keepalive."""
        name, options = msgpack.unpackb(ServerConnection(shared_key="k").initial_bytes())
        assert name == "HELO" and options["auth"] == "" and options["keepalive"] is True
        assert isinstance(options["nonce"], bytes) and len(options["nonce"]) == 16
        other = msgpack.unpackb(ServerConnection(shared_key="k").initial_bytes())[1]
        assert other["nonce"] != options["nonce"]

    def test_no_helo_without_shared_key(self):
        """A keyless server sends nothing first and accepts entries at once."""
        server = ServerConnection()
        assert server.initial_bytes() == b"" and server.state is ServerState.ESTABLISHED

    def test_users_success(self):
        """With users configured, the right password authenticates that user."""
        server = ServerConnection(shared_key="k", users={"alice": "pw"}, server_hostname="s")
        client = ClientConnection("k", "alice", "pw", client_hostname="c")
        assert handshake(server, client) == (
            [Authenticated("c", "alice")],
            [Authenticated("s", "alice")],
        )

    def test_wrong_shared_key_fails_both_sides(self):
        """A wrong key gets a failure PONG; both sides see a fatal violation."""
        server = ServerConnection(shared_key="right", server_hostname="s")
        client = ClientConnection(shared_key="wrong", client_hostname="c")
        server_events, client_events = handshake(server, client)
        assert one(server_events) == ProtocolViolation("handshake: shared_key mismatch", True)
        assert one(client_events).fatal and "shared_key mismatch" in client_events[0].reason
        assert server.state is ServerState.CLOSED and client.state is ClientState.CLOSED
        assert "right" not in server_events[0].reason

    @pytest.mark.parametrize(("user", "password"), [("alice", "bad"), ("mallory", "pw")])
    def test_wrong_password_or_unknown_user_fails(self, user, password):
        """A bad password and an unknown user get the same refusal."""
        server = ServerConnection(shared_key="k", users={"alice": "pw"})
        client = ClientConnection("k", user, password, client_hostname="c")
        server_events, client_events = handshake(server, client)
        assert one(server_events).reason == "handshake: username/password mismatch"
        assert one(client_events).fatal

    def test_entries_before_ping_are_never_decoded(self):
        """Entries sent instead of a PING end the connection without being delivered."""
        server = ServerConnection(shared_key="k")
        events = server.receive(encode_message("t", 1, {"pan": SECRET}) * 3)
        assert one(events).fatal and not any(isinstance(e, Entries) for e in events)
        assert msgpack.unpackb(server.data_to_send())[:2] == ["PONG", False]

    def test_entries_after_failed_ping_in_same_read_are_dropped(self):
        """Data pipelined behind a bad PING is not decoded."""
        server = ServerConnection(shared_key="k")
        client = ClientConnection(shared_key="bad", client_hostname="c")
        client.receive(server.initial_bytes())
        events = server.receive(client.data_to_send() + encode_message("t", 1, {}))
        assert [type(e) for e in events] == [ProtocolViolation]

    def test_ping_with_str_salt_is_accepted(self):
        """A PING whose salt is a msgpack str (as some clients send) still verifies."""
        server = ServerConnection(shared_key="k", server_hostname="s")
        nonce = msgpack.unpackb(server.initial_bytes())[1]["nonce"]
        digest = sha512_hex(b"salt", b"c", nonce, b"k")
        event = one(server.receive(pack(["PING", "c", "salt", digest, "", ""])))
        assert event == Authenticated("c")
        pong = msgpack.unpackb(server.data_to_send())
        assert pong == ["PONG", True, "", "s", sha512_hex(b"salt", b"s", nonce, b"k")]

    def test_pre_auth_frames_are_capped(self):
        """Before authentication a frame over 64 KiB is fatal and never buffered whole."""
        server = ServerConnection(shared_key="k")
        events = server.receive(pack(["PING", "x" * 200_000, "", "", "", ""]))
        assert one(events).fatal and "limit" in events[0].reason
        assert server.buffered <= 64 * 1024

    def test_client_rejects_pong_with_bad_digest(self):
        """A PONG that claims success without knowing the key is fatal for the client."""
        client = ClientConnection(shared_key="k", client_hostname="c")
        client.receive(pack(["HELO", {"nonce": b"n" * 16, "auth": "", "keepalive": True}]))
        event = one(client.receive(pack(["PONG", True, "", "s", "0" * 128])))
        assert event.fatal and "digest mismatch" in event.reason and not client.established

    def test_client_rejects_reflected_ping(self):
        """A PONG naming our own hostname is refused (it could be our PING echoed)."""
        server = ServerConnection(shared_key="k", server_hostname="same")
        client = ClientConnection(shared_key="k", client_hostname="same")
        _, client_events = handshake(server, client)
        assert one(client_events).fatal and "hostname" in client_events[0].reason

    def test_keyless_client_refuses_helo(self):
        """A HELO to a client without a shared key is fatal."""
        client = ClientConnection()
        event = one(client.receive(ServerConnection(shared_key="k").initial_bytes()))
        assert event.fatal and "shared key" in event.reason

    def test_client_without_password_refuses_user_auth(self):
        """A HELO asking for user auth is fatal for a client without credentials."""
        server = ServerConnection(shared_key="k", users={"u": "p"})
        event = one(ClientConnection(shared_key="k").receive(server.initial_bytes()))
        assert event.fatal and "username" in event.reason

    def test_construction_misuse_raises(self):
        """Users without a key, an empty key and half credentials are API misuse."""
        with pytest.raises(ProtocolUsageError):
            ServerConnection(users={"u": "p"})
        with pytest.raises(ProtocolUsageError):
            ServerConnection(shared_key="")
        with pytest.raises(ProtocolUsageError):
            ClientConnection(shared_key="k", username="u")


class TestViolations:
    @pytest.mark.parametrize(
        ("frame", "reason"),
        [
            (pack([1, 1, {}]), "tag: expected a string, got int"),
            (pack(["t"]), "frame: expected 2 to 4 elements, got 1"),
            (pack(["t", 1, {}, {}, 5]), "frame: expected 2 to 4 elements, got 5"),
            (pack(["t", [1]]), "entries[0]: expected [time, record], got int"),
            (pack(["t", [[1, SECRET]]]), "entries[0].record: expected a map, got string"),
            (
                pack(["t", {"pan": SECRET}, {}]),
                "time: expected an integer, float or EventTime, got map",
            ),
            (pack(["t", True, {}]), "time: expected an integer, float or EventTime, got bool"),
            (pack(["t", float("nan"), {}]), "time: not a finite number"),
            (pack(["t", msgpack.ExtType(0, b"1234"), {}]), "time: malformed EventTime (4 bytes)"),
            (pack(["t", 1, [SECRET]]), "record: expected a map, got array"),
            (pack(["t", [], {}, {}]), "frame: forward mode takes at most 3 elements, got 4"),
            (pack(["t", pack([1, {}])[:-1]]), "entries[0]: truncated"),
            (pack(["t", b"garbage", {"compressed": "gzip"}]), "entries: corrupt gzip data"),
            (pack(["t", gzip.compress(b"x")[:-4], {"compressed": "gzip"}]), "entries: truncated"),
        ],
    )
    def test_wrong_types_are_named_by_position(self, frame, reason):
        """Each malformed frame is dropped with a non-fatal reason naming where it failed."""
        event = one(ServerConnection().receive(frame))
        assert isinstance(event, ProtocolViolation) and not event.fatal
        assert event.reason.startswith(reason) and SECRET not in event.reason

    def test_non_string_map_keys_are_rejected(self):
        """A record keyed by a non-string is a violation naming the record's position."""
        event = one(ServerConnection().receive(pack(["t", [[1, {1: 2}]]])))
        assert event.reason.startswith("entries[0]: undecodable") and not event.fatal

    def test_stream_continues_after_a_dropped_frame(self):
        """After a non-fatal violation the next frame is still decoded."""
        events = ServerConnection().receive(pack(["t", 1, []]) + encode_message("t", 1, {}))
        assert [type(e) for e in events] == [ProtocolViolation, Entries]

    @pytest.mark.parametrize("garbage", [b"\xc1", b"hello", pack({"a": 1}), b"\x91" * 2000])
    def test_garbage_is_fatal(self, garbage):
        """Invalid msgpack, non-array frames and over-deep nesting close the connection."""
        server = ServerConnection()
        events = server.receive(garbage + encode_message("t", 1, {}))
        assert one(events).fatal and server.state is ServerState.CLOSED

    def test_receive_after_close_is_misuse(self):
        """Feeding a closed connection raises ProtocolUsageError."""
        server = ServerConnection()
        server.receive(b"\xc1")
        with pytest.raises(ProtocolUsageError):
            server.receive(b"x")

    def test_eof_inside_a_frame_is_fatal(self):
        """End of stream with half a frame buffered reports the loss."""
        server = ServerConnection()
        assert server.receive(encode_message("t", 1, {})[:-1]) == []
        assert one(server.receive(b"")).fatal

    def test_clean_eof_is_silent(self):
        """End of stream between frames yields no event and closes."""
        server = ServerConnection()
        assert server.receive(b"") == [] and server.state is ServerState.CLOSED

    def test_decode_frame_rejects_trailing_bytes(self):
        """decode_frame insists on exactly one whole frame."""
        assert decode_frame(encode_message("t", 1, {}) + b"\x01").fatal
        assert decode_frame(encode_message("t", 1, {})[:-1]).fatal


class TestLimits:
    def test_oversize_frame_is_fatal_and_buffer_stays_bounded(self):
        """A frame over max_frame_bytes is fatal; no more than the limit is ever held."""
        server = ServerConnection(max_frame_bytes=1024)
        frame = encode_message("t", 1, {"x": "y" * 2000})
        events = []
        for i in range(0, len(frame), 100):
            events += server.receive(frame[i : i + 100])
            assert server.buffered <= 1024
            if events:
                break
        assert one(events).fatal and "1024-byte limit" in events[0].reason

    def test_frame_of_exactly_the_limit_is_accepted(self):
        """The limit is inclusive."""
        frame = encode_message("t", 1, {"x": "y" * 1000})
        server = ServerConnection(max_frame_bytes=len(frame))
        assert isinstance(one(server.receive(frame)), Entries)

    def test_large_read_of_small_frames_is_fine(self):
        """One read much bigger than the limit is fine if every frame fits."""
        frame = encode_message("t", 1, {"x": "y" * 50})
        server = ServerConnection(max_frame_bytes=256)
        assert len(server.receive(frame * 1000)) == 1000

    @pytest.mark.parametrize("depth", [1000, 1100])
    def test_nested_header_bomb_allocates_nothing(self, depth):
        """Nested array32 headers claiming millions of items cost no allocation.

        1000 levels just wait for data that never comes; 1100 exceed msgpack's nesting
        limit and are fatal.
        """
        bomb = (b"\xdd" + struct.pack(">I", 10_000_000)) * depth
        server = ServerConnection()
        tracemalloc.start()
        try:
            events = server.receive(bomb)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        if depth > 1024:
            assert one(events).fatal
        else:
            assert events == [] and server.buffered == len(bomb)
        assert peak < 2 * 1024 * 1024

    def test_gzip_bomb_is_capped(self):
        """A small gzip payload inflating to 64 MiB stops at max_decompressed_bytes."""
        squeezer = zlib.compressobj(9, zlib.DEFLATED, 31)
        zeros = bytes(1 << 20)
        bomb = b"".join(squeezer.compress(zeros) for _ in range(64)) + squeezer.flush()
        frame = pack(["t", bomb, {"compressed": "gzip"}])
        server = ServerConnection(max_decompressed_bytes=1 << 20)
        tracemalloc.start()
        try:
            event = one(server.receive(frame))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert event == ProtocolViolation(
            f"entries: gzip data inflates past {1 << 20} bytes", False
        )
        assert peak < 8 * 1024 * 1024

    def test_gzip_cap_spans_members(self):
        """The inflate cap counts every gzip member of a payload together."""
        member = gzip.compress(bytes(600))
        frame = pack(["t", member * 2, {"compressed": "gzip"}])
        event = one(ServerConnection(max_decompressed_bytes=1000).receive(frame))
        assert "inflates past 1000" in event.reason


class TestClient:
    def test_pack_forward_needs_an_established_connection(self):
        """Packing before the handshake finishes is API misuse."""
        with pytest.raises(ProtocolUsageError):
            ClientConnection(shared_key="k").pack_forward("t", [])

    def test_pack_forward_sets_size_chunk_and_compression(self):
        """The option map carries size, chunk and compressed=gzip."""
        frame = ClientConnection().pack_forward("t", [(1, {})] * 3, chunk="c", compress=True)
        _, payload, option = msgpack.unpackb(frame)
        assert option == {"size": 3, "chunk": "c", "compressed": "gzip"}
        assert gzip.decompress(payload) == pack([1, {}]) * 3

    def test_compressed_frames_are_deterministic(self):
        """The same entries give the same bytes, so a resend is byte for byte."""
        entries = [(EventTime(1, 2), {"a": "b"})]
        one_frame = encode_packed_forward("t", entries, chunk="c", compress=True)
        assert one_frame == encode_packed_forward("t", entries, chunk="c", compress=True)

    def test_unexpected_server_frame_is_fatal(self):
        """Anything but an ack from an established server closes the client."""
        client = ClientConnection()
        assert one(client.receive(pack(["nope"]))).fatal
        assert client.state is ClientState.CLOSED

    def test_eof_during_handshake_is_fatal(self):
        """A server closing before PONG is reported."""
        client = ClientConnection(shared_key="k")
        assert one(client.receive(b"")).fatal
