"""Parse, classify and process: the CPU-bound stages of the sidecar, called directly."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from redactor import Redactor
from sidecar.config import RetentionConfig, RetentionRule
from sidecar.pipeline.classify import _TEXT_LEVEL, _TEXT_LEVEL_SPAN, Classifier, text_is_error
from sidecar.pipeline.parse import parse
from sidecar.pipeline.process import PLACEHOLDER, Processor

DAY = "2026-11-20"
TIERS = {"application": 30, "error": 90, "audit": 365, "transaction": 2557}


def classifier(*rules: RetentionRule) -> Classifier:
    return Classifier(RetentionConfig(tiers=dict(TIERS), rules=rules))


class TestParse:
    def test_json_object_is_parsed(self) -> None:
        """A JSON object line becomes its dict."""
        parsed = parse('{"a": 1}')
        assert parsed.event == {"a": 1} and parsed.json and not parsed.malformed

    def test_text_is_wrapped(self) -> None:
        """Anything else is kept whole under message."""
        parsed = parse("plain line")
        assert parsed.event == {"message": "plain line"} and not parsed.json

    def test_broken_json_is_kept_and_flagged(self) -> None:
        """A line that starts like JSON but is not is kept as text and counted."""
        parsed = parse('{"a": ')
        assert parsed.event == {"message": '{"a": '} and parsed.malformed

    def test_json_format_flags_text(self) -> None:
        """In json format a non-JSON record is malformed; in text format it is not parsed."""
        assert parse("x", "json").malformed
        assert parse('{"a": 1}', "text").event == {"message": '{"a": 1}'}

    def test_json_array_is_text(self) -> None:
        """A JSON value that is not an object is shipped as a message."""
        assert parse("[1, 2]").event == {"message": "[1, 2]"}


class TestClassifier:
    @pytest.mark.parametrize(
        ("event", "is_json", "tier"),
        [
            ({"level": "info"}, True, "application"),
            ({"level": "ERROR"}, True, "error"),
            ({"levelname": "CRITICAL"}, True, "error"),
            ({"severity": "fatal"}, True, "error"),
            ({"level": 50}, True, "error"),
            ({"level": 40}, True, "application"),
            ({"levelno": 40}, True, "error"),
            ({"level": "warning"}, True, "application"),
            ({"message": "2026-11-20 ERROR db down"}, False, "error"),
            ({"message": "ts=1 level=error msg=x"}, False, "error"),
            ({"message": "2026-11-20 INFO no error here"}, False, "application"),
            ({"retention_tier": "audit"}, True, "audit"),
            ({"retention_tier": "forever"}, True, "application"),
        ],
    )
    def test_default_order(self, event: dict[str, object], is_json: bool, tier: str) -> None:
        """Own tier, then level, then application, as the issue lays out."""
        assert classifier().tier(event, "app", is_json) == tier

    def test_rules_come_first_in_order(self) -> None:
        """The first matching rule wins over the record's own tier and its level."""
        c = classifier(
            RetentionRule(tier="transaction", field="log_type", equals="transaction"),
            RetentionRule(tier="audit", logger="audit"),
        )
        event = {"log_type": "transaction", "logger": "audit", "level": "error"}
        assert c.tier(event, "app") == "transaction"
        assert c.tier({"logger": "audit.keys", "retention_tier": "error"}, "app") == "audit"
        assert c.tier({"logger": "auditor"}, "app") == "application"

    def test_matches_and_source(self) -> None:
        """A regex rule and a source rule each select their records only."""
        c = classifier(
            RetentionRule(tier="audit", field="action", matches=r"^api_key\."),
            RetentionRule(tier="transaction", source="ledger"),
        )
        assert c.tier({"action": "api_key.rotate"}, "app") == "audit"
        assert c.tier({"action": "login"}, "app") == "application"
        assert c.tier({}, "ledger") == "transaction"

    def test_equals_compares_as_text(self) -> None:
        """equals matches numbers and booleans by their text form."""
        c = classifier(RetentionRule(tier="audit", field="flag", equals="true"))
        assert c.tier({"flag": True}, "app") == "audit"

    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(
            st.one_of(
                st.sampled_from(
                    ["ERROR", "ERR", "CRIT", "CRITICAL", "FATAL", "ALERT", "EMERG", "PANIC",
                     "SEVERE", "level=", 'level="', "error", "Err", "INFO", "_", "x", " ", "-",
                     "[", "]", ":", "=", "\"", "9"]
                ),
                st.text(max_size=8),
            ),
            max_size=40,
        ).map("".join)
    )  # fmt: skip
    @example("x" * 117 + " ERROR")  # the token is cut at character 120
    @example("x" * 114 + " ERROR")
    @example("level=ERROR")
    @example("LEVEL=error")
    def test_text_level_check_equals_the_level_regex(self, message: str) -> None:
        """The substring pre-check only skips lines the level regex would not match."""
        expected = _TEXT_LEVEL.search(message, 0, _TEXT_LEVEL_SPAN) is not None
        assert text_is_error(message) == expected

    def test_stamp(self) -> None:
        """expire_at is the shipping day plus the tier's days."""
        stamp = classifier().stamp("transaction", DAY)
        assert (stamp.days, stamp.expire_at) == (2557, "2033-11-20")  # 7 years, two of them leap


