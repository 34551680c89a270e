"""Standard library logging with redaction, configured with dictConfig.

Run from the repository root: ``python examples/logging_stdlib.py``. Prints redacted
text lines to stdout; nothing sensitive in the calls below reaches the output.
"""

from __future__ import annotations

import logging
import logging.config

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        # Policy options are keyword arguments: a TOML path, or the same shape inline.
        "redact": {"()": "redactor.stdlib.RedactingFilter"},
    },
    "formatters": {
        "text": {"format": "%(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "text",
            "filters": ["redact"],  # on the handler: covers records of every logger
        },
    },
    "root": {"handlers": ["console"], "level": "INFO"},
}


def main() -> None:
    logging.config.dictConfig(LOGGING)
    log = logging.getLogger("shop.checkout")

    log.info("charging card %s for %d EUR", "4111 1111 1111 1111", 25)
    log.info("stripe key loaded: sk_live_4eC39HqLyjWDarjtT1zdp7dc")
    log.warning("login failed for %(user)s password=%(pw)s", {"user": "ana", "pw": "hunter2"})
    try:
        raise ValueError("declined: cvv=737 for card 5555555555554444")
    except ValueError:
        log.exception("payment failed for order %s", "A-1001")


if __name__ == "__main__":
    main()
