"""python-json-logger with redaction: every field, exc_info included, stays valid JSON.

Run from the repository root: ``python examples/logging_jsonlogger.py``. Prints one
redacted JSON document per record to stdout.
"""

from __future__ import annotations

import logging
import logging.config

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {
            # A drop-in for pythonjsonlogger.json.JsonFormatter: same arguments.
            "()": "redactor.jsonlogger.RedactingJsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level"},
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "json",
        },
    },
    "root": {"handlers": ["console"], "level": "INFO"},
}


def main() -> None:
    logging.config.dictConfig(LOGGING)
    log = logging.getLogger("shop.payments")

    log.info(
        "payment authorized",
        extra={
            "order_id": "A-1001",
            "card": {"number": 4111111111111111, "cvc": "737", "exp": "12/28"},
            "customer": {"email": "maria.lopez@example.com", "phone": "+14155552671"},
            "headers": {"Authorization": "Bearer abcDEF123456ghiJKL789"},
        },
    )
    try:
        raise ConnectionError("postgres://app:S3cr3t-pw@db.internal:5432/shop unreachable")
    except ConnectionError:
        log.exception("database down")


if __name__ == "__main__":
    main()
