"""``--check-config`` loads every key the run would load, network buffers' included."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BUFFERED = """
data_dir = "d"
[[sources]]
type = "stdin"
[[sinks]]
type = "{kind}"
name = "net"
address = "127.0.0.1:24224"
[sinks.buffer]
encryption_key_env = "CHECK_BUFFER_KEY"
"""


@pytest.mark.parametrize("kind", ["forward", "syslog"])
def test_missing_buffer_key_is_a_config_error(tmp_path: Path, kind: str) -> None:
    """A network sink's buffer key that is not set fails the check, naming the variable."""
    config = tmp_path / "sidecar.toml"
    config.write_text(BUFFERED.format(kind=kind))
    env = {k: v for k, v in os.environ.items() if k != "CHECK_BUFFER_KEY"}
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--config", str(config), "--check-config"],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 2 and b"CHECK_BUFFER_KEY" in done.stderr
    env["CHECK_BUFFER_KEY"] = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # generated test key
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--config", str(config), "--check-config"],
        capture_output=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()


WITH_WORKERS = """
data_dir = "d"
[pipeline]
workers = 2
policy = "policy.toml"
[[sources]]
type = "file"
name = "app"
paths = ["logs/*.log"]
[[sinks]]
type = "stdout"
"""


def test_bad_policy_with_workers_fails_before_they_start(tmp_path: Path) -> None:
    """Workers start early, but a bad policy is still one clear line, not their tracebacks."""
    (tmp_path / "policy.toml").write_text('rules = ["@nonexistent"]\n')
    (tmp_path / "logs").mkdir()
    (tmp_path / "sidecar.toml").write_text(WITH_WORKERS)
    done = subprocess.run(
        [sys.executable, "-m", "sidecar", "--config", "sidecar.toml", "--once"],
        capture_output=True,
        cwd=tmp_path,
        timeout=60,
    )
    err = done.stderr.decode()
    assert done.returncode == 2, err
    assert "rules[0]" in err and "nonexistent" in err
    assert "Traceback" not in err and "initializer" not in err
