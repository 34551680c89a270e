"""Counters, gauges and the health state of the sidecar, on a registry of its own.

Theory of operation: one :class:`Metrics` object is built at start-up from the
configuration (:meth:`Metrics.for_config`) and handed to the runner, the sources and the
sinks, which call plain verbs on it (``records_in``, ``records_out``, ``error``, ...).
It owns a private :class:`prometheus_client.CollectorRegistry`, never the process-wide
default one, so two sidecars in one test process, or a library that registers its own
metrics globally, cannot collide with it. :meth:`Metrics.render` gives the Prometheus
text exposition that :mod:`sidecar.http` serves on ``/metrics``.

Label safety (the PCI rule that nothing from a record reaches a metric): every label
value is taken from a *closed vocabulary* fixed at construction, namely the source, sink
and tier names of the configuration, the redactor's kind names, and the fixed
:data:`COMPONENTS`, :data:`STAGES` and :data:`REASONS` tuples below. A value outside its
vocabulary is never exported: it is replaced by :data:`OTHER` and counted in
``sidecar_metrics_label_rejected_total{label}``, which names only the label, so a caller
passing a record field by mistake shows up as a bug instead of a leak. Vocabulary names
must look like identifiers (lowercase letters, digits, ``_`` or ``-``), checked at
construction or by :meth:`Metrics.add_kinds` (a policy's custom kinds). So a bare
``Metrics()`` exports every source, sink and tier as ``other``: use
:meth:`Metrics.for_config`. Series for configured names start at zero, so ``increase()``
and absence alerts work from the first scrape; three-label series appear on first use,
bounded by the product of the vocabularies.

Every recording method ignores counts of zero or less and never raises on the hot path:
metrics must not be a way for the pipeline to fail.
"""

from __future__ import annotations

import platform
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import Metric

from redactor.policy import BUILTIN_KINDS
from sidecar.config import Config

__all__ = ["COMPONENTS", "CONTENT_TYPE", "OTHER", "REASONS", "STAGES", "Health", "Metrics"]

#: The Prometheus text exposition format that :meth:`Metrics.render` produces.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: What an out-of-vocabulary label value is exported as.
OTHER = "other"
#: Values of the ``component`` label of errors and drops.
COMPONENTS: tuple[str, ...] = (
    "source", "pipeline", "sink", "buffer", "checkpoint", "archive", "metrics", "runner",
)  # fmt: skip
#: Pipeline stage names, accepted as the ``name`` label beside source and sink names.
STAGES: tuple[str, ...] = ("parse", "scrub", "classify", "runner", "http", "purge")
#: Why a record was counted as an error or dropped; a fixed, small vocabulary.
REASONS: tuple[str, ...] = (
    "invalid_utf8", "oversized", "malformed_json", "redaction_failed", "sink_write",
    "checkpoint", "buffer_full", "read", "purge", "decrypt", "render", "shutdown",
    "timeout", OTHER, "protocol_violation", "auth_failed", "connection_limit",
)  # fmt: skip
#: The kind the redactor counts when it failed closed and replaced a whole value.
_ERROR_KIND = "error"
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_KIND = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class Health:
    """A snapshot of the process state that ``/healthz`` and ``/readyz`` report.

    Attributes:
        healthy: False once the runner decides the process must be restarted.
        ready: True once sources and sinks are open and records can flow.
        reason: why the process is unhealthy, a short token such as ``sink_stalled``;
            empty while healthy.
    """

    healthy: bool
    ready: bool
    reason: str


