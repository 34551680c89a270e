"""The running sidecar: sources -> workers -> every sink -> checkpoint, per source.

Theory of operation. Each source has two tasks joined by a small bounded queue:

* the *feeder* pulls a batch from the source, submits it for processing (in-process or
  to a worker, :mod:`sidecar.pipeline.workers`) and queues ``(batch, future)``; when the
  queue is full it stops pulling, so a slow pipeline slows the source (backpressure)
  instead of buffering without bound;
* the *deliverer* takes the queue in order, awaits the processed batch, hands it to
  every sink (concurrently; a failing sink is retried with capped exponential backoff
  and jitter, and a sink that already accepted the batch is not written again), and
  only then calls the batch's ``commit``, which advances the source's checkpoint.

A crash anywhere before ``commit`` replays the batch on restart, so delivery is
at-least-once with duplicates bounded by the batches in flight. Nothing is dropped: a
batch whose processing itself fails (a bug, or a worker process killed) is retried and,
if it fails again, shipped as placeholder records (counted as ``redaction_failed``)
rather than raw or not at all.

Shutdown (SIGTERM, SIGINT, or end of input with ``--once``): sources stop reading, the
deliverers finish what is in flight within ``shutdown_timeout_s``, sinks are closed
(flushed), and the process exits 0. Anything not committed by then replays next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import signal
from collections.abc import Sequence
from datetime import date, datetime, timezone
from typing import Any

from redactor import Policy
from sidecar import heap
from sidecar.archive.keys import ArchiveKey, load_key
from sidecar.buffer import buffered
from sidecar.config import (
    Config,
    FileSinkConfig,
    FileSourceConfig,
    ForwardSinkConfig,
    ForwardSourceConfig,
    SinkConfig,
    SourceConfig,
    StdinSourceConfig,
    StdoutSinkConfig,
    SyslogSinkConfig,
)
from sidecar.errors import ConfigError, SidecarError, SinkError
from sidecar.http import MetricsServer
from sidecar.metrics import Metrics
from sidecar.pipeline.classify import Classifier
from sidecar.pipeline.process import Processed, placeholder
from sidecar.pipeline.workers import BatchRunner, WorkerLost
from sidecar.record import Shipped, ShippedBatch, Sink, Source, SourceBatch
from sidecar.sinks.file import ArchiveSink
from sidecar.sinks.forward import build_forward_sink
from sidecar.sinks.stdout import StdoutSink
from sidecar.sinks.syslog import SyslogDelivery
from sidecar.sources.file import FileSource
from sidecar.sources.forward import ForwardSource
from sidecar.sources.stdin import StdinSource

__all__ = ["Runner"]

log = logging.getLogger("sidecar")

#: Batches in flight per source: enough to keep workers busy, few enough that a crash
#: replays little.
_QUEUE_DEPTH = 4
#: How long a batch whose workers died waits before new ones start, for a SIGTERM that
#: reached the whole process group to be handled first.
_SIGNAL_GRACE_S = 0.05


def utc_today() -> date:
    """Today in UTC: archive days and retention are counted in UTC everywhere."""
    return datetime.now(timezone.utc).date()


def today() -> str:
    """The shipping day, UTC: the archive folder and the start of retention."""
    return utc_today().isoformat()


class Runner:
    """Builds the configured components and runs them until stopped or drained.

    Args:
        config: the validated configuration.
        once: process what file sources hold now, then exit.
        env: environment for secrets (archive keys).
        batches: the batch runner, if already started (workers start early); else it
            is built when the run starts.
        settle_heap: tune the garbage collector once started (:mod:`sidecar.heap`); for
            a process of its own, not for one that embeds the runner.
    """

    def __init__(
        self,
        config: Config,
        *,
        once: bool = False,
        env: Any = None,
        batches: BatchRunner | None = None,
        settle_heap: bool = False,
    ) -> None:
        self.config = config
        self._settle_heap = settle_heap
        self.once = once
        self.metrics = Metrics.for_config(config)
        self._env = os.environ if env is None else env
        self._stopping = asyncio.Event()
        self._sinks: list[Sink] = []
        self._locks: dict[str, asyncio.Lock] = {}
        self._sources: list[tuple[Source, str]] = []
        self._batches: BatchRunner | None = batches
        self._server: MetricsServer | None = None
        self.metrics_port: int | None = None

    # -- setup -----------------------------------------------------------------------

    def _build_sink(self, cfg: SinkConfig) -> Sink:
        if isinstance(cfg, FileSinkConfig):
            key: ArchiveKey | None = None
            if cfg.encryption_key_env is not None:
                key = load_key(cfg.encryption_key_env, self._env)
            return ArchiveSink(cfg, self.config.retention.tiers, key)
        if isinstance(cfg, StdoutSinkConfig):
            return StdoutSink(cfg.name)
        if isinstance(cfg, ForwardSinkConfig):
            return build_forward_sink(
                cfg,
                self.config.data_dir,
                self.metrics,
                self._env,
                retry_max_s=self.config.pipeline.retry_max_s,
            )
        return self._build_syslog(cfg)

    def _build_syslog(self, cfg: SyslogSinkConfig) -> Sink:
        """A syslog delivery behind its own disk buffer, like the forward sink."""
        return buffered(
            cfg.name,
            SyslogDelivery(cfg),
            cfg.buffer,
            self.config.data_dir,
            self.metrics,
            self._env,
            self.config.pipeline.retry_max_s,
        )

    def _build_source(self, cfg: SourceConfig) -> tuple[Source, str]:
        if isinstance(cfg, FileSourceConfig):
            return FileSource(cfg, self.config.data_dir, once=self.once), cfg.format
        if isinstance(cfg, StdinSourceConfig):
            return StdinSource(cfg), cfg.format
        if isinstance(cfg, ForwardSourceConfig):
            return ForwardSource(cfg, self.metrics), "json"
        raise ConfigError(f"sources.{cfg.name}.type", f"{cfg.type} sources are not available yet")

    def stop(self) -> None:
        """Ask every source to stop; in-flight batches are still delivered."""
        if not self._stopping.is_set():
            log.info("stopping: sources stop reading, in-flight batches are delivered")
            self._stopping.set()
            if self._batches is not None:
                self._batches.stop()
            for source, _ in self._sources:
                source.stop()

    # -- running ---------------------------------------------------------------------

    async def run(self) -> int:
        """Run until stopped (or drained with ``once``); returns the exit status."""
        config = self.config
        config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Workers first: they start (about a second) while sinks and sources open.
        if config.pipeline.policy is not None:
            policy = Policy.from_toml(config.pipeline.policy)
            self.metrics.add_kinds([*policy.kinds, *(p.kind for p in policy.patterns)])
        if self._batches is None:
            self._batches = BatchRunner(
                config.pipeline.policy, config.retention, config.pipeline.workers
            )
        try:
            self._sinks = [self._build_sink(cfg) for cfg in config.sinks]
            self._sources = [self._build_source(cfg) for cfg in config.sources]
        except BaseException:
            self._batches.close()
            raise
        self._locks = {sink.name: asyncio.Lock() for sink in self._sinks}
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, self.stop)
        if config.metrics.listen is not None:
            host, port = config.metrics.listen
            self._server = MetricsServer(self.metrics, host, port)
            self.metrics_port = await self._server.start()
            log.info("metrics on %s:%d", host, self.metrics_port)
        for sink in self._sinks:
            start_sink = getattr(sink, "start", None)
            if start_sink is not None:
                await start_sink()  # network sinks: the drainer of their disk buffer
        for source, _ in self._sources:
            start = getattr(source, "start", None)
            if start is not None:
                await start()  # bind now: a busy port or bad TLS files fail at start-up
        background = [asyncio.create_task(self._lag_loop())]
        background.extend(
            asyncio.create_task(sink.purge_loop(self.metrics))
            for sink in self._sinks
            if isinstance(sink, ArchiveSink)
        )
        if self._settle_heap:
            heap.settle()
        self.metrics.set_healthy(True, "running")
        self.metrics.set_ready(True)
        log.info(
            "started: %d source(s), %d sink(s), %d worker(s)",
            len(self._sources),
            len(self._sinks),
            config.pipeline.workers,
        )
        pipes = [asyncio.create_task(self._pipe(source, fmt)) for source, fmt in self._sources]
        try:
            done: asyncio.Future[list[None]] = asyncio.gather(*pipes)
            stop_wait: asyncio.Future[Any] = asyncio.ensure_future(self._stopping.wait())
            await asyncio.wait([done, stop_wait], return_when=asyncio.FIRST_COMPLETED)
            timed_out = False
            if not done.done():
                try:
                    await asyncio.wait_for(done, config.pipeline.shutdown_timeout_s)
                except asyncio.TimeoutError:
                    # The gather is cancelled now and holds a CancelledError as its
                    # "exception": that is this timeout, not a failure to report.
                    timed_out = True
                    log.warning(
                        "shutdown: in-flight batches not delivered within %.0fs; they "
                        "will be replayed on the next start",
                        config.pipeline.shutdown_timeout_s,
                    )
            stop_wait.cancel()
            if not timed_out and done.exception() is not None:
                raise done.exception()  # type: ignore[misc]
            if self.once:
                await self._drain_buffers()
            for source, _ in self._sources:
                wait_closed = getattr(source, "wait_closed", None)
                if wait_closed is not None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(wait_closed(), config.pipeline.shutdown_timeout_s)
        finally:
            self.metrics.set_ready(False)
            for task in background:
                task.cancel()
            for sink in self._sinks:
                try:
                    await sink.close()
                except SidecarError as exc:
                    log.error("sink %s: close failed: %s", sink.name, exc)
            if self._batches is not None:
                self._batches.close()
            if self._server is not None:
                await self._server.stop()
        log.info("stopped")
        return 0

    async def _pipe(self, source: Source, fmt: str) -> None:
        queue: asyncio.Queue[tuple[SourceBatch, asyncio.Future[Processed]] | None]
        queue = asyncio.Queue(_QUEUE_DEPTH)
        deliverer = asyncio.create_task(self._deliver(source, fmt, queue))
        try:
            await self._feed(source, fmt, queue)
            await queue.put(None)
            await deliverer
        except BaseException:
            # Cancelled when a stop outlasts the shutdown timeout (or the source failed):
            # the deliverer may be stuck behind a full sink with the queue full, so waiting
            # to hand it the end marker would never return. What it holds was not
            # checkpointed and is replayed on the next start.
            deliverer.cancel()
            raise

    async def _feed(
        self,
        source: Source,
        fmt: str,
        queue: asyncio.Queue[tuple[SourceBatch, asyncio.Future[Processed]] | None],
    ) -> None:
        assert self._batches is not None
        metrics = self.metrics
        async for batch in source.batches():
            metrics.records_in(source.name, len(batch.texts), batch.nbytes)
            if batch.invalid_utf8:
                metrics.error("source", source.name, "invalid_utf8", batch.invalid_utf8)
                log.warning(
                    "source %s: %d record(s) with invalid UTF-8, decoded with U+FFFD",
                    source.name,
                    batch.invalid_utf8,
                )
            if batch.oversized:
                metrics.error("source", source.name, "oversized", batch.oversized)
                log.warning(
                    "source %s: %d over-long record(s) replaced by a placeholder",
                    source.name,
                    batch.oversized,
                )
            future = self._batches.submit(batch.texts, source.name, fmt, today())
            await queue.put((batch, future))
            # After stop() a source ends its iterator by itself, once what it already
            # holds is handed out (a forward source then acks it instead of leaving
            # clients to time out and resend).

    async def _deliver(
        self,
        source: Source,
        fmt: str,
        queue: asyncio.Queue[tuple[SourceBatch, asyncio.Future[Processed]] | None],
    ) -> None:
        metrics = self.metrics
        while (item := await queue.get()) is not None:
            batch, future = item
            processed = await self._result(batch, fmt, future)
            if processed.redactions:
                metrics.redactions(source.name, processed.redactions)
            if processed.malformed:
                metrics.error("pipeline", source.name, "malformed_json", processed.malformed)
            if processed.failed:
                metrics.error("pipeline", source.name, "redaction_failed", processed.failed)
                log.error(
                    "source %s: %d record(s) or value(s) could not be redacted and were replaced",
                    source.name,
                    processed.failed,
                )
            for tier, count in processed.tiers.items():
                metrics.tier(tier, count)
            await self._ship(processed.records())
            outcome = batch.commit()
            if outcome is not None:
                await outcome

    async def _result(
        self, batch: SourceBatch, fmt: str, future: asyncio.Future[Processed]
    ) -> Processed:
        """Await a processed batch; on failure retry, then ship placeholders.

        A worker process that died (killed, out of memory) is started again and the batch
        retried, since the batch itself is not at fault (at shutdown it is processed
        here instead); after four deaths on one batch it is taken to be the cause.
        Any other failure is retried once; a batch that fails twice is shipped as
        placeholders, never raw and never silently dropped.
        """
        assert self._batches is not None
        attempts = 0
        here = False
        while True:
            try:
                return await future
            except WorkerLost:
                attempts += 1
                # A SIGTERM to the process group reaches the workers and this process at
                # once: let its handler run first, so that no worker is started again
                # just to be stopped.
                await asyncio.sleep(_SIGNAL_GRACE_S)
                here = self._stopping.is_set()
                log.log(
                    logging.INFO if here else logging.ERROR,
                    "source %s: a worker process died; %s",
                    batch.source,
                    "finishing the batch here (shutting down)"
                    if here
                    else "retrying the batch on a restarted worker",
                )
                if attempts > 3:
                    break
            except Exception as exc:
                attempts += 1
                log.error(
                    "source %s: processing a batch failed (%s)%s",
                    batch.source,
                    type(exc).__name__,
                    "; retrying" if attempts == 1 else "",
                )
                if attempts > 1:
                    break
            future = self._batches.submit(batch.texts, batch.source, fmt, today(), here=here)
        log.error(
            "source %s: shipping %d placeholder(s) for a batch that cannot be processed",
            batch.source,
            len(batch.texts),
        )
        return self._placeholders(batch)

    def _placeholders(self, batch: SourceBatch) -> Processed:
        day = today()
        stamp = Classifier(self.config.retention).stamp("application", day)
        event = placeholder(batch.source, "redaction_failed")
        event.update(
            {
                "retention_tier": stamp.tier,
                "retention_days": stamp.days,
                "expire_at": stamp.expire_at,
            }
        )
        line = json.dumps(event, separators=(",", ":")).encode()
        count = len(batch.texts)
        return Processed(
            day, [line] * count, [stamp.tier] * count, failed=count, tiers={stamp.tier: count}
        )

    async def _ship(self, records: Sequence[Shipped]) -> None:
        if not records:
            return
        await asyncio.gather(*(self._ship_to(sink, records) for sink in self._sinks))

    async def _ship_to(self, sink: Sink, records: Sequence[Shipped]) -> None:
        delay = 0.1
        ceiling = self.config.pipeline.retry_max_s
        nbytes = (
            records.nbytes + len(records)
            if isinstance(records, ShippedBatch)
            else sum(len(r.line) + 1 for r in records)
        )
        async with self._locks[sink.name]:
            while True:
                try:
                    await sink.write(records)
                except (SinkError, OSError) as exc:
                    self.metrics.sink_retry(sink.name)
                    self.metrics.error("sink", sink.name, "sink_write")
                    wait = min(ceiling, delay) * random.uniform(0.5, 1.0)
                    log.warning("sink %s: %s; retrying in %.1fs", sink.name, exc, wait)
                    await asyncio.sleep(wait)
                    delay *= 2
                    continue
                self.metrics.records_out(sink.name, len(records), nbytes)
                return

    async def _drain_buffers(self) -> None:
        """With ``--once``, wait for network sinks to deliver what their buffers hold."""
        timeout = self.config.pipeline.shutdown_timeout_s
        for sink in self._sinks:
            drain = getattr(sink, "drain", None)
            if drain is not None and not await drain(timeout):
                log.warning(
                    "sink %s: buffer not drained within %.0fs; it is kept on disk and "
                    "delivered on the next start",
                    sink.name,
                    timeout,
                )

    # -- housekeeping ----------------------------------------------------------------

    async def _lag_loop(self) -> None:
        while True:
            for source, _ in self._sources:
                lag = getattr(source, "lag_bytes", None)
                if lag is not None:
                    with contextlib.suppress(OSError):
                        self.metrics.lag(source.name, await asyncio.to_thread(lag))
            await asyncio.sleep(1.0)
