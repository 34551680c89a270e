"""The sample table through the standard library's logging with redactor.stdlib."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import logging.config
import logging.handlers
import queue
import threading
from collections.abc import Iterator

import pytest
from pythonjsonlogger.json import JsonFormatter

from redactor import Policy, Redactor
from redactor.engine import FAILED
from redactor.stdlib import RedactingFilter, RedactingFormatter, install
from tests.integration.samples import (
    SAMPLES,
    STDLIB_PATHS,
    leaks,
    missing,
    record_text,
    send_all,
    source_module,
)

TEXT_FORMAT = "%(levelname)s %(name)s %(message)s"


@pytest.fixture(scope="module")
def src(tmp_path_factory):
    return source_module(tmp_path_factory.mktemp("leaky"))


class Capture(logging.Handler):
    """Keeps the records it is handed, to inspect what any later handler would see."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


_counter = iter(range(1_000_000))


@pytest.fixture
def make_logger() -> Iterator:
    made: list[logging.Logger] = []

    def make(*handlers: logging.Handler) -> logging.Logger:
        log = logging.getLogger(f"it.stdlib.{next(_counter)}")
        log.setLevel(logging.DEBUG)
        log.propagate = False
        for handler in handlers:
            log.addHandler(handler)
        made.append(log)
        return log

    yield make
    for log in made:
        for handler in list(log.handlers):
            log.removeHandler(handler)
            handler.close()


