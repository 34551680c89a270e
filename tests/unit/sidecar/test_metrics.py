"""Tests of sidecar.metrics: names, labels, the label vocabulary guard and health."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from sidecar.config import parse
from sidecar.metrics import COMPONENTS, OTHER, REASONS, STAGES, Health, Metrics

PAN = "4111111111111111"

COUNTERS = {
    "sidecar_source_records": ["source"],
    "sidecar_source_bytes": ["source"],
    "sidecar_sink_records": ["sink"],
    "sidecar_sink_bytes": ["sink"],
    "sidecar_sink_retries": ["sink"],
    "sidecar_redactions": ["kind", "source"],
    "sidecar_records_by_tier": ["tier"],
    "sidecar_errors": ["component", "name", "reason"],
    "sidecar_dropped_records": ["component", "name", "reason"],
    "sidecar_archive_purged_folders": ["tier"],
}
GAUGES = {
    "sidecar_sink_last_success_timestamp_seconds": ["sink"],
    "sidecar_checkpoint_lag_bytes": ["source"],
    "sidecar_up": [],
    "sidecar_ready": [],
    "sidecar_build_info": ["python", "version"],
}


def make() -> Metrics:
    return Metrics(sources=["app", "audit"], sinks=["archive", "stdout"], tiers=["error"])


def families(metrics: Metrics) -> dict[str, str]:
    text = metrics.render().decode()
    return {f.name: f.type for f in text_string_to_metric_families(text)}


def samples(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def value(metrics: Metrics, metric: str, **labels: str) -> float | None:
    return samples(metrics).get((metric, tuple(sorted(labels.items()))))


class TestNames:
    def test_required_families_have_their_types(self):
        """Every required metric family is exported with its type."""
        found = families(make())
        for name in COUNTERS:
            assert found.get(name) == "counter", name
        for name in GAUGES:
            assert found.get(name) == "gauge", name

    def test_counter_samples_follow_the_style_guide(self):
        """Every counter sample is named sidecar_..._total and no _created series is exported."""
        metrics = make()
        metrics.error("sink", "stdout", "sink_write")
        metrics.dropped("buffer", "app", "buffer_full")
        for (name, _), _v in samples(metrics).items():
            assert name.startswith("sidecar_")
            assert not name.endswith("_created")
            if name.removesuffix("_total") in COUNTERS:
                assert name.endswith("_total")

    def test_label_names(self):
        """Each family carries exactly its documented label names."""
        metrics = make()
        metrics.error("sink", "stdout", "sink_write")
        metrics.dropped("buffer", "app", "buffer_full")
        metrics.records_out("stdout", 1, 10)
        expected = {**COUNTERS, **GAUGES}
        seen: dict[str, list[str]] = {}
        for family in text_string_to_metric_families(metrics.render().decode()):
            for sample in family.samples:
                seen[family.name] = sorted(sample.labels)
        for name, labels in expected.items():
            assert seen.get(name) == sorted(labels), name

    def test_registry_is_private(self):
        """Two Metrics objects count separately and nothing lands in the global registry."""
        first, second = make(), make()
        first.records_in("app", 5, 50)
        assert value(first, "sidecar_source_records_total", source="app") == 5
        assert value(second, "sidecar_source_records_total", source="app") == 0
        assert REGISTRY.get_sample_value("sidecar_source_records_total", {"source": "app"}) is None


class TestCounting:
    def test_configured_names_start_at_zero(self):
        """Series for configured sources, sinks and tiers exist at 0 before any traffic."""
        metrics = make()
        assert value(metrics, "sidecar_source_records_total", source="audit") == 0
        assert value(metrics, "sidecar_sink_retries_total", sink="archive") == 0
        assert value(metrics, "sidecar_records_by_tier_total", tier="error") == 0
        assert value(metrics, "sidecar_redactions_total", source="app", kind="card") == 0

    def test_records_in_and_out(self):
        """records_in and records_out add records and bytes per source and sink."""
        metrics = make()
        metrics.records_in("app", 3, 300)
        metrics.records_in("app", 2, 200)
        metrics.records_out("stdout", 5, 420, now=1234.5)
        assert value(metrics, "sidecar_source_records_total", source="app") == 5
        assert value(metrics, "sidecar_source_bytes_total", source="app") == 500
        assert value(metrics, "sidecar_sink_records_total", sink="stdout") == 5
        assert value(metrics, "sidecar_sink_bytes_total", sink="stdout") == 420
        got = value(metrics, "sidecar_sink_last_success_timestamp_seconds", sink="stdout")
        assert got == 1234.5

    def test_retry_tier_purge_lag(self):
        """sink_retry, tier, purged and lag update their own series."""
        metrics = make()
        metrics.sink_retry("archive")
        metrics.sink_retry("archive")
        metrics.tier("error", 7)
        metrics.purged("error", 2)
        metrics.lag("app", 4096)
        assert value(metrics, "sidecar_sink_retries_total", sink="archive") == 2
        assert value(metrics, "sidecar_records_by_tier_total", tier="error") == 7
        assert value(metrics, "sidecar_archive_purged_folders_total", tier="error") == 2
        assert value(metrics, "sidecar_checkpoint_lag_bytes", source="app") == 4096

    def test_redactions_by_kind(self):
        """redactions adds each kind's count; zero counts create nothing."""
        metrics = Metrics(sources=["app"], kinds=["card", "employee_id"])
        metrics.redactions("app", {"card": 2, "employee_id": 1, "error": 1})
        metrics.redactions("app", {"card": 1})
        assert value(metrics, "sidecar_redactions_total", source="app", kind="card") == 3
        assert value(metrics, "sidecar_redactions_total", source="app", kind="employee_id") == 1
        assert value(metrics, "sidecar_redactions_total", source="app", kind="error") == 1

    def test_errors_and_drops(self):
        """error and dropped count by component, name and reason."""
        metrics = make()
        metrics.error("source", "app", "invalid_utf8", 3)
        metrics.dropped("buffer", "stdout", "buffer_full", 4)
        assert value(
            metrics, "sidecar_errors_total", component="source", name="app", reason="invalid_utf8"
        ) == 3  # fmt: skip
        assert value(
            metrics, "sidecar_dropped_records_total", component="buffer", name="stdout",
            reason="buffer_full",
        ) == 4  # fmt: skip

    def test_non_positive_amounts_are_ignored(self):
        """Negative or zero counts neither raise nor change a counter; negative lag is 0."""
        metrics = make()
        metrics.records_in("app", -5, -1)
        metrics.error("source", "app", "read", 0)
        metrics.tier("error", -1)
        metrics.lag("app", -10)
        assert value(metrics, "sidecar_source_records_total", source="app") == 0
        assert value(metrics, "sidecar_checkpoint_lag_bytes", source="app") == 0
        assert "sidecar_errors_total" not in {name for name, _ in samples(metrics)}


