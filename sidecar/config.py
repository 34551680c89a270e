"""Sidecar configuration: TOML in, frozen dataclasses out, every field checked at load.

Theory of operation: :func:`load` reads the file, replaces ``${ENV_VAR}`` in every
string (so secrets stay out of the file), then builds one dataclass per table. Any
unknown key, wrong type or bad value raises :class:`~sidecar.errors.ConfigError` naming
the file and the dotted field (``sinks[0].encryption_key_env``); there is no silent
default for a misspelt key. Relative paths are resolved against the directory of the
configuration file, so a config works the same from any working directory.

Example::

    data_dir = "var/sidecar"

    [[sources]]
    type = "file"
    name = "app"
    paths = ["logs/*.log"]

    [[retention.rules]]
    tier = "transaction"
    field = "log_type"
    equals = "transaction"

    [[sinks]]
    type = "file"
    path = "archive"
    encryption_key_env = "SIDECAR_ARCHIVE_KEY"

    [metrics]
    listen = "127.0.0.1:9880"
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from sidecar.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "DEFAULT_TIERS",
    "BufferConfig",
    "Config",
    "FileSinkConfig",
    "FileSourceConfig",
    "ForwardSinkConfig",
    "ForwardSourceConfig",
    "MetricsConfig",
    "PipelineConfig",
    "RetentionConfig",
    "RetentionRule",
    "SinkConfig",
    "SourceConfig",
    "StdinSourceConfig",
    "StdoutSinkConfig",
    "SyslogSinkConfig",
    "load",
    "parse",
]

#: Retention in days per tier, from the data-retention policy the product ships with.
DEFAULT_TIERS: Mapping[str, int] = {
    "application": 30,
    "error": 90,
    "audit": 365,
    "transaction": 2557,
}

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MultilineConfig:
    """How a file source joins continuation lines into one record.

    Attributes:
        start: regex a line must match to start a new record; None uses the built-in
            rule (a line starting with whitespace, or a Python traceback's own lines,
            continues the record before it).
        max_lines: a record is cut after this many lines (bounded memory).
        flush_ms: an incomplete record is shipped after this much idle time.
    """

    start: str | None = None
    max_lines: int = 1000
    flush_ms: int = 1000


@dataclass(frozen=True, slots=True)
class FileSourceConfig:
    """``type = "file"``: tail files matching globs, with checkpoints in ``data_dir``."""

    name: str
    paths: tuple[str, ...]
    format: str = "auto"
    read_from: str = "beginning"
    multiline: MultilineConfig = field(default_factory=MultilineConfig)
    poll_ms: int = 250
    max_line_bytes: int = 16 * 1024 * 1024
    batch_lines: int = 2000
    type: str = "file"


@dataclass(frozen=True, slots=True)
class StdinSourceConfig:
    """``type = "stdin"``: read records from standard input until end of file."""

    name: str = "stdin"
    format: str = "auto"
    max_line_bytes: int = 16 * 1024 * 1024
    batch_lines: int = 2000
    type: str = "stdin"


@dataclass(frozen=True, slots=True)
class ForwardSourceConfig:
    """``type = "forward"``: a Fluent forward protocol server.

    Attributes:
        listen: ``HOST:PORT`` to listen on (port 0 picks a free port).
        shared_key: the handshake's shared key (use ``${ENV}``); None: no handshake.
        users: username to password, checked in the handshake when given.
        tls_cert, tls_key: PEM files; both or neither.
        max_frame_bytes: a frame larger than this closes the connection.
        max_connections: connections beyond this are refused.
        batch_lines: records per pipeline batch (a frame is never split).
    """

    name: str
    listen: str
    shared_key: str | None = None
    users: Mapping[str, str] = field(default_factory=dict)
    tls_cert: Path | None = None
    tls_key: Path | None = None
    max_frame_bytes: int = 16 * 1024 * 1024
    max_connections: int = 256
    batch_lines: int = 2000
    type: str = "forward"


SourceConfig = FileSourceConfig | StdinSourceConfig | ForwardSourceConfig


@dataclass(frozen=True, slots=True)
class RetentionRule:
    """One classification rule; every condition given must hold. First match wins.

    Attributes:
        tier: the tier a matching record gets.
        field: a top-level field name, compared with ``equals`` or ``matches``.
        equals: the field's value, compared as a string.
        matches: a regex searched in the field's value.
        logger: a logger name; also matches its children (``payments`` matches
            ``payments.api``). Read from ``logger``, ``logger_name`` or ``name``.
        source: a source name.
    """

    tier: str
    field: str | None = None
    equals: str | None = None
    matches: str | None = None
    logger: str | None = None
    source: str | None = None


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """Tiers (name to days) and the rules that pick one per record."""

    tiers: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_TIERS))
    rules: tuple[RetentionRule, ...] = ()


@dataclass(frozen=True, slots=True)
class FileSinkConfig:
    """``type = "file"``: the local archive, ``<path>/<tier>/<YYYY-MM-DD>/*.jsonl.gz``.

    Attributes:
        encryption_key_env: environment variable holding the base64 of a 32-byte key;
            None writes plaintext gzip.
        old_keys_env: environment variable with more base64 keys, comma-separated,
            accepted for decryption only (key rotation).
        purge_interval_s: how often expired day folders are removed while running.
        max_file_bytes: a new file is started past this many (compressed) bytes.
    """

    path: Path
    name: str = "archive"
    encryption_key_env: str | None = None
    old_keys_env: str | None = None
    purge_interval_s: float = 3600.0
    max_file_bytes: int = 64 * 1024 * 1024
    type: str = "file"


@dataclass(frozen=True, slots=True)
class StdoutSinkConfig:
    """``type = "stdout"``: JSON lines on standard output for node-level collectors."""

    name: str = "stdout"
    type: str = "stdout"


@dataclass(frozen=True, slots=True)
class BufferConfig:
    """The on-disk buffer in front of a network sink.

    Attributes:
        max_bytes: past this many bytes on disk, writes wait (backpressure on sources).
        encryption_key_env: environment variable with the base64 of a 32-byte key;
            None keeps buffer segments in plaintext (they hold redacted data only).
    """

    max_bytes: int = 256 * 1024 * 1024
    encryption_key_env: str | None = None


@dataclass(frozen=True, slots=True)
class ForwardSinkConfig:
    """``type = "forward"``: Fluent forward to an aggregator.

    Attributes:
        address: one or more ``HOST:PORT``, tried in order for failover.
        tag_prefix: records are tagged ``<tag_prefix>.<tier>``.
        require_ack: a batch counts as delivered only when its ack arrives.
        compress: send CompressedPackedForward (gzip) instead of PackedForward.
        shared_key, username, password: the handshake's credentials (use ``${ENV}``).
        tls: connect with TLS; ``tls_ca`` verifies the server against that CA file
            (otherwise the system's), and ``tls_verify_hostname`` checks its name.
        ack_timeout_s: an unacked batch is resent on a new connection after this.
        buffer: the on-disk buffer in front of this sink.
    """

    name: str
    address: tuple[str, ...]
    tag_prefix: str = "sidecar"
    require_ack: bool = True
    compress: bool = False
    shared_key: str | None = None
    username: str | None = None
    password: str | None = None
    tls: bool = False
    tls_ca: Path | None = None
    tls_verify_hostname: bool = True
    ack_timeout_s: float = 30.0
    buffer: BufferConfig = field(default_factory=BufferConfig)
    type: str = "forward"


@dataclass(frozen=True, slots=True)
class SyslogSinkConfig:
    """``type = "syslog"``: RFC 5424 over TCP with octet counting, optionally TLS.

    Attributes:
        address: ``HOST:PORT`` of the syslog server.
        tls, tls_ca, tls_verify_hostname: as for the forward sink (RFC 5425).
        app_name: the APP-NAME field; hostname: the HOSTNAME field (default: this host).
        facility: syslog facility number (default 16, local0).
        buffer: the on-disk buffer in front of this sink.
    """

    name: str
    address: str
    tls: bool = False
    tls_ca: Path | None = None
    tls_verify_hostname: bool = True
    app_name: str = "sidecar"
    hostname: str | None = None
    facility: int = 16
    buffer: BufferConfig = field(default_factory=BufferConfig)
    type: str = "syslog"


SinkConfig = FileSinkConfig | StdoutSinkConfig | ForwardSinkConfig | SyslogSinkConfig


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """Where ``/metrics``, ``/healthz`` and ``/readyz`` are served; None: not served."""

    listen: tuple[str, int] | None = None


@dataclass(frozen=True, slots=True)
class PipelineConfig:
    """How records are processed.

    Attributes:
        workers: redaction worker processes; 0 redacts in the main process.
        policy: a redactor policy file (TOML); None uses the default policy.
        retry_max_s: longest pause between retries of a failing sink.
        shutdown_timeout_s: on SIGTERM, how long to wait for in-flight batches.
    """

    workers: int = 0
    policy: Path | None = None
    retry_max_s: float = 30.0
    shutdown_timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration, validated."""

    data_dir: Path
    sources: tuple[SourceConfig, ...]
    sinks: tuple[SinkConfig, ...]
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    file: str | None = None


def load(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Load and validate a configuration file.

    Args:
        path: the TOML file.
        env: environment for ``${VAR}`` interpolation; defaults to ``os.environ``.

    Raises:
        ConfigError: the file is unreadable, not TOML, or a field is invalid.
    """
    file = os.fspath(path)
    try:
        with open(file, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError("(file)", f"cannot read: {exc.strerror}", file) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("(file)", f"not valid TOML: {exc}", file) from None
    return parse(data, base=Path(file).resolve().parent, env=env, file=file)


def parse(
    data: Mapping[str, Any],
    *,
    base: Path,
    env: Mapping[str, str] | None = None,
    file: str | None = None,
) -> Config:
    """Validate already-parsed TOML data; see :func:`load`."""
    reader = _Reader(base, os.environ if env is None else env, file)
    return reader.config(data)


class _Reader:
    """Walks the TOML data with the current field path, for errors that name it."""

    def __init__(self, base: Path, env: Mapping[str, str], file: str | None) -> None:
        self.base = base
        self.env = env
        self.file = file

    def fail(self, where: str, message: str) -> ConfigError:
        return ConfigError(where, message, self.file)

    # -- scalars ---------------------------------------------------------------------

    def interpolate(self, where: str, value: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in self.env:
                raise self.fail(where, f"environment variable {name} is not set")
            return self.env[name]

        return _ENV.sub(one, value)

    def string(self, table: Mapping[str, Any], key: str, where: str) -> str:
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(f"{where}.{key}", f"expected a string, got {_kind(value)}")
        return self.interpolate(f"{where}.{key}", value)

    def opt_string(self, table: Mapping[str, Any], key: str, where: str) -> str | None:
        return self.string(table, key, where) if key in table else None

    def integer(
        self, table: Mapping[str, Any], key: str, where: str, default: int, low: int = 0
    ) -> int:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{where}.{key}", f"expected an integer, got {_kind(value)}")
        if value < low:
            raise self.fail(f"{where}.{key}", f"must be at least {low}, got {value}")
        return value

    def number(self, table: Mapping[str, Any], key: str, where: str, default: float) -> float:
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise self.fail(f"{where}.{key}", "expected a positive number")
        return float(value)

    def boolean(self, table: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            raise self.fail(f"{where}.{key}", f"expected true or false, got {_kind(value)}")
        return value

    def choice(
        self, table: Mapping[str, Any], key: str, where: str, options: tuple[str, ...]
    ) -> str:
        if key not in table:
            return options[0]
        value = self.string(table, key, where)
        if value not in options:
            raise self.fail(f"{where}.{key}", f"expected one of {', '.join(options)}")
        return value

    def path(self, table: Mapping[str, Any], key: str, where: str) -> Path:
        return self.base / self.string(table, key, where)

    def opt_path(self, table: Mapping[str, Any], key: str, where: str) -> Path | None:
        return self.path(table, key, where) if key in table else None

    def address(self, where: str, value: Any) -> tuple[str, int]:
        if not isinstance(value, str):
            raise self.fail(where, f'expected "HOST:PORT", got {_kind(value)}')
        text = self.interpolate(where, value)
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise self.fail(where, 'expected "HOST:PORT" with a port from 0 to 65535')
        return host.strip("[]"), int(port)

    def table(self, data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(_join(where, key), f"expected a table, got {_kind(value)}")
        return value

    def tables(self, data: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise self.fail(key, f"expected an array of tables ([[{key}]])")
        return value

    def only(self, table: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise self.fail(
                _join(where, unknown[0]), f"unknown key (allowed: {', '.join(sorted(allowed))})"
            )

    def name(self, table: Mapping[str, Any], where: str, default: str | None) -> str:
        if "name" not in table:
            if default is None:
                raise self.fail(f"{where}.name", "is required")
            return default
        value = self.string(table, "name", where)
        if not _NAME.match(value):
            raise self.fail(f"{where}.name", "use lowercase letters, digits, '_' or '-' (up to 63)")
        return value

    # -- tables ----------------------------------------------------------------------

    def config(self, data: Mapping[str, Any]) -> Config:
        self.only(data, "", {"data_dir", "sources", "sinks", "retention", "metrics", "pipeline"})
        if "data_dir" not in data:
            raise self.fail("data_dir", "is required (checkpoints and buffers live there)")
        data_dir = self.path(data, "data_dir", "")
        sources = tuple(
            self.source(t, f"sources[{i}]") for i, t in enumerate(self.tables(data, "sources"))
        )
        if not sources:
            raise self.fail("sources", "at least one [[sources]] table is required")
        sinks = tuple(self.sink(t, f"sinks[{i}]") for i, t in enumerate(self.tables(data, "sinks")))
        if not sinks:
            raise self.fail("sinks", "at least one [[sinks]] table is required")
        _unique(self, [s.name for s in sources], "sources")
        _unique(self, [s.name for s in sinks], "sinks")
        retention = self.retention(self.table(data, "retention", ""))
        known_sources = {s.name for s in sources}
        for i, rule in enumerate(retention.rules):
            if rule.source is not None and rule.source not in known_sources:
                raise self.fail(f"retention.rules[{i}].source", "names no configured source")
        return Config(
            data_dir=data_dir,
            sources=sources,
            sinks=sinks,
            retention=retention,
            metrics=self.metrics(self.table(data, "metrics", "")),
            pipeline=self.pipeline(self.table(data, "pipeline", "")),
            file=self.file,
        )

    def source(self, table: Mapping[str, Any], where: str) -> SourceConfig:
        kind = self.choice(table, "type", where, ("file", "stdin", "forward"))
        if "type" not in table:
            raise self.fail(f"{where}.type", "is required (file, stdin or forward)")
        if kind == "file":
            self.only(
                table,
                where,
                {
                    "type", "name", "paths", "format", "read_from", "multiline",
                    "poll_ms", "max_line_bytes", "batch_lines",
                },
            )  # fmt: skip
            paths = table.get("paths")
            if not isinstance(paths, list) or not paths:
                raise self.fail(f"{where}.paths", "expected a non-empty array of globs")
            globs = []
            for i, item in enumerate(paths):
                if not isinstance(item, str) or not item:
                    raise self.fail(f"{where}.paths[{i}]", "expected a glob string")
                globs.append(str(self.base / self.interpolate(f"{where}.paths[{i}]", item)))
            return FileSourceConfig(
                name=self.name(table, where, None),
                paths=tuple(globs),
                format=self.choice(table, "format", where, ("auto", "json", "text")),
                read_from=self.choice(table, "read_from", where, ("beginning", "end")),
                multiline=self.multiline(self.table(table, "multiline", where), where),
                poll_ms=self.integer(table, "poll_ms", where, 250, low=10),
                max_line_bytes=self.integer(
                    table, "max_line_bytes", where, 16 * 1024 * 1024, low=1024
                ),
                batch_lines=self.integer(table, "batch_lines", where, 2000, low=1),
            )
        if kind == "stdin":
            self.only(table, where, {"type", "name", "format", "max_line_bytes", "batch_lines"})
            return StdinSourceConfig(
                name=self.name(table, where, "stdin"),
                format=self.choice(table, "format", where, ("auto", "json", "text")),
                max_line_bytes=self.integer(
                    table, "max_line_bytes", where, 16 * 1024 * 1024, low=1024
                ),
                batch_lines=self.integer(table, "batch_lines", where, 2000, low=1),
            )
        self.only(
            table,
            where,
            {"type", "name", "listen", "shared_key", "users", "tls_cert", "tls_key",
             "max_frame_bytes", "max_connections", "batch_lines"},
        )  # fmt: skip
        if "listen" not in table:
            raise self.fail(f"{where}.listen", 'is required ("HOST:PORT")')
        host, port = self.address(f"{where}.listen", table["listen"])
        cert = self.opt_path(table, "tls_cert", where)
        key = self.opt_path(table, "tls_key", where)
        if (cert is None) != (key is None):
            raise self.fail(f"{where}.tls_cert", "tls_cert and tls_key go together")
        return ForwardSourceConfig(
            name=self.name(table, where, None),
            listen=f"{host}:{port}",
            shared_key=self.opt_string(table, "shared_key", where),
            users=self.users(table, where),
            tls_cert=cert,
            tls_key=key,
            max_frame_bytes=self.integer(
                table, "max_frame_bytes", where, 16 * 1024 * 1024, low=1024
            ),
            max_connections=self.integer(table, "max_connections", where, 256, low=1),
            batch_lines=self.integer(table, "batch_lines", where, 2000, low=1),
        )

    def users(self, table: Mapping[str, Any], where: str) -> dict[str, str]:
        here = f"{where}.users"
        value = table.get("users", [])
        if not isinstance(value, list):
            raise self.fail(here, "expected an array of {username, password} tables")
        users: dict[str, str] = {}
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.fail(f"{here}[{i}]", "expected a {username, password} table")
            self.only(item, f"{here}[{i}]", {"username", "password"})
            if "username" not in item or "password" not in item:
                raise self.fail(f"{here}[{i}]", "needs username and password")
            users[self.string(item, "username", f"{here}[{i}]")] = self.string(
                item, "password", f"{here}[{i}]"
            )
        return users

    def buffer(self, table: Mapping[str, Any], where: str) -> BufferConfig:
        here = f"{where}.buffer"
        self.only(table, here, {"max_bytes", "encryption_key_env"})
        return BufferConfig(
            max_bytes=self.integer(table, "max_bytes", here, 256 * 1024 * 1024, low=65536),
            encryption_key_env=self.opt_string(table, "encryption_key_env", here),
        )

    def multiline(self, table: Mapping[str, Any], where: str) -> MultilineConfig:
        here = f"{where}.multiline"
        self.only(table, here, {"start", "max_lines", "flush_ms"})
        start = self.opt_string(table, "start", here)
        if start is not None:
            try:
                re.compile(start)
            except re.error as exc:
                raise self.fail(f"{here}.start", f"not a valid regex: {exc}") from None
        return MultilineConfig(
            start=start,
            max_lines=self.integer(table, "max_lines", here, 1000, low=1),
            flush_ms=self.integer(table, "flush_ms", here, 1000, low=1),
        )

    def sink(self, table: Mapping[str, Any], where: str) -> SinkConfig:
        if "type" not in table:
            raise self.fail(f"{where}.type", "is required (file, stdout, forward or syslog)")
        kind = self.choice(table, "type", where, ("file", "stdout", "forward", "syslog"))
        if kind == "file":
            self.only(
                table,
                where,
                {
                    "type", "name", "path", "encryption_key_env", "old_keys_env",
                    "purge_interval_s", "max_file_bytes",
                },
            )  # fmt: skip
            if "path" not in table:
                raise self.fail(f"{where}.path", "is required (the archive directory)")
            return FileSinkConfig(
                name=self.name(table, where, "archive"),
                path=self.path(table, "path", where),
                encryption_key_env=self.opt_string(table, "encryption_key_env", where),
                old_keys_env=self.opt_string(table, "old_keys_env", where),
                purge_interval_s=self.number(table, "purge_interval_s", where, 3600.0),
                max_file_bytes=self.integer(
                    table, "max_file_bytes", where, 64 * 1024 * 1024, low=4096
                ),
            )
        if kind == "stdout":
            self.only(table, where, {"type", "name"})
            return StdoutSinkConfig(name=self.name(table, where, "stdout"))
        if kind == "forward":
            self.only(
                table,
                where,
                {"type", "name", "address", "tag_prefix", "require_ack", "compress",
                 "shared_key", "username", "password", "tls", "tls_ca", "tls_verify_hostname",
                 "ack_timeout_s", "buffer"},
            )  # fmt: skip
            raw = table.get("address")
            addresses = raw if isinstance(raw, list) else [raw]
            if raw is None or not addresses:
                raise self.fail(f"{where}.address", 'is required ("HOST:PORT" or a list)')
            parsed = [self.address(f"{where}.address", a) for a in addresses]
            return ForwardSinkConfig(
                name=self.name(table, where, None),
                address=tuple(f"{h}:{p}" for h, p in parsed),
                tag_prefix=self.opt_string(table, "tag_prefix", where) or "sidecar",
                require_ack=self.boolean(table, "require_ack", where, True),
                compress=self.boolean(table, "compress", where, False),
                shared_key=self.opt_string(table, "shared_key", where),
                username=self.opt_string(table, "username", where),
                password=self.opt_string(table, "password", where),
                tls=self.boolean(table, "tls", where, False),
                tls_ca=self.opt_path(table, "tls_ca", where),
                tls_verify_hostname=self.boolean(table, "tls_verify_hostname", where, True),
                ack_timeout_s=self.number(table, "ack_timeout_s", where, 30.0),
                buffer=self.buffer(self.table(table, "buffer", where), where),
            )
        self.only(
            table,
            where,
            {"type", "name", "address", "tls", "tls_ca", "tls_verify_hostname", "app_name",
             "hostname", "facility", "buffer"},
        )  # fmt: skip
        if "address" not in table:
            raise self.fail(f"{where}.address", 'is required ("HOST:PORT")')
        host, port = self.address(f"{where}.address", table["address"])
        facility = self.integer(table, "facility", where, 16)
        if facility > 23:
            raise self.fail(f"{where}.facility", "a syslog facility is 0 to 23")
        return SyslogSinkConfig(
            name=self.name(table, where, None),
            address=f"{host}:{port}",
            tls=self.boolean(table, "tls", where, False),
            tls_ca=self.opt_path(table, "tls_ca", where),
            tls_verify_hostname=self.boolean(table, "tls_verify_hostname", where, True),
            app_name=self.opt_string(table, "app_name", where) or "sidecar",
            hostname=self.opt_string(table, "hostname", where),
            facility=facility,
            buffer=self.buffer(self.table(table, "buffer", where), where),
        )

    def retention(self, table: Mapping[str, Any]) -> RetentionConfig:
        self.only(table, "retention", {"tiers", "rules"})
        tiers = dict(DEFAULT_TIERS)
        given = self.table(table, "tiers", "retention")
        for name, days in given.items():
            where = f"retention.tiers.{name}"
            if not _NAME.match(name):
                raise self.fail(where, "tier names use lowercase letters, digits, '_' or '-'")
            if isinstance(days, bool) or not isinstance(days, int) or days < 1:
                raise self.fail(where, "expected a whole number of days, at least 1")
            tiers[name] = days
        rules = []
        for i, rule in enumerate(self.tables(table, "rules") if "rules" in table else []):
            where = f"retention.rules[{i}]"
            self.only(rule, where, {"tier", "field", "equals", "matches", "logger", "source"})
            if "tier" not in rule:
                raise self.fail(f"{where}.tier", "is required")
            tier = self.string(rule, "tier", where)
            if tier not in tiers:
                raise self.fail(f"{where}.tier", f"names no tier (known: {', '.join(tiers)})")
            field_name = self.opt_string(rule, "field", where)
            equals = rule.get("equals")
            if equals is not None and not isinstance(equals, (str, int, float, bool)):
                raise self.fail(f"{where}.equals", "expected a string, number or boolean")
            matches = self.opt_string(rule, "matches", where)
            if (equals is not None or matches is not None) and field_name is None:
                raise self.fail(f"{where}.field", "equals/matches need a field")
            if field_name is not None and equals is None and matches is None:
                raise self.fail(f"{where}.field", "a field needs equals or matches")
            if matches is not None:
                try:
                    re.compile(matches)
                except re.error as exc:
                    raise self.fail(f"{where}.matches", f"not a valid regex: {exc}") from None
            logger = self.opt_string(rule, "logger", where)
            source = self.opt_string(rule, "source", where)
            if field_name is None and logger is None and source is None:
                raise self.fail(where, "a rule needs field, logger or source")
            rules.append(
                RetentionRule(
                    tier=tier,
                    field=field_name,
                    equals=_as_text(equals) if equals is not None else None,
                    matches=matches,
                    logger=logger,
                    source=source,
                )
            )
        return RetentionConfig(tiers=tiers, rules=tuple(rules))

    def metrics(self, table: Mapping[str, Any]) -> MetricsConfig:
        self.only(table, "metrics", {"listen"})
        if "listen" not in table:
            return MetricsConfig()
        return MetricsConfig(listen=self.address("metrics.listen", table["listen"]))

    def pipeline(self, table: Mapping[str, Any]) -> PipelineConfig:
        self.only(table, "pipeline", {"workers", "policy", "retry_max_s", "shutdown_timeout_s"})
        workers = self.integer(table, "workers", "pipeline", 0)
        if workers > 64:
            raise self.fail("pipeline.workers", "at most 64")
        return PipelineConfig(
            workers=workers,
            policy=self.opt_path(table, "policy", "pipeline"),
            retry_max_s=self.number(table, "retry_max_s", "pipeline", 30.0),
            shutdown_timeout_s=self.number(table, "shutdown_timeout_s", "pipeline", 10.0),
        )


def _unique(reader: _Reader, names: list[str], where: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise reader.fail(f"{where}[{i}].name", f"duplicate name {name!r}")
        seen.add(name)


def _as_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _kind(value: Any) -> str:
    return type(value).__name__
