"""The sample table through structlog with redactor.structlog.RedactingProcessor."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
import structlog
from structlog.stdlib import ProcessorFormatter

from redactor import Redactor
from redactor.engine import FAILED
from redactor.stdlib import RedactingFilter
from redactor.structlog import RedactingProcessor
from tests.integration.samples import (
    SAMPLES,
    STDLIB_PATHS,
    Sample,
    leaks,
    missing,
    send_all,
    source_module,
)


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return source_module(tmp_path_factory.mktemp("leaky"))


@pytest.fixture(autouse=True)
def _clean_contextvars():
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()


# -- how a sample reaches a structlog logger --------------------------------------------

Send = Callable[[Any, Sample, ModuleType, int], list[str]]


def _event(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info(f"{s.marker} {s.text}")
    return [s.marker, s.keep]


def _positional(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info("%s payload %s", s.marker, s.text)
    return [s.marker, s.keep]


def _value(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info(s.marker, detail=s.text)
    return [s.marker, s.keep]


def _key(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info(s.marker, **{s.key: s.value})
    return [s.marker, s.key]


def _nested(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.info(s.marker, ctx={"request": {"items": [s.text], s.key: s.value}})
    return [s.marker, s.keep, s.key]


def _bound(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.bind(detail=s.text, **{s.key: s.value}).info(s.marker)
    return [s.marker, s.keep, s.key]


def _contextvars(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    with structlog.contextvars.bound_contextvars(detail=s.text, **{s.key: s.value}):
        log.info(s.marker)
    return [s.marker, s.keep, s.key]


def _exception(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    try:
        raise ValueError(f"{s.marker} {s.text}")
    except ValueError:
        log.exception("request failed")
    return [s.marker, s.keep, "ValueError"]


def _exc_info_object(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    log.error("request failed", exc_info=ValueError(f"{s.marker} {s.text}"))
    return [s.marker, s.keep]


def _chained(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    try:
        try:
            raise KeyError(s.text)
        except KeyError as exc:
            raise RuntimeError(f"{s.marker} wrapper") from exc
    except RuntimeError:
        log.exception("request failed")
    return [s.marker, "KeyError"]


def _exception_source(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    try:
        getattr(src, f"raise_{i}")()
    except ValueError:
        log.exception("request failed")
    return [s.marker, "leaky_source.py"]


def _stack_info(log: Any, s: Sample, src: ModuleType, i: int) -> list[str]:
    getattr(src, f"stack_{i}")(log)
    return [s.marker, "leaky_source.py"]


STRUCTLOG_PATHS: dict[str, Send] = {
    "event": _event,
    "positional_args": _positional,
    "event_value": _value,
    "sensitive_key": _key,
    "nested_dict": _nested,
    "bound_context": _bound,
    "contextvars": _contextvars,
    "exception": _exception,
    "exc_info_object": _exc_info_object,
    "chained_exception": _chained,
    "exception_source_line": _exception_source,
    "stack_info": _stack_info,
}


def send_structlog(log: Any, path: str, src: ModuleType) -> list[str]:
    keep: list[str] = []
    for i, sample in enumerate(SAMPLES):
        keep += STRUCTLOG_PATHS[path](log, sample, src, i)
    return keep


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# -- pipelines ----------------------------------------------------------------------------


def native(exceptions: Any, *, early: bool = False) -> tuple[Any, io.StringIO]:
    """A structlog-only JSON pipeline; ``early`` puts the processor before the renderers."""
    out = io.StringIO()
    renderers = [structlog.processors.StackInfoRenderer(), exceptions]
    redact: list[Any] = [RedactingProcessor()]
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        *(redact + renderers if early else renderers + redact),
        structlog.processors.JSONRenderer(),
    ]
    log = structlog.wrap_logger(
        structlog.PrintLogger(out),
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
        cache_logger_on_first_use=False,
    )
    return log, out


_counter = iter(range(1_000_000))


@pytest.fixture
def bridge():
    """structlog over stdlib logging, rendered by ProcessorFormatter with the processor."""
    handlers: list[tuple[logging.Logger, logging.Handler]] = []

    def make(*, with_filter: bool = False) -> tuple[Any, logging.Logger, io.StringIO]:
        out = io.StringIO()
        redact = RedactingProcessor()
        formatter = ProcessorFormatter(
            processors=[
                structlog.processors.format_exc_info,
                redact,
                ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.ExtraAdder(),
                *([redact] if with_filter else []),
            ],
        )
        handler = logging.StreamHandler(out)
        handler.setFormatter(formatter)
        if with_filter:
            handler.addFilter(RedactingFilter())
        std = logging.getLogger(f"it.structlog.{next(_counter)}")
        std.setLevel(logging.DEBUG)
        std.propagate = False
        std.addHandler(handler)
        handlers.append((std, handler))
        log = structlog.wrap_logger(
            std,
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.stdlib.add_log_level,
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.processors.StackInfoRenderer(),
                ProcessorFormatter.wrap_for_formatter,
            ],
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=False,
        )
        return log, std, out

    yield make
    for std, handler in handlers:
        std.removeHandler(handler)


# -- tests --------------------------------------------------------------------------------


class TestRedactingProcessorSampleTable:
    @pytest.mark.parametrize("path", list(STRUCTLOG_PATHS))
    @pytest.mark.parametrize("pipeline", ["format_exc_info", "dict_tracebacks", "placed_too_early"])
    def test_native_json_pipeline(self, pipeline, path, src):
        """Every sample through this path and pipeline renders with no raw value."""
        if pipeline == "dict_tracebacks":
            log, out = native(structlog.processors.dict_tracebacks)
        else:
            early = pipeline == "placed_too_early"
            log, out = native(structlog.processors.format_exc_info, early=early)
        keep = send_structlog(log, path, src)
        assert not leaks(out.getvalue())
        assert len(json_lines(out.getvalue())) == len(SAMPLES)
        assert not missing(out.getvalue(), keep)

    @pytest.mark.parametrize("path", list(STRUCTLOG_PATHS))
    def test_stdlib_bridge_with_processor_formatter(self, path, src, bridge):
        """structlog events through ProcessorFormatter's chain are redacted."""
        log, _, out = bridge()
        keep = send_structlog(log, path, src)
        assert not leaks(out.getvalue())
        assert len(json_lines(out.getvalue())) == len(SAMPLES)
        assert not missing(out.getvalue(), keep)

    @pytest.mark.parametrize("path", list(STDLIB_PATHS))
    def test_foreign_stdlib_records_through_processor_formatter(self, path, src, bridge):
        """Plain logging records rendered by ProcessorFormatter are redacted too."""
        _, std, out = bridge()
        keep = send_all(std, path, src)
        assert not leaks(out.getvalue())
        assert len(json_lines(out.getvalue())) == len(SAMPLES)
        assert not missing(out.getvalue(), keep)

    @pytest.mark.parametrize(
        ("std_path", "structlog_path"),
        [
            ("exception", "exception"),
            ("chained_exception", "chained_exception"),
            ("stack_info", "stack_info"),
            ("extra_key", "sensitive_key"),
            ("nested_extra", "bound_context"),
        ],
    )
    def test_filter_and_processor_on_the_same_handler(self, std_path, structlog_path, src, bridge):
        """With RedactingFilter on the handler, exceptions still reach the JSON, redacted."""
        log, std, out = bridge(with_filter=True)
        keep = send_all(std, std_path, src) + send_structlog(log, structlog_path, src)
        assert not leaks(out.getvalue())
        assert len(json_lines(out.getvalue())) == 2 * len(SAMPLES)
        assert not missing(out.getvalue(), keep)


