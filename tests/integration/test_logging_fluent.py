"""The sample table through fluent-logger, decoded by a forward-protocol receiver on TCP."""

from __future__ import annotations

import datetime
import logging
import socket
import threading
import time
from typing import Any

import msgpack
import pytest
from fluent.handler import FluentHandler, FluentRecordFormatter
from fluent.sender import FluentSender

from redactor import Redactor
from redactor.engine import FAILED
from redactor.fluent import (
    RedactingAsyncFluentSender,
    RedactingFluentHandler,
    RedactingFluentSender,
)
from redactor.stdlib import RedactingFilter
from tests.integration.samples import (
    BOOKKEEPING,
    SAMPLES,
    STDLIB_PATHS,
    as_text,
    leaks,
    missing,
    send_all,
    source_module,
)


class ForwardReceiver:
    """A minimal Fluentd forward-protocol (v1) input: decodes every event it is sent.

    Accepts Message (``[tag, time, record, option?]``), Forward (``[tag, [[time, record],
    ...], option?]``) and PackedForward (``[tag, bytes, option?]``) modes; fluent-logger
    only sends Message mode. No handshake or acks: fluent-logger uses neither.
    """

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self.events: list[tuple[str, Any, Any]] = []
        self._cond = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._serve, daemon=True)
        self._accept.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._read, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _read(self, conn: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        with conn:
            while chunk := conn.recv(65536):
                unpacker.feed(chunk)
                for message in unpacker:
                    self._add(message)

    def _add(self, message: list[Any]) -> None:
        tag, body = message[0], message[1]
        if isinstance(body, list):
            entries = [(entry[0], entry[1]) for entry in body]
        elif isinstance(body, bytes):
            entries = [(entry[0], entry[1]) for entry in msgpack.Unpacker(raw=False).feed(body)]
        else:
            entries = [(body, message[2])]
        with self._cond:
            self.events.extend((tag, t, record) for t, record in entries)
            self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str, Any, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.events) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"received {len(self.events)} of {count} events")
                self._cond.wait(left)
            time.sleep(0.05)  # anything beyond ``count`` would be a duplicate: let it arrive
            return list(self.events)

    def close(self) -> None:
        self._server.close()


@pytest.fixture
def receiver():
    server = ForwardReceiver()
    yield server
    server.close()


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return source_module(tmp_path_factory.mktemp("leaky"))


_counter = iter(range(1_000_000))