class TestLabelGuard:
    def test_unknown_values_become_other_and_are_counted(self):
        """A value outside the vocabulary is exported as 'other' and counted by label name."""
        metrics = make()
        metrics.records_in(PAN, 1, 16)
        metrics.redactions("app", {PAN: 1})
        metrics.error("sink", "stdout", f"peer said {PAN}")
        text = metrics.render().decode()
        assert PAN not in text
        assert value(metrics, "sidecar_source_records_total", source=OTHER) == 1
        assert value(metrics, "sidecar_redactions_total", source="app", kind=OTHER) == 1
        assert value(metrics, "sidecar_metrics_label_rejected_total", label="source") == 1
        assert value(metrics, "sidecar_metrics_label_rejected_total", label="kind") == 1
        assert value(metrics, "sidecar_metrics_label_rejected_total", label="reason") == 1

    @settings(max_examples=60, deadline=None)
    @given(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40))
    def test_no_arbitrary_text_becomes_a_label(self, a, b, c):
        """Whatever text the callers pass, every exported label value is from a vocabulary."""
        metrics = make()
        metrics.records_in(a, 1, 1)
        metrics.records_out(b, 1, 1)
        metrics.sink_retry(c)
        metrics.redactions(a, {b: 1})
        metrics.tier(c)
        metrics.error(a, b, c)
        metrics.dropped(c, a, b)
        metrics.lag(b, 1)
        metrics.purged(a)
        allowed = {"app", "audit", "archive", "stdout", "error", OTHER, "0.1.0"}
        allowed |= {*COMPONENTS, *STAGES, *REASONS, "card", "cvv", "track", "pin", "secret"}
        allowed |= {"password", "iban", "bank_account", "national_id", "email", "phone"}
        allowed |= {"source", "sink", "tier", "kind", "component", "name", "reason"}
        for (_, labels), _v in samples(metrics).items():
            for key, label_value in labels:
                if key != "python" and key != "version":
                    assert label_value in allowed, key

    def test_add_kinds_extends_the_vocabulary(self):
        """A policy's custom kind added later is counted under its own name, at 0 first."""
        metrics = make()
        metrics.redactions("app", {"employee_id": 1})
        metrics.add_kinds(["employee_id", "card"])
        assert value(metrics, "sidecar_redactions_total", source="audit", kind="employee_id") == 0
        metrics.redactions("app", {"employee_id": 2})
        assert value(metrics, "sidecar_redactions_total", source="app", kind="employee_id") == 2
        assert value(metrics, "sidecar_redactions_total", source="app", kind=OTHER) == 1
        with pytest.raises(ValueError):
            metrics.add_kinds(["not a kind"])

    def test_bad_configured_name_fails_at_construction(self):
        """A configured name that is not identifier-shaped is refused without being echoed."""
        with pytest.raises(ValueError) as info:
            Metrics(sources=["app", f"x {PAN}"])
        assert PAN not in str(info.value)

    def test_for_config_uses_configured_names(self):
        """for_config takes sources, sinks and every retention tier from the configuration."""
        config = parse(
            {
                "data_dir": "data",
                "sources": [{"type": "file", "name": "web", "paths": ["*.log"]}],
                "sinks": [{"type": "stdout", "name": "out"}],
            },
            base=Path("/"),
            env={},
        )
        metrics = Metrics.for_config(config)
        assert value(metrics, "sidecar_source_records_total", source="web") == 0
        assert value(metrics, "sidecar_sink_records_total", sink="out") == 0
        assert value(metrics, "sidecar_records_by_tier_total", tier="transaction") == 0


class TestHealth:
    def test_starts_healthy_and_not_ready(self):
        """A new Metrics is healthy, not yet ready, and its gauges say so."""
        metrics = make()
        assert metrics.health() == Health(healthy=True, ready=False, reason="")
        assert value(metrics, "sidecar_up") == 1
        assert value(metrics, "sidecar_ready") == 0

    def test_transitions(self):
        """set_ready and set_healthy update the snapshot and the gauges."""
        metrics = make()
        metrics.set_ready(True)
        metrics.set_healthy(False, "sink_stalled")
        assert metrics.health() == Health(healthy=False, ready=True, reason="sink_stalled")
        assert value(metrics, "sidecar_up") == 0
        assert value(metrics, "sidecar_ready") == 1
        metrics.set_healthy(True, "ignored")
        assert metrics.health() == Health(healthy=True, ready=True, reason="")

    def test_reason_not_shaped_like_a_name_is_hidden(self):
        """A reason that could carry record text is reported as 'unspecified'."""
        metrics = make()
        metrics.set_healthy(False, f"bad record {PAN}")
        assert metrics.health().reason == "unspecified"