class TestRedactingProcessor:
    def test_redacts_values_keys_and_nesting(self):
        """Called directly, the processor masks by key and value at any depth."""
        event = {
            "event": "pay 4111111111111111",
            "user": {"email": "ana@example.com", "password": "pw", "ids": [1, 2]},
            "cvv": 123,
        }
        out = RedactingProcessor()(None, "info", event)
        assert out == {
            "event": "pay 411111******1111",
            "user": {"email": "***@example.com", "password": "[REDACTED]", "ids": [1, 2]},
            "cvv": "[REDACTED]",
        }
        assert event["cvv"] == 123  # the input is not mutated

    def test_returns_the_same_dict_when_nothing_is_found_and_counts_once(self):
        """A clean event passes untouched; a dirty one is counted once per finding."""
        processor = RedactingProcessor(redactor=Redactor())
        clean = {"event": "GET /api 200", "ms": 3.5}
        assert processor(None, "info", clean) is clean
        processor(None, "info", {"event": "pay 4111111111111111", "user": {"cvv": 1}})
        assert processor.redactor.counts() == {"card": 1, "cvv": 1}

    def test_same_keys_with_a_nested_value_are_still_walked(self):
        """What is remembered per set of keys is never a verdict on values."""
        processor = RedactingProcessor(redactor=Redactor())
        assert processor(None, "info", {"event": "e", "meta": "plain"})["meta"] == "plain"
        out = processor(None, "info", {"event": "e", "meta": {"pan": "4111111111111111"}})
        assert out["meta"] == {"pan": "411111******1111"}

    def test_flat_values_of_every_scalar_type(self):
        """Bools, floats, None and ints of any size sit beside a flagged value unchanged."""
        event = {"event": "pay 4111111111111111", "ok": True, "ms": 1.5, "x": None, "n": 7}
        out = RedactingProcessor()(None, "info", {**event, "pan": 4111111111111111})
        assert out == {**event, "event": "pay 411111******1111", "pan": "411111******1111"}

    def test_stack_info_false_is_not_rendered(self):
        """``stack_info=False`` asks for no stack: the event is redacted and left without one."""
        out = RedactingProcessor()(
            None, "info", {"event": "pay 4111111111111111", "stack_info": False}
        )
        assert out == {"event": "pay 411111******1111", "stack_info": False}

    def test_memory_for_sets_of_keys_is_bounded(self):
        """Keys chosen by input cannot grow the processor's per-key-set memory without end."""
        processor = RedactingProcessor(redactor=Redactor())
        for i in range(3000):
            out = processor(None, "info", {"event": "e", f"k{i}": "4111111111111111"})
        assert len(processor._plans) <= 1024
        assert out["k2999"] == "411111******1111"

    def test_live_exception_is_rendered_before_redaction(self):
        """An ``exc_info`` still in the event becomes redacted text under ``exception``."""
        try:
            raise ValueError("card 4111111111111111")
        except ValueError as exc:
            out = RedactingProcessor()(None, "error", {"event": "x", "exc_info": exc})
        assert "exc_info" not in out
        assert "ValueError: card 411111******1111" in out["exception"]

    def test_processor_formatter_meta_keys_pass_through(self):
        """``_record`` and ``_from_structlog`` stay the same objects for the formatter."""
        record = logging.makeLogRecord({"msg": "4111111111111111"})
        out = RedactingProcessor()(None, "info", {"event": "e", "_record": record})
        assert out["_record"] is record

    def test_failure_yields_a_counted_placeholder(self):
        """If redaction fails, the event is a placeholder and the error is counted."""

        class Broken(Redactor):
            # The processor walks a flagged event through the private entry point,
            # with the detectors its own pass found; every entry point must fail closed.
            def redact_event(self, event: Any) -> Any:
                raise RuntimeError("boom")

            def _event(self, event: Any, subset: frozenset[int] | None) -> Any:
                raise RuntimeError("boom")

            def redact_line(self, line: str) -> str:
                raise RuntimeError("boom")

        processor = RedactingProcessor(redactor=Broken())
        assert processor(None, "info", {"event": "4111111111111111"}) == {"event": FAILED}
        assert processor.redactor.counts() == {"error": 1}

    def test_configure_with_the_documented_chain(self):
        """The README's ``structlog.configure`` chain works end to end."""
        out = io.StringIO()
        structlog.configure(
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.processors.StackInfoRenderer(),
                structlog.processors.format_exc_info,
                RedactingProcessor(),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.PrintLoggerFactory(out),
            cache_logger_on_first_use=False,
        )
        try:
            structlog.get_logger().bind(api_key="abc").info("paid", card="4111111111111111")
        finally:
            structlog.reset_defaults()
        (doc,) = json_lines(out.getvalue())
        assert doc["card"] == "411111******1111"
        assert doc["api_key"] == "[REDACTED]"
        assert doc["level"] == "info"