class _Vocabulary:
    """A closed set of label values; anything else becomes :data:`OTHER`."""

    __slots__ = ("_label", "_rejected", "_shape", "names", "values")

    def __init__(
        self, label: str, values: Iterable[str], shape: re.Pattern[str], rejected: Counter
    ) -> None:
        self._label = label
        self._shape = shape
        self._rejected = rejected
        self.names: tuple[str, ...] = ()  # in the given order, for stable series creation
        self.values: frozenset[str] = frozenset({OTHER})
        self.extend(values)

    def extend(self, values: Iterable[str]) -> tuple[str, ...]:
        """Add ``values`` to the vocabulary; return the ones that are new."""
        added = tuple(v for v in dict.fromkeys(values) if v not in self.values)
        for value in added:
            if not isinstance(value, str) or not self._shape.match(value):
                # Raised at start-up only, and names the label, not the value.
                raise ValueError(f"a {self._label} name is not a valid metric label value")
        self.names += added
        self.values = self.values | frozenset(added)  # one assignment: readers see old or new
        return added

    def pick(self, value: str) -> str:
        if value in self.values:
            return value
        self._rejected.labels(self._label).inc()
        return OTHER


class Metrics:
    """Every metric of the sidecar plus its health state, on a private registry.

    Args:
        sources: configured source names, the only values of the ``source`` label.
        sinks: configured sink names, the only values of the ``sink`` label.
        tiers: retention tier names, the only values of the ``tier`` label.
        kinds: redaction kind names (the redactor policy's kinds); defaults to the
            built-in kinds. ``error`` (a fail-closed replacement) is always accepted.

    Raises:
        ValueError: a name does not look like an identifier (a configuration bug).
    """

    def __init__(
        self,
        *,
        sources: Iterable[str] = (),
        sinks: Iterable[str] = (),
        tiers: Iterable[str] = (),
        kinds: Iterable[str] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self._rejected = Counter(
            "sidecar_metrics_label_rejected_total",
            "Label values replaced by 'other' because they were outside the vocabulary.",
            ["label"],
            registry=reg,
        )
        self._sources = _Vocabulary("source", sources, _NAME, self._rejected)
        self._sinks = _Vocabulary("sink", sinks, _NAME, self._rejected)
        self._tiers = _Vocabulary("tier", tiers, _NAME, self._rejected)
        kind_names = [*(BUILTIN_KINDS if kinds is None else kinds), _ERROR_KIND]
        self._kinds = _Vocabulary("kind", kind_names, _KIND, self._rejected)
        self._components = _Vocabulary("component", COMPONENTS, _NAME, self._rejected)
        self._names = _Vocabulary(
            "name", [*self._sources.names, *self._sinks.names, *STAGES], _NAME, self._rejected
        )
        self._reasons = _Vocabulary("reason", REASONS, _NAME, self._rejected)

        def counter(name: str, doc: str, labels: list[str]) -> Counter:
            return Counter(name, doc, labels, registry=reg)

        self._src_records = counter(
            "sidecar_source_records_total", "Records read by a source.", ["source"]
        )
        self._src_bytes = counter(
            "sidecar_source_bytes_total", "Raw bytes read by a source.", ["source"]
        )
        self._sink_records = counter(
            "sidecar_sink_records_total", "Records a sink durably accepted.", ["sink"]
        )
        self._sink_bytes = counter(
            "sidecar_sink_bytes_total", "Serialized bytes a sink durably accepted.", ["sink"]
        )
        self._sink_retries = counter(
            "sidecar_sink_retries_total", "Batches retried after a sink failure.", ["sink"]
        )
        self._sink_success = Gauge(
            "sidecar_sink_last_success_timestamp_seconds",
            "Unix time of the last batch a sink accepted; alert when it grows old.",
            ["sink"],
            registry=reg,
        )
        self._redactions = counter(
            "sidecar_redactions_total",
            "Values redacted, by source and kind (never the values themselves).",
            ["source", "kind"],
        )
        self._tier_records = counter(
            "sidecar_records_by_tier_total", "Records classified into a tier.", ["tier"]
        )
        self._errors = counter(
            "sidecar_errors_total",
            "Errors by component, component name and reason.",
            ["component", "name", "reason"],
        )
        self._dropped = counter(
            "sidecar_dropped_records_total",
            "Records dropped on purpose (a full buffer set to drop_newest, ...).",
            ["component", "name", "reason"],
        )
        self._lag = Gauge(
            "sidecar_checkpoint_lag_bytes",
            "Bytes a source has read past its last committed checkpoint.",
            ["source"],
            registry=reg,
        )
        self._purged = counter(
            "sidecar_archive_purged_folders_total",
            "Expired archive day folders removed, by tier.",
            ["tier"],
        )
        self._up = Gauge("sidecar_up", "1 while the process is healthy, else 0.", registry=reg)
        self._ready = Gauge("sidecar_ready", "1 once records can flow, else 0.", registry=reg)
        info = Gauge(
            "sidecar_build_info", "Always 1; labels give the build.", ["version", "python"],
            registry=reg,
        )  # fmt: skip
        info.labels(_version(), platform.python_version()).set(1)
        self._health = Health(healthy=True, ready=False, reason="")
        self._up.set(1)
        for source in self._sources.names:
            for family in (self._src_records, self._src_bytes, self._lag):
                family.labels(source)
        self._create_redactions(self._sources.names, self._kinds.names)
        for sink in self._sinks.names:
            for family in (self._sink_records, self._sink_bytes, self._sink_retries):
                family.labels(sink)
        for tier in self._tiers.names:
            self._tier_records.labels(tier)
            self._purged.labels(tier)

    def add_kinds(self, kinds: Iterable[str]) -> None:
        """Accept more redaction kinds, such as a policy's custom kinds once it is loaded.

        Raises:
            ValueError: a kind is not identifier-shaped (a policy bug).
        """
        self._create_redactions(self._sources.names, self._kinds.extend(kinds))

    def _create_redactions(self, sources: Iterable[str], kinds: tuple[str, ...]) -> None:
        for source in sources:
            for kind in kinds:
                self._redactions.labels(source, kind)

    @classmethod
    def for_config(cls, config: Config, kinds: Iterable[str] | None = None) -> Metrics:
        """Build the metrics whose vocabularies are the names in ``config``.

        Args:
            config: the validated configuration.
            kinds: the redactor policy's kind names; None for the built-in kinds.
        """
        return cls(
            sources=[s.name for s in config.sources],
            sinks=[s.name for s in config.sinks],
            tiers=list(config.retention.tiers),
            kinds=kinds,
        )

    # -- recording: called by sources, the runner and sinks ---------------------------

    def records_in(self, source: str, n: int, nbytes: int = 0) -> None:
        """Count ``n`` records and ``nbytes`` raw bytes read by ``source``."""
        name = self._sources.pick(source)
        if n > 0:
            self._src_records.labels(name).inc(n)
        if nbytes > 0:
            self._src_bytes.labels(name).inc(nbytes)

    def records_out(self, sink: str, n: int, nbytes: int = 0, now: float | None = None) -> None:
        """Count a batch ``sink`` durably accepted and stamp its last success time.

        Args:
            sink: the sink's configured name.
            n: records in the batch.
            nbytes: serialized bytes in the batch.
            now: Unix time of the success; defaults to the current time.
        """
        name = self._sinks.pick(sink)
        if n > 0:
            self._sink_records.labels(name).inc(n)
        if nbytes > 0:
            self._sink_bytes.labels(name).inc(nbytes)
        self._sink_success.labels(name).set(time.time() if now is None else now)

    def sink_retry(self, sink: str) -> None:
        """Count one retry of a batch after ``sink`` failed to accept it."""
        self._sink_retries.labels(self._sinks.pick(sink)).inc()

    def redactions(self, source: str, counts: Mapping[str, int]) -> None:
        """Add the redactor's per-kind counts for records of ``source``.

        Args:
            source: the source's configured name.
            counts: kind name to number of values redacted (``Redactor.counts()`` deltas).
        """
        name = self._sources.pick(source)
        for kind, n in counts.items():
            if n > 0:
                self._redactions.labels(name, self._kinds.pick(kind)).inc(n)

    def tier(self, tier: str, n: int = 1) -> None:
        """Count ``n`` records classified into ``tier``."""
        if n > 0:
            self._tier_records.labels(self._tiers.pick(tier)).inc(n)

    def error(self, component: str, name: str, reason: str, n: int = 1) -> None:
        """Count ``n`` errors of ``component`` (see :data:`COMPONENTS`).

        Args:
            component: one of :data:`COMPONENTS`.
            name: the source or sink name, or a stage in :data:`STAGES`.
            reason: one of :data:`REASONS`.
            n: how many.
        """
        if n > 0:
            self._errors.labels(*self._triple(component, name, reason)).inc(n)

    def dropped(self, component: str, name: str, reason: str, n: int = 1) -> None:
        """Count ``n`` records dropped on purpose; arguments as for :meth:`error`."""
        if n > 0:
            self._dropped.labels(*self._triple(component, name, reason)).inc(n)

    def lag(self, source: str, nbytes: int) -> None:
        """Set how many bytes ``source`` has read past its committed checkpoint."""
        self._lag.labels(self._sources.pick(source)).set(max(0, nbytes))

    def purged(self, tier: str, n: int = 1) -> None:
        """Count ``n`` expired day folders of ``tier`` removed from the archive."""
        if n > 0:
            self._purged.labels(self._tiers.pick(tier)).inc(n)

    def _triple(self, component: str, name: str, reason: str) -> tuple[str, str, str]:
        return (
            self._components.pick(component),
            self._names.pick(name),
            self._reasons.pick(reason),
        )

    # -- health -----------------------------------------------------------------------

    def set_ready(self, ready: bool) -> None:
        """Mark whether records can flow (``/readyz``); False while starting or draining."""
        self._health = Health(self._health.healthy, ready, self._health.reason)
        self._ready.set(1 if ready else 0)

    def set_healthy(self, healthy: bool, reason: str = "") -> None:
        """Mark whether the process works (``/healthz``); False asks for a restart.

        Args:
            healthy: the new state.
            reason: a short token (``sink_stalled``) shown on ``/healthz``; anything not
                shaped like a name is shown as ``unspecified``, since the endpoint is
                unauthenticated. Ignored when healthy.
        """
        shown = "" if healthy else (reason if _NAME.match(reason) else "unspecified")
        self._health = Health(healthy, self._health.ready, shown)
        self._up.set(1 if healthy else 0)

    def health(self) -> Health:
        """Return the current health snapshot (one atomic read)."""
        return self._health

    # -- exposition -------------------------------------------------------------------

    def render(self) -> bytes:
        """Return every metric in the Prometheus text format (:data:`CONTENT_TYPE`)."""
        return generate_latest(_WithoutCreated(self.registry))

    # -- disk buffers of network sinks (sidecar.buffer) --------------------------------

    def buffer_level(self, sink: str, nbytes: int, records: int) -> None:
        """Set what the disk buffer in front of ``sink`` holds, not yet delivered.

        The two gauges (``sidecar_buffer_bytes``, ``sidecar_buffer_records``) are
        registered on first use, so a sidecar without network sinks exports neither.
        """
        gauges: tuple[Gauge, Gauge] | None = self.__dict__.get("_buffer_gauges")
        if gauges is None:
            gauges = (
                Gauge(
                    "sidecar_buffer_bytes",
                    "Bytes in a sink's disk buffer, not yet delivered.",
                    ["sink"],
                    registry=self.registry,
                ),
                Gauge(
                    "sidecar_buffer_records",
                    "Records in a sink's disk buffer, not yet delivered.",
                    ["sink"],
                    registry=self.registry,
                ),
            )
            self._buffer_gauges = gauges
        name = self._sinks.pick(sink)
        gauges[0].labels(name).set(max(0, nbytes))
        gauges[1].labels(name).set(max(0, records))


class _WithoutCreated:
    """A view of a registry without the ``*_created`` samples of counters.

    The 0.0.4 text format has no place for creation times, so Prometheus would store
    each as one more gauge series per counter series; they double the scrape for
    nothing a ``rate()`` needs.
    """

    __slots__ = ("_registry",)

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        for family in self._registry.collect():
            if family.type == "counter":  # collect() builds fresh families: safe to edit
                family.samples = [s for s in family.samples if not s.name.endswith("_created")]
            yield family


def _version() -> str:
    try:
        return metadata.version("pci-redactor")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare tree
        return "unknown"