def stream_handler(formatter: logging.Formatter, *filters: logging.Filter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    for flt in filters:
        handler.addFilter(flt)
    return handler, stream


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class TestRedactingFilterSampleTable:
    @pytest.mark.parametrize("path", list(STDLIB_PATHS))
    def test_no_raw_value_reaches_text_or_json_output(self, path, src, make_logger):
        """Every sample sent through this path leaves both formatters' output redacted."""
        flt = RedactingFilter()
        text_handler, text = stream_handler(logging.Formatter(TEXT_FORMAT), flt)
        json_handler, js = stream_handler(JsonFormatter(), flt)
        log = make_logger(text_handler, json_handler)

        keep = send_all(log, path, src)

        assert not leaks(text.getvalue())
        assert not leaks(js.getvalue())
        assert not missing(js.getvalue(), keep)
        assert len(json_lines(js.getvalue())) == len(SAMPLES)

    @pytest.mark.parametrize("path", list(STDLIB_PATHS))
    def test_no_attribute_of_the_record_holds_a_raw_value(self, path, src, make_logger):
        """After the filter, no record attribute and no fresh formatter can show a raw value."""
        capture = Capture()
        capture.addFilter(RedactingFilter())
        log = make_logger(capture)

        send_all(log, path, src)

        for record in capture.records:
            assert record.exc_info is None
            assert record.args == ()
            assert not leaks(record_text(record))
            assert record.getMessage() == record.getMessage()
            for formatter in (logging.Formatter(TEXT_FORMAT), JsonFormatter()):
                assert not leaks(formatter.format(record))


class TestRedactingFilterBehaviour:
    def test_message_is_formatted_then_redacted_and_args_cleared(self, make_logger):
        """``getMessage()`` returns the redacted text and ``args`` can no longer be re-merged."""
        capture = Capture()
        capture.addFilter(RedactingFilter())
        make_logger(capture).info("pay %s amount %d", "4111111111111111", 10)
        record = capture.records[0]
        assert record.getMessage() == "pay 411111******1111 amount 10"
        assert record.msg == record.getMessage()
        assert record.args == ()

    def test_failed_percent_formatting_does_not_fall_back_to_raw_args(self, make_logger):
        """A broken %-format yields a placeholder naming the failure, never ``str(args)``."""
        flt = RedactingFilter(redactor=Redactor())
        handler, out = stream_handler(logging.Formatter(TEXT_FORMAT), flt)
        make_logger(handler).info("card %d cvv %d", "4111111111111111")
        line = out.getvalue()
        assert "4111111111111111" not in line
        assert FAILED in line
        assert "TypeError" in line
        assert "card %d cvv %d" in line
        assert flt.redactor.counts().get("error") == 1

    def test_failed_formatting_of_a_formatted_record_is_counted_once(self):
        """A broken %-format on a record an earlier handler formatted: one error, one email.

        The record takes the one-pass check (no extras besides ``message``), whose
        placeholder still holds an ``@`` and is redacted afterwards; the message was
        once formatted a second time there, counting the failure twice.
        """
        flt = RedactingFilter(redactor=Redactor())
        record = logging.makeLogRecord({"msg": "mail ana@example.com %d", "args": ("x",)})
        record.message = "rendered by an earlier handler"
        flt.filter(record)
        assert FAILED in record.getMessage() and record.message == record.getMessage()
        assert "ana@example.com" not in record.message
        assert flt.redactor.counts() == {"error": 1, "email": 1}

    def test_an_argument_whose_str_raises_becomes_a_placeholder(self, make_logger):
        """An argument that cannot be rendered fails closed instead of raising."""

        class Hostile:
            def __str__(self) -> str:
                raise RuntimeError("4111111111111111")

        handler, out = stream_handler(logging.Formatter(TEXT_FORMAT), RedactingFilter())
        make_logger(handler).info("value %s", Hostile())
        assert FAILED in out.getvalue()
        assert "RuntimeError" in out.getvalue()
        assert "4111111111111111" not in out.getvalue()

    def test_exception_is_replaced_by_redacted_text(self, make_logger):
        """``exc_info`` is dropped and ``exc_text`` holds the redacted traceback."""
        capture = Capture()
        capture.addFilter(RedactingFilter())
        log = make_logger(capture)
        try:
            raise ValueError("card 4111111111111111")
        except ValueError:
            log.exception("failed")
        record = capture.records[0]
        assert record.exc_info is None
        assert "Traceback (most recent call last)" in record.exc_text
        assert "ValueError: card 411111******1111" in record.exc_text

    def test_python_json_logger_cannot_re_render_the_exception(self, make_logger):
        """JsonFormatter, which calls formatException itself, shows only the redacted text."""
        handler, out = stream_handler(JsonFormatter(), RedactingFilter())
        log = make_logger(handler)
        try:
            raise ValueError("token sk_live_abcdefghijklmnopqrstuvwx")
        except ValueError:
            log.exception("failed")
        (doc,) = json_lines(out.getvalue())
        assert "ValueError: token sk_live_[REDACTED]" in doc["exc_info"]

    def test_extra_values_are_redacted_by_key_and_by_value(self, make_logger):
        """Extras are masked under sensitive keys and scanned everywhere else."""
        capture = Capture()
        capture.addFilter(RedactingFilter())
        make_logger(capture).info(
            "login",
            extra={"password": "hunter2", "user": "ana", "ctx": {"cvv": 123, "n": [5]}},
        )
        record = capture.records[0]
        assert record.password == "[REDACTED]"
        assert record.user == "ana"
        assert record.ctx == {"cvv": "[REDACTED]", "n": [5]}

    def test_extra_objects_become_redacted_strings(self, make_logger):
        """An object in ``extra`` is rendered and redacted, so no formatter can repr it raw."""

        class Payment:
            def __repr__(self) -> str:
                return "Payment(pan=4111111111111111)"

        capture = Capture()
        capture.addFilter(RedactingFilter())
        make_logger(capture).info("paid", extra={"payment": Payment()})
        assert capture.records[0].payment == "Payment(pan=411111******1111)"

    def test_running_twice_changes_nothing(self):
        """A second filter (another handler's) leaves an already redacted record as it is."""
        flt = RedactingFilter()
        record = logging.makeLogRecord(
            {"msg": "pay %s", "args": ("4111111111111111",), "pan": 4111111111111111}
        )
        record.stack_info = "Stack: mail ana@example.com"
        flt.filter(record)
        once = dict(record.__dict__)
        flt.filter(record)
        assert record.__dict__ == once
        assert record.getMessage() == "pay 411111******1111"
        assert record.pan == "411111******1111"

    def test_a_formatter_that_ran_before_the_filter_is_overwritten(self, make_logger):
        """``record.message`` left by an earlier, unfiltered handler is redacted too."""
        earlier, out = stream_handler(logging.Formatter("%(message)s"))
        capture = Capture()
        capture.addFilter(RedactingFilter())
        make_logger(earlier, capture).info("pay %s", "4111111111111111")
        assert "4111111111111111" in out.getvalue()  # the unfiltered handler leaks
        assert capture.records[0].message == "pay 411111******1111"

    def test_each_finding_is_counted_once(self, make_logger):
        """Counters see one card and one password, however the record is scanned."""
        flt = RedactingFilter(redactor=Redactor())
        capture = Capture()
        capture.addFilter(flt)
        log = make_logger(capture)
        log.info("pay %s", "4111111111111111", extra={"password": "pw", "user": "ana"})
        log.info("clean", extra={"user": "ana"})
        assert flt.redactor.counts() == {"card": 1, "password": 1}

    def test_extra_key_holding_a_card_number_is_redacted(self, make_logger):
        """An extra's *name* is rendered too (JSON formatters print it): it is scanned.

        The one-pass check once looked only at the values and the key catalogue, so a
        clean record whose extra was named by a card number kept that name raw.
        """
        capture = Capture()
        capture.addFilter(RedactingFilter(redactor=Redactor()))
        make_logger(capture).info("hi", extra={"4111111111111111": 1})
        names = [name for name in vars(capture.records[0]) if "1111" in name]
        assert names == ["411111******1111"]

    @pytest.mark.parametrize("tamper", ["reset", "delete"])
    def test_extras_are_found_when_standard_attributes_were_reordered(self, tamper):
        """Extras are found by the order of attribute names; a reordered record still works.

        A filter or factory that deleted (and maybe re-set) a standard attribute moves
        it, or removes it, from the front of ``__dict__``: counting names from the front
        would then miss an extra. Such records must take the general path.
        """
        record = logging.makeLogRecord({"msg": "pay", "note": "card 4111111111111111"})
        del record.funcName
        if tamper == "reset":
            record.funcName = "f"
        RedactingFilter(redactor=Redactor()).filter(record)
        assert record.note == "card 411111******1111"

    def test_clean_extras_after_a_formatter_ran_keep_the_formatted_message(self, make_logger):
        """A clean record an earlier handler formatted keeps ``message`` in step with ``msg``."""
        earlier, _ = stream_handler(logging.Formatter("%(message)s"))
        capture = Capture()
        capture.addFilter(RedactingFilter(redactor=Redactor()))
        make_logger(earlier, capture).info("order %s of %s", 7, "ana", extra={"step": "paid"})
        record = capture.records[0]
        assert (record.msg, record.args, record.message) == ("order 7 of ana", (), "order 7 of ana")

    def test_flagged_extras_after_a_formatter_ran_update_the_formatted_message(self, make_logger):
        """A flagged record an earlier handler formatted gets ``message`` redacted too."""
        earlier, _ = stream_handler(logging.Formatter("%(message)s"))
        capture = Capture()
        capture.addFilter(RedactingFilter(redactor=Redactor()))
        make_logger(earlier, capture).info(
            "pay %s", "4111111111111111", extra={"note": "ana@example.com"}
        )
        record = capture.records[0]
        assert record.message == record.getMessage() == "pay 411111******1111"
        assert record.note == "***@example.com"

    def test_same_names_with_a_nested_value_take_the_general_path(self, make_logger):
        """What is remembered per set of extras' names is never a verdict on values.

        The first record makes the names known with flat values; the second, with the
        same names, nests a card number in a dict, which the one-pass check does not
        cover: it must still be redacted.
        """
        capture = Capture()
        capture.addFilter(RedactingFilter(redactor=Redactor()))
        log = make_logger(capture)
        log.info("hi", extra={"meta": "plain", "n": 1})
        log.info("hi", extra={"meta": {"pan": "4111 1111 1111 1111"}, "n": 2})
        assert capture.records[1].meta == {"pan": "411111******1111"}

    def test_memory_for_sets_of_extras_names_is_bounded(self, make_logger):
        """Names chosen by input cannot grow the filter's per-name-set memory without end."""
        flt = RedactingFilter(redactor=Redactor())
        capture = Capture()
        capture.addFilter(flt)
        log = make_logger(capture)
        for i in range(3000):
            log.info("hi", extra={f"field{i}": "4111111111111111"})
        assert len(flt._plans) <= 1024
        assert capture.records[-1].field2999 == "411111******1111"

    def test_private_extras_holding_data_are_scanned_and_objects_are_not(self, make_logger):
        """``_``-names holding plain data may be rendered by formatters: they are scanned."""
        plumbing = object()
        capture = Capture()
        capture.addFilter(RedactingFilter(redactor=Redactor()))
        make_logger(capture).info(
            "hi", extra={"_pan": "4111111111111111", "_logger": plumbing, "n": 3}
        )
        record = capture.records[0]
        assert (record._pan, record._logger, record.n) == ("411111******1111", plumbing, 3)

    def test_redaction_failure_replaces_the_whole_record(self, make_logger):
        """If the redactor itself fails, every renderable attribute becomes a placeholder."""

        class Broken(Redactor):
            # The filter redacts a flagged message through the private entry point,
            # with the detectors its own pass found; both must fail closed.
            def redact_line(self, line: str) -> str:
                raise RuntimeError("boom")

            def _redact_line(self, line: str, subset: frozenset[int] | None) -> str:
                raise RuntimeError("boom")

        flt = RedactingFilter(redactor=Broken())
        capture = Capture()
        capture.addFilter(flt)
        make_logger(capture).info("pay %s", "4111111111111111", extra={"note": "x"})
        record = capture.records[0]
        assert record.getMessage() == FAILED
        assert record.note == FAILED
        assert flt.redactor.counts()["error"] == 1

    def test_named_filter_rejects_other_subtrees_rather_than_passing_them_raw(self):
        """``RedactingFilter("app")`` drops records of other loggers, as ``logging.Filter`` does."""
        flt = RedactingFilter("app")
        record = logging.makeLogRecord({"name": "other", "msg": "4111111111111111"})
        assert flt.filter(record) is False
        assert flt.filter(logging.makeLogRecord({"name": "app.x", "msg": "4111111111111111"}))

    def test_policy_keyword_compiles_its_own_redactor(self, make_logger):
        """``policy=`` accepts a mapping shaped like the TOML file."""
        flt = RedactingFilter(policy={"rules": ["@pci"], "kinds": {"card": {"keep": "last4"}}})
        capture = Capture()
        capture.addFilter(flt)
        make_logger(capture).info("pay 4111111111111111 mail ana@example.com")
        assert capture.records[0].getMessage() == "pay ************1111 mail ana@example.com"

    def test_redactor_and_policy_together_are_refused(self):
        """Passing both is a configuration error, raised at construction."""
        with pytest.raises(ValueError):
            RedactingFilter(redactor=Redactor(), policy=Policy())


class TestPropagation:
    def test_logger_filter_misses_records_of_child_loggers(self, make_logger):
        """A filter on a logger does not run for propagated records: attach to handlers."""
        handler, out = stream_handler(logging.Formatter("%(message)s"))
        parent = make_logger(handler)
        parent.addFilter(RedactingFilter())
        child = logging.getLogger(parent.name + ".child")
        child.info("pay %s", "4111111111111111")
        assert "4111111111111111" in out.getvalue()

    def test_handler_filter_covers_records_of_child_loggers(self, make_logger):
        """The same filter on the handler redacts what children propagate."""
        handler, out = stream_handler(logging.Formatter("%(message)s"), RedactingFilter())
        parent = make_logger(handler)
        logging.getLogger(parent.name + ".child").info("pay %s", "4111111111111111")
        assert out.getvalue() == "pay 411111******1111\n"


class TestRedactingFormatter:
    @pytest.mark.parametrize("path", list(STDLIB_PATHS))
    @pytest.mark.parametrize("inner", ["text", "json"])
    def test_wrapped_formatter_output_is_redacted(self, inner, path, src, make_logger):
        """With no filter at all, the wrapping formatter still lets no raw value out."""
        wrapped = (
            RedactingFormatter(TEXT_FORMAT)
            if inner == "text"
            else RedactingFormatter(inner=JsonFormatter())
        )
        handler, out = stream_handler(wrapped)
        keep = send_all(make_logger(handler), path, src)
        assert not leaks(out.getvalue())
        if inner == "json":
            assert len(json_lines(out.getvalue())) == len(SAMPLES)
            assert not missing(out.getvalue(), keep)

    def test_inner_formatter_from_a_dictconfig_mapping(self):
        """``inner={"()": dotted name, ...}`` builds the wrapped formatter like dictConfig."""
        formatter = RedactingFormatter(
            inner={"()": "pythonjsonlogger.json.JsonFormatter", "fmt": "%(levelname)s"}
        )
        assert isinstance(formatter.inner, JsonFormatter)

    def test_failing_inner_formatter_yields_a_placeholder(self):
        """An inner formatter that raises is reported, not propagated."""

        class Broken(logging.Formatter):
            def format(self, record: logging.LogRecord) -> str:
                raise RuntimeError("4111111111111111")

        out = RedactingFormatter(inner=Broken()).format(logging.makeLogRecord({"msg": "x"}))
        assert out.startswith(FAILED)
        assert "4111111111111111" not in out


class TestDictConfigAndInstall:
    def test_dictconfig_filter_and_formatter(self):
        """Both classes load from dictConfig with policy options as keyword arguments."""
        stream = io.StringIO()
        name = f"it.dictconfig.{next(_counter)}"
        logging.config.dictConfig(
            {
                "version": 1,
                "disable_existing_loggers": False,
                "filters": {
                    "redact": {
                        "()": "redactor.stdlib.RedactingFilter",
                        "policy": {"rules": ["@default"], "kinds": {"card": {"keep": "last4"}}},
                    }
                },
                "formatters": {
                    "json": {
                        "()": "redactor.stdlib.RedactingFormatter",
                        "inner": {"()": "pythonjsonlogger.json.JsonFormatter"},
                    }
                },
                "handlers": {
                    "out": {
                        "class": "logging.StreamHandler",
                        "stream": stream,
                        "filters": ["redact"],
                        "formatter": "json",
                    }
                },
                "loggers": {name: {"handlers": ["out"], "level": "INFO", "propagate": False}},
            }
        )
        log = logging.getLogger(name)
        try:
            log.info("pay %s", "4111111111111111", extra={"password": "pw"})
        finally:
            for handler in list(log.handlers):
                log.removeHandler(handler)
        (doc,) = json_lines(stream.getvalue())
        assert doc == {"message": "pay ************1111", "password": "[REDACTED]"}

    def test_install_covers_every_root_handler(self):
        """``install()`` attaches one shared filter to each root handler, once."""
        root = logging.getLogger()
        saved = root.handlers[:]
        first, out1 = stream_handler(logging.Formatter("%(message)s"))
        second, out2 = stream_handler(logging.Formatter("%(message)s"))
        root.handlers[:] = [first, second]
        try:
            flt = install()
            assert install() is not flt
            assert [f for f in first.filters if isinstance(f, RedactingFilter)] == [flt]
            logging.getLogger(f"it.install.{next(_counter)}").warning("pan 4111111111111111")
        finally:
            root.handlers[:] = saved
        assert out1.getvalue() == out2.getvalue() == "pan 411111******1111\n"
        assert flt.redactor.counts()["card"] >= 1

    def test_install_refuses_a_logger_without_handlers(self):
        """With no handler to attach to, ``install`` fails loudly at configuration time."""
        with pytest.raises(ValueError):
            install(logging.getLogger(f"it.nohandlers.{next(_counter)}"))


class TestConcurrency:
    @pytest.mark.parametrize("path", ["percent_args", "extra_key", "exception"])
    def test_queue_handler_redacts_before_the_queue(self, path, src, make_logger):
        """Records cross a QueueHandler already redacted; the listener side sees no raw value."""
        q: queue.Queue[logging.LogRecord] = queue.Queue()
        queue_handler = logging.handlers.QueueHandler(q)
        queue_handler.addFilter(RedactingFilter())
        log = make_logger(queue_handler)
        crossed: list[logging.LogRecord] = []

        class Tap(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                crossed.append(record)

        sink, out = stream_handler(JsonFormatter())
        listener = logging.handlers.QueueListener(q, Tap(), sink)
        listener.start()
        try:
            keep = send_all(log, path, src)
        finally:
            listener.stop()
        assert len(crossed) == len(SAMPLES)
        assert not any(leaks(record_text(record)) for record in crossed)
        assert not leaks(out.getvalue())
        assert not missing(out.getvalue(), keep)

    def test_many_threads_share_one_filter(self, make_logger):
        """Eight threads logging through one filter and handler leak nothing and lose nothing."""
        flt = RedactingFilter(redactor=Redactor())
        handler, out = stream_handler(logging.Formatter("%(message)s"), flt)
        log = make_logger(handler)
        rounds = 50

        def worker(n: int) -> None:
            for i in range(rounds):
                sample = SAMPLES[(n * rounds + i) % len(SAMPLES)]
                log.info("%s t%d %s", sample.marker, n, sample.text, extra={sample.key: 1})

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        lines = out.getvalue().splitlines()
        assert len(lines) == 8 * rounds
        assert not leaks(out.getvalue())
        assert "error" not in flt.redactor.counts()

    def test_asyncio_tasks(self, make_logger):
        """Interleaved asyncio tasks logging through the filter leak nothing."""
        handler, out = stream_handler(JsonFormatter(), RedactingFilter())
        log = make_logger(handler)

        async def task(sample_index: int) -> None:
            sample = SAMPLES[sample_index]
            await asyncio.sleep(0)
            log.info("%s %s", sample.marker, sample.text, extra={sample.key: sample.value})
            await asyncio.sleep(0)
            try:
                raise ValueError(sample.text)
            except ValueError:
                log.exception(sample.marker)

        async def main() -> None:
            await asyncio.gather(*(task(i) for i in range(len(SAMPLES))))

        asyncio.run(main())
        assert len(json_lines(out.getvalue())) == 2 * len(SAMPLES)
        assert not leaks(out.getvalue())
        assert not missing(out.getvalue(), [s.marker for s in SAMPLES])
