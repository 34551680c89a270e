"""structlog with redaction: a JSON pipeline, and stdlib records through ProcessorFormatter.

Run from the repository root: ``python examples/logging_structlog.py``. Prints redacted
JSON lines to stdout: first from structlog itself, then a plain ``logging`` record
rendered by structlog's ``ProcessorFormatter``.
"""

from __future__ import annotations

import logging
import sys

import structlog
from structlog.stdlib import ProcessorFormatter

from redactor.structlog import RedactingProcessor


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,  # or dict_tracebacks
            RedactingProcessor(),  # after exceptions are rendered, before the renderer
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
    )


def configure_stdlib() -> None:
    """Render records of libraries that use plain logging with the same chain."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        ProcessorFormatter(
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.processors.format_exc_info,
                RedactingProcessor(),
                ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


def main() -> None:
    configure_structlog()
    configure_stdlib()

    log = structlog.get_logger().bind(request_id="req-42", api_key="q8w7e6r5t4y3u2i1")
    log.info("charge", card="4111111111111111", amount=25, customer={"ssn": "536-22-4417"})
    structlog.contextvars.bind_contextvars(session="s3ss10n-t0k3n-v4lue")
    try:
        raise ValueError("gateway said: card 5555555555554444 declined")
    except ValueError:
        log.exception("charge failed")
    structlog.contextvars.clear_contextvars()

    logging.getLogger("urllib3").warning(
        "retrying https://api.example.com/?token=%s", "ghp_abcdefghijklmnopqrstuvwxyz0123456789"
    )


if __name__ == "__main__":
    main()