@pytest.fixture
def attach():
    """Return ``attach(handler) -> logger``; the handler is removed and closed after."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def make(handler: logging.Handler) -> logging.Logger:
        log = logging.getLogger(f"it.fluent.{next(_counter)}")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.addHandler(handler)
        made.append((log, handler))
        return log

    yield make
    for log, handler in made:
        log.removeHandler(handler)
        handler.close()


FORMATTERS = {
    # The stock formatter: host, logger, module and the message with traceback and stack.
    "default": lambda: FluentRecordFormatter(),
    # Every record attribute as it is (msg, args, exc_text, stack_info, each extra...)
    # but the numbers logging stamps on each record.
    "all_attributes": lambda: FluentRecordFormatter(exclude_attrs=BOOKKEEPING),
    "dict_fmt": lambda: FluentRecordFormatter(
        {"level": "%(levelname)s", "where": "%(module)s.%(funcName)s"}
    ),
}


class TestFluentHandlerSampleTable:
    @pytest.mark.parametrize("path", list(STDLIB_PATHS))
    @pytest.mark.parametrize("formatter", list(FORMATTERS))
    def test_fluent_handler_behind_the_filter(self, formatter, path, src, receiver, attach):
        """Stock FluentHandler with RedactingFilter: nothing raw arrives at the receiver."""
        handler = FluentHandler("app", host="127.0.0.1", port=receiver.port)
        handler.setFormatter(FORMATTERS[formatter]())
        handler.addFilter(RedactingFilter())
        keep = send_all(attach(handler), path, src)
        events = receiver.wait_for(len(SAMPLES))
        received = as_text([record for _, _, record in events])
        assert len(events) == len(SAMPLES)
        assert {tag for tag, _, _ in events} == {"app"}
        assert not leaks(received)
        # Only the all-attributes formatter exports extras; every formatter keeps the message.
        fragments = keep if formatter == "all_attributes" else [s.marker for s in SAMPLES]
        assert not missing(received, fragments)

    @pytest.mark.parametrize("path", list(STDLIB_PATHS))
    def test_redacting_fluent_handler(self, path, src, receiver, attach):
        """RedactingFluentHandler with every attribute exported leaks nothing on the wire."""
        handler = RedactingFluentHandler("app", host="127.0.0.1", port=receiver.port)
        handler.setFormatter(FluentRecordFormatter(exclude_attrs=BOOKKEEPING))
        keep = send_all(attach(handler), path, src)
        received = as_text([record for _, _, record in receiver.wait_for(len(SAMPLES))])
        assert not leaks(received)
        assert not missing(received, keep)


class TestRedactingFluentSender:
    def structured(self) -> list[dict[str, Any]]:
        return [
            {
                "case": s.marker,
                "detail": s.text,
                s.key: s.value,
                "nested": {"items": [s.text, {s.key: s.value}], "raw": s.text.encode()},
            }
            for s in SAMPLES
        ]

    def test_emit_sends_redacted_events(self, receiver):
        """Every sample in values, keys, lists, nested dicts and bytes arrives redacted."""
        sender = RedactingFluentSender("app", host="127.0.0.1", port=receiver.port)
        try:
            for event in self.structured():
                assert sender.emit("payment", event)
        finally:
            sender.close()
        events = receiver.wait_for(len(SAMPLES))
        received = as_text([record for _, _, record in events])
        assert {tag for tag, _, _ in events} == {"app.payment"}
        assert not leaks(received)
        assert not missing(received, [s.marker for s in SAMPLES] + [s.key for s in SAMPLES])
        assert not missing(received, [s.keep for s in SAMPLES])

    def test_async_sender_redacts_before_queueing(self, receiver):
        """The background-thread sender gets only redacted events."""
        sender = RedactingAsyncFluentSender("app", host="127.0.0.1", port=receiver.port)
        try:
            for event in self.structured():
                sender.emit_with_time("payment", int(time.time()), event)
        finally:
            sender.close()
        received = as_text([record for _, _, record in receiver.wait_for(len(SAMPLES))])
        assert not leaks(received)
        assert not missing(received, [s.marker for s in SAMPLES])

    def test_values_msgpack_cannot_pack_arrive_as_redacted_strings(self, receiver):
        """Datetimes, sets and objects become strings: the event is packed, not dropped."""

        class Order:
            def __repr__(self) -> str:
                return "Order(pan=4111111111111111)"

        sender = RedactingFluentSender("app", host="127.0.0.1", port=receiver.port)
        try:
            sender.emit(
                None,
                {
                    "at": datetime.datetime(2024, 1, 2, 3, 4, 5),
                    "tags": {"a"},
                    "order": Order(),
                },
            )
        finally:
            sender.close()
        ((_, _, record),) = receiver.wait_for(1)
        assert record == {
            "at": "2024-01-02 03:04:05",
            "tags": "{'a'}",
            "order": "Order(pan=411111******1111)",
        }

    def test_redaction_failure_sends_a_placeholder(self, receiver):
        """If redaction fails, the receiver gets a placeholder, never the raw event."""

        class Broken(Redactor):
            def redact_event(self, event: Any) -> Any:
                self.note("error")
                return FAILED

            def redact_line(self, line: str) -> str:
                self.note("error")
                return FAILED

        sender = RedactingFluentSender(
            "app", host="127.0.0.1", port=receiver.port, redactor=Broken()
        )
        try:
            sender.emit(None, {"card": "4111111111111111"})
        finally:
            sender.close()
        ((_, _, record),) = receiver.wait_for(1)
        assert record == {"message": FAILED}
        assert sender.redactor.counts() == {"error": 1}

    def test_stock_sender_would_leak(self, receiver):
        """Control: the same event through the stock FluentSender arrives raw."""
        sender = FluentSender("app", host="127.0.0.1", port=receiver.port)
        try:
            sender.emit(None, {"card": "4111111111111111"})
        finally:
            sender.close()
        ((_, _, record),) = receiver.wait_for(1)
        assert record == {"card": "4111111111111111"}
