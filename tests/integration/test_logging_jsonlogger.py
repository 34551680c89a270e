"""The sample table through python-json-logger with redactor.jsonlogger."""

from __future__ import annotations

import io
import json
import logging
import warnings

import pytest
from pythonjsonlogger.json import JsonFormatter

from redactor.engine import FAILED
from redactor.jsonlogger import RedactingJsonFormatter
from redactor.stdlib import RedactingFilter
from tests.integration.samples import SAMPLES, STDLIB_PATHS, leaks, missing, send_all, source_module


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return source_module(tmp_path_factory.mktemp("leaky"))


_counter = iter(range(1_000_000))


@pytest.fixture
def emit():
    """Return ``make(formatter, *filters) -> (logger, stream)``; handlers are removed after."""
    made: list[tuple[logging.Logger, logging.Handler]] = []

    def make(formatter: logging.Formatter, *filters: logging.Filter):
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        for flt in filters:
            handler.addFilter(flt)
        log = logging.getLogger(f"it.jsonlogger.{next(_counter)}")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        log.addHandler(handler)
        made.append((log, handler))
        return log, stream

    yield make
    for log, handler in made:
        log.removeHandler(handler)


def documents(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class TestRedactingJsonFormatterSampleTable:
    @pytest.mark.parametrize("path", list(STDLIB_PATHS))
    @pytest.mark.parametrize("options", ["default", "fields", "no_ascii"])
    def test_output_is_valid_json_without_raw_values(self, options, path, src, emit):
        """No field of any document holds a raw value; every line is still one JSON object."""
        kwargs: dict = {
            "default": {},
            "fields": {
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level"},
                "static_fields": {"service": "payments"},
                "timestamp": True,
            },
            "no_ascii": {"json_ensure_ascii": False},
        }[options]
        log, out = emit(RedactingJsonFormatter(**kwargs))
        keep = send_all(log, path, src)
        docs = documents(out.getvalue())
        assert len(docs) == len(SAMPLES)
        assert not leaks(out.getvalue())
        assert not missing(out.getvalue(), keep)
        if options == "fields":
            assert all(doc["service"] == "payments" and doc["level"] for doc in docs)

    @pytest.mark.parametrize("path", list(STDLIB_PATHS))
    def test_plain_json_formatter_behind_the_filter(self, path, src, emit):
        """The stock JsonFormatter behind RedactingFilter leaks nothing either."""
        log, out = emit(JsonFormatter(), RedactingFilter())
        keep = send_all(log, path, src)
        assert len(documents(out.getvalue())) == len(SAMPLES)
        assert not leaks(out.getvalue())
        assert not missing(out.getvalue(), keep)


class TestRedactingJsonFormatter:
    def test_exception_rendered_by_the_formatter_itself_is_redacted(self, emit):
        """json-logger calls formatException on the live exception; the result is redacted."""
        log, out = emit(RedactingJsonFormatter())
        try:
            raise ValueError("card 4111111111111111")
        except ValueError:
            log.exception("failed", extra={"order": "A-1"})
        (doc,) = documents(out.getvalue())
        assert doc["message"] == "failed"
        assert doc["order"] == "A-1"
        assert doc["exc_info"].endswith("ValueError: card 411111******1111")

    def test_keys_and_order_are_kept(self, emit):
        """Redaction keeps the formatter's field order and key names."""
        log, out = emit(RedactingJsonFormatter("%(levelname)s %(message)s"))
        log.info("login", extra={"password": "pw", "user": "ana", "card": 4111111111111111})
        assert out.getvalue() == (
            '{"levelname": "INFO", "message": "login", "password": "[REDACTED]", '
            '"user": "ana", "card": "411111******1111"}\n'
        )

    def test_indentation_is_kept_when_nothing_is_found(self, emit):
        """A clean document is passed through byte for byte, ``json_indent`` included."""
        log, out = emit(RedactingJsonFormatter(json_indent=2))
        log.info("nothing here", extra={"n": 1})
        assert out.getvalue() == '{\n  "message": "nothing here",\n  "n": 1\n}\n'

    def test_prefix_is_kept(self, emit):
        """The formatter's ``prefix`` stays in front of the redacted document."""
        log, out = emit(RedactingJsonFormatter(prefix="app: "))
        log.info("pan %s", "4111111111111111")
        assert out.getvalue() == 'app: {"message": "pan 411111******1111"}\n'

    def test_custom_objects_rendered_by_the_encoder_are_redacted(self, emit):
        """Whatever ``json_default`` turns an object into is redacted after serialization."""

        class Card:
            def __init__(self, number: str) -> None:
                self.number = number

        log, out = emit(RedactingJsonFormatter(json_default=lambda o: vars(o)))
        log.info("charge", extra={"payment": Card("4111111111111111")})
        (doc,) = documents(out.getvalue())
        assert doc["payment"] == {"number": "411111******1111"}

    def test_failure_is_a_valid_json_placeholder(self, emit):
        """An encoder that raises yields a counted placeholder document, not an exception."""

        def broken(obj: object) -> object:
            raise RuntimeError("4111111111111111")

        formatter = RedactingJsonFormatter(json_default=broken)
        log, out = emit(formatter)
        # The default redactor is shared by the process: count this record's errors only.
        before = formatter.redactor.counts().get("error", 0)
        log.info("x", extra={"obj": object()})
        (doc,) = documents(out.getvalue())
        assert doc["message"].startswith(FAILED)
        assert "4111111111111111" not in out.getvalue()
        assert formatter.redactor.counts()["error"] == before + 1

    def test_dictconfig_factory_with_policy(self):
        """``"()": "redactor.jsonlogger.RedactingJsonFormatter"`` takes policy options."""
        import logging.config

        stream = io.StringIO()
        name = f"it.jsonlogger.dict.{next(_counter)}"
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "formatters": {
                    "json": {
                        "()": "redactor.jsonlogger.RedactingJsonFormatter",
                        "fmt": "%(levelname)s %(message)s",
                        "policy": {"kinds": {"card": {"keep": "last4"}}},
                    }
                },
                "handlers": {
                    "out": {"class": "logging.StreamHandler", "stream": stream, "formatter": "json"}
                },
                "loggers": {name: {"handlers": ["out"], "level": "INFO", "propagate": False}},
            }
        )
        log = logging.getLogger(name)
        try:
            log.info("pan %s", "4111111111111111")
        finally:
            for handler in list(log.handlers):
                log.removeHandler(handler)
        assert documents(stream.getvalue()) == [
            {"levelname": "INFO", "message": "pan ************1111"}
        ]

    def test_deprecated_import_path_is_the_same_formatter(self):
        """``pythonjsonlogger.jsonlogger.JsonFormatter`` (deprecated) is what we subclass too."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            from pythonjsonlogger.jsonlogger import JsonFormatter as Old
        assert issubclass(RedactingJsonFormatter, Old)
