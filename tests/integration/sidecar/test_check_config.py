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