class TestProcessor:
    def run(self, texts: list[str], **kw: object) -> list[dict[str, object]]:
        processor = Processor(Redactor(), classifier())
        out = processor.run(texts, "app", "auto", DAY)
        return [json.loads(r.line) for r in out.records()]

    def test_records_are_redacted_and_stamped(self) -> None:
        """A PAN is masked, the request id kept, and the retention fields added."""
        texts = [
            '{"request_id": "req_1", "pan": "4111111111111111", "level": "error"}',
            "INFO charge card=4111 1111 1111 1111 cvv=123 request_id=req_2",
        ]
        first, second = self.run(texts)
        assert first["request_id"] == "req_1" and "4111111111111111" not in json.dumps(first)
        assert first["retention_tier"] == "error" and first["expire_at"] == "2027-02-18"
        assert "req_2" in second["message"] and "cvv=123" not in second["message"]
        assert "1111 1111 1111" not in second["message"]
        assert second["retention_tier"] == "application" and second["retention_days"] == 30

    def test_clean_json_keeps_its_text(self) -> None:
        """A clean JSON record is shipped as written, with the stamp appended."""
        processor = Processor(Redactor(), classifier())
        text = '{"b": 1,  "a": "x y"}'
        line = processor.run([text], "app", "auto", DAY).records()[0].line.decode()
        assert line.startswith('{"b": 1,  "a": "x y",')
        assert json.loads(line)["retention_tier"] == "application"

    def test_own_stamp_fields_are_replaced(self) -> None:
        """A record that brings its own expire_at gets the sidecar's, once."""
        (record,) = self.run(['{"retention_tier": "audit", "expire_at": "2099-01-01"}'])
        assert record["retention_tier"] == "audit" and record["expire_at"] == "2027-11-20"

    def test_nan_and_surrogates_stay_valid_json(self) -> None:
        """Non-finite numbers and lone surrogate escapes still give valid UTF-8 JSON."""
        processor = Processor(Redactor(), classifier())
        texts = ['{"x": NaN, "p": "4111111111111111"}', '{"s": "\\ud800", "p": "4111111111111111"}']
        for record in processor.run(texts, "app", "auto", DAY).records():
            json.loads(record.line.decode("utf-8"))

    def test_counts(self) -> None:
        """Per-batch redaction counts, malformed records and tiers are reported."""
        processor = Processor(Redactor(), classifier())
        out = processor.run(['{"x": ', "card 4111111111111111", "ok"], "app", "auto", DAY)
        assert out.malformed == 1 and out.redactions.get("card") == 1
        assert out.tiers == {"application": 3}

    def test_failure_yields_placeholder(self) -> None:
        """A redactor that raises on every call produces placeholders, never raw text."""

        class Broken(Redactor):
            def redact_events(self, events, texts=None):  # type: ignore[no-untyped-def]
                raise RuntimeError("boom")

            def redact_event(self, event):  # type: ignore[no-untyped-def]
                raise RuntimeError("boom")

        out = Processor(Broken(), classifier()).run(["pan 4111111111111111"], "app", "auto", DAY)
        (record,) = [json.loads(r.line) for r in out.records()]
        assert record["message"] == PLACEHOLDER and record["sidecar_source"] == "app"
        assert out.failed == 1 and "4111" not in out.records()[0].line.decode()


class TestBatchRunnerHandover:
    def test_workers_take_over_the_main_process_compile(self) -> None:
        """Spawned workers load the database the main process compiled, then redact alike."""
        import asyncio

        from sidecar.pipeline.in_worker import imported_databases
        from sidecar.pipeline.workers import BatchRunner

        retention = RetentionConfig(tiers=dict(TIERS))
        runner = BatchRunner(None, retention, 2)
        try:
            counts = [runner.call(imported_databases).result(60) for _ in range(4)]
            # At least the default policy's database (others this process compiled too).
            assert len(counts) == 4 and min(counts) >= 1

            async def one() -> object:
                return await runner.submit(["pan 4111111111111111 req_1"], "app", "auto", DAY)

            processed = asyncio.run(one())
            local = Processor(Redactor(), classifier()).run(
                ["pan 4111111111111111 req_1"], "app", "auto", DAY
            )
            assert processed == local
        finally:
            runner.close()


class TestBatchRunnerAtShutdown:
    def test_after_stop_a_dead_worker_is_not_replaced_and_batches_run_here(self) -> None:
        """Workers killed with their group at shutdown: no new worker, the batch still runs."""
        import asyncio
        import os
        import signal

        from sidecar.pipeline.workers import BatchRunner, WorkerLost

        runner = BatchRunner(None, RetentionConfig(tiers=dict(TIERS)), 1)
        line = ["pan 4111111111111111 req_1"]
        try:
            assert runner.call(os.getpid).result(60) == runner.pids[0]
            os.kill(runner.pids[0] or 0, signal.SIGKILL)
            runner.stop()
            with pytest.raises(WorkerLost):
                runner.call(os.getpid).result(60)
            with pytest.raises(WorkerLost):  # and no new worker is started for it
                runner.call(os.getpid).result(60)
            assert runner.pids == [None]

            async def here() -> object:
                return await runner.submit(line, "app", "auto", DAY, here=True)

            processed = asyncio.run(here())
            assert processed == Processor(Redactor(), classifier()).run(line, "app", "auto", DAY)
        finally:
            runner.close()
