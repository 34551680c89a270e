"""fluent-logger with redaction: what a Fluentd forward input receives is redacted.

Run from the repository root: ``python examples/logging_fluent.py``. With no
arguments it starts a stand-in for Fluentd's ``in_forward`` on 127.0.0.1 (a small
msgpack receiver) and prints each event exactly as it arrived over TCP. Pass
``--host``/``--port`` to send to a real Fluentd or Fluent Bit instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import socket
import threading
import time
from typing import Any

import msgpack
from fluent.handler import FluentRecordFormatter

from redactor.fluent import RedactingFluentHandler, RedactingFluentSender


class StandInReceiver:
    """Decodes forward-protocol Message mode events (all fluent-logger sends)."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.server.getsockname()[1]
        self.events: list[Any] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        unpacker = msgpack.Unpacker(raw=False)
        with conn:
            while chunk := conn.recv(65536):
                unpacker.feed(chunk)
                self.events.extend(unpacker)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while len(self.events) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=None, help="a real forward input (default: stand-in)")
    parser.add_argument("--port", type=int, default=24224)
    args = parser.parse_args()
    receiver = None
    host, port = args.host, args.port
    if host is None:
        receiver = StandInReceiver()
        host, port = "127.0.0.1", receiver.port

    # 1. logging: a FluentHandler whose sender redacts, plus RedactingFilter built in.
    handler = RedactingFluentHandler("shop", host=host, port=port)
    handler.setFormatter(FluentRecordFormatter({"level": "%(levelname)s", "logger": "%(name)s"}))
    log = logging.getLogger("shop.checkout")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.info("charging card %s", "4111 1111 1111 1111")
    try:
        raise PermissionError("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 revoked")
    except PermissionError:
        log.exception("github sync failed")
    handler.close()

    # 2. structured events sent directly: a redacting FluentSender.
    sender = RedactingFluentSender("shop", host=host, port=port)
    sender.emit(
        "payment",
        {"order": "A-1001", "card": {"number": "5555555555554444", "cvv": "737"}, "amount": 25},
    )
    sender.close()

    if receiver is not None:
        for tag, _, record in receiver.wait_for(3):
            print(tag, json.dumps(record))


if __name__ == "__main__":
    main()
