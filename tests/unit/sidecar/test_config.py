"""Configuration: the issue's shape loads; every mistake names its file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sidecar.config import (
    DEFAULT_TIERS,
    FileSinkConfig,
    FileSourceConfig,
    StdoutSinkConfig,
    load,
    parse,
)
from sidecar.errors import ConfigError

ISSUE_EXAMPLE = """
data_dir = "var/sidecar"

[[sources]]
type = "file"
name = "app"
paths = ["logs/*.log"]
format = "auto"
read_from = "beginning"

[retention.tiers]
application = 30
error = 90
audit = 365
transaction = 2557

[[retention.rules]]
tier = "transaction"
field = "log_type"
equals = "transaction"

[[sinks]]
type = "file"
path = "archive"
encryption_key_env = "SIDECAR_ARCHIVE_KEY"

[[sinks]]
type = "stdout"

[metrics]
listen = "127.0.0.1:9880"
"""


def minimal(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "data_dir": "d",
        "sources": [{"type": "file", "name": "app", "paths": ["*.log"]}],
        "sinks": [{"type": "stdout"}],
    }
    data.update(extra)
    return data


def error_of(data: dict[str, Any], env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(data, base=Path("/base"), env=env or {}, file="cfg.toml")
    return info.value


class TestLoad:
    def test_issue_example(self, tmp_path: Path) -> None:
        """The shape given in the issue loads, with paths resolved next to the file."""
        path = tmp_path / "sidecar.toml"
        path.write_text(ISSUE_EXAMPLE)
        config = load(path, env={})
        (source,) = config.sources
        assert isinstance(source, FileSourceConfig)
        assert source.paths == (str(tmp_path / "logs/*.log"),)
        assert config.data_dir == tmp_path / "var/sidecar"
        archive, stdout = config.sinks
        assert isinstance(archive, FileSinkConfig) and isinstance(stdout, StdoutSinkConfig)
        assert archive.path == tmp_path / "archive"
        assert archive.encryption_key_env == "SIDECAR_ARCHIVE_KEY"
        assert dict(config.retention.tiers) == dict(DEFAULT_TIERS)
        assert config.retention.rules[0].equals == "transaction"
        assert config.metrics.listen == ("127.0.0.1", 9880)

    def test_bad_toml_names_file(self, tmp_path: Path) -> None:
        """A syntax error is reported with the file name."""
        path = tmp_path / "bad.toml"
        path.write_text("data_dir = ")
        with pytest.raises(ConfigError, match=r"bad\.toml"):
            load(path)

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a configuration error, not a traceback."""
        with pytest.raises(ConfigError, match="cannot read"):
            load(tmp_path / "nope.toml")


class TestValidation:
    def test_env_interpolation(self) -> None:
        """${VAR} is replaced from the environment."""
        data = minimal(data_dir="${ROOT}/d")
        config = parse(data, base=Path("/b"), env={"ROOT": "/srv"})
        assert config.data_dir == Path("/srv/d")

    @pytest.mark.parametrize(
        ("data", "field"),
        [
            (minimal(data_dir="${NOPE}"), "data_dir"),
            ({"sources": [], "sinks": []}, "data_dir"),
            (minimal(sources=[]), "sources"),
            (minimal(sinks=[]), "sinks"),
            (minimal(colour="red"), "colour"),
            (minimal(sources=[{"type": "file", "name": "a", "paths": []}]), "sources[0].paths"),
            (minimal(sources=[{"type": "tcp", "name": "a"}]), "sources[0].type"),
            (minimal(sources=[{"name": "a", "paths": ["x"]}]), "sources[0].type"),
            (
                minimal(sources=[{"type": "file", "name": "A B", "paths": ["x"]}]),
                "sources[0].name",
            ),
            (
                minimal(sources=[{"type": "file", "name": "a", "paths": ["x"], "format": "xml"}]),
                "sources[0].format",
            ),
            (
                minimal(sources=[{"type": "file", "name": "a", "paths": ["x"], "poll_ms": "1"}]),
                "sources[0].poll_ms",
            ),
            (
                minimal(
                    sources=[
                        {"type": "file", "name": "a", "paths": ["x"]},
                        {"type": "file", "name": "a", "paths": ["y"]},
                    ]
                ),
                "sources[1].name",
            ),
            (minimal(sinks=[{"type": "file"}]), "sinks[0].path"),
            (minimal(sinks=[{"type": "stdout", "path": "x"}]), "sinks[0].path"),
            (minimal(metrics={"listen": "localhost"}), "metrics.listen"),
            (minimal(metrics={"listen": "h:99999"}), "metrics.listen"),
            (minimal(retention={"tiers": {"forever": 0}}), "retention.tiers.forever"),
            (minimal(retention={"rules": [{"tier": "gold", "source": "app"}]}), "rules[0].tier"),
            (minimal(retention={"rules": [{"tier": "audit"}]}), "retention.rules[0]"),
            (
                minimal(retention={"rules": [{"tier": "audit", "field": "x"}]}),
                "rules[0].field",
            ),
            (
                minimal(retention={"rules": [{"tier": "audit", "field": "x", "matches": "("}]}),
                "rules[0].matches",
            ),
            (
                minimal(retention={"rules": [{"tier": "audit", "source": "other"}]}),
                "rules[0].source",
            ),
            (minimal(pipeline={"workers": -1}), "pipeline.workers"),
            (
                minimal(
                    sources=[
                        {"type": "file", "name": "a", "paths": ["x"], "multiline": {"start": "["}}
                    ]
                ),
                "multiline.start",
            ),
        ],
    )
    def test_errors_name_the_field(self, data: dict[str, Any], field: str) -> None:
        """Every invalid field is reported by its dotted path, with the file name."""
        error = error_of(data)
        assert field in str(error) and "cfg.toml" in str(error)

    def test_error_never_echoes_env_values(self) -> None:
        """A bad interpolated value is reported by field, not by the secret it held."""
        error = error_of(minimal(metrics={"listen": "${SECRET}"}), env={"SECRET": "hunter2"})
        assert "hunter2" not in str(error)

    def test_custom_tier(self) -> None:
        """New tiers can be added and used by rules."""
        data = minimal(
            retention={"tiers": {"debug": 7}, "rules": [{"tier": "debug", "logger": "x"}]}
        )
        config = parse(data, base=Path("/b"), env={})
        assert config.retention.tiers["debug"] == 7 and config.retention.tiers["audit"] == 365
