"""Redaction before a QueueHandler: the asyncio-friendly logging setup.

Run from the repository root: ``python examples/logging_queue.py``. Coroutines log
through a ``QueueHandler`` (cheap, never blocks the event loop on I/O); a
``QueueListener`` thread does the formatting and writing. The filter sits on the
``QueueHandler``, so records are redacted in the logging task, before they cross the
queue: nothing raw is ever held in the queue or seen by the listener's handlers.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import queue
import sys

from redactor.stdlib import RedactingFilter


def configure() -> logging.handlers.QueueListener:
    records: queue.Queue[logging.LogRecord] = queue.Queue()
    queue_handler = logging.handlers.QueueHandler(records)
    queue_handler.addFilter(RedactingFilter())  # before the queue
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(queue_handler)
    root.setLevel(logging.INFO)
    listener = logging.handlers.QueueListener(records, console)
    listener.start()
    return listener


async def handle(order: int, card: str) -> None:
    log = logging.getLogger("shop.worker")
    await asyncio.sleep(0.01 * (3 - order))
    log.info("order %d paid with %s", order, card, extra={"cvv": "737"})


async def main() -> None:
    cards = ["4111111111111111", "5555 5555 5555 4444", "3782-822463-10005"]
    await asyncio.gather(*(handle(i, card) for i, card in enumerate(cards)))


if __name__ == "__main__":
    listener = configure()
    try:
        asyncio.run(main())
    finally:
        listener.stop()
