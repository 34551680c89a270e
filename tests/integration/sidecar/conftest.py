"""Fixtures that run ``python3 -m sidecar`` as a real child process.

Theory of operation: every test gets a temporary work directory holding the config,
the logs, ``data_dir`` and the archive, plus a separate directory the child runs in,
so relative paths must resolve against the config file and never against the working
directory. The child's environment carries a freshly generated archive key
(``SIDECAR_ARCHIVE_KEY``) and ``PYTHONPATH`` pointing at this checkout, so the code
under test is the working tree whatever is installed. The test process itself never
holds the key in its own environment.

A running sidecar is watched the way an orchestrator would: readiness by polling
``/readyz`` on a metrics port chosen here (bind port 0, read the port, close: the
config must name the port for the test to know it), progress by scraping ``/metrics``
and parsing it with :mod:`prometheus_client.parser`. The child's stdout and stderr go
to files, never pipes, so a chatty stdout sink can never block on a full pipe.

The archive is read back through the CLI (``python3 -m sidecar decrypt``), the way an
operator would, except where a test needs to know which folder each record came from:
then the files are read one by one with :func:`sidecar.archive.reader.iter_lines`, the
reader the CLI itself uses, which saves one child process per folder.

Speed: every child pays for the interpreter and the redactor's compile (about a second
on these machines), so tests share runs where they can and start concurrent children for
independent checks. Auxiliary commands (``decrypt``, ``purge``, ``--check-config``) run
with ``REDACTOR_BACKEND=python``: the redactor then only guards the CLI's own log lines,
the pure pre-filter is byte-identical to Hyperscan (a property test checks it) and skips
the half second of compiling a Hyperscan database; every run that ships records uses the
default backend, as deployments do. The children write their bytecode to a session-wide
cache directory (``PYTHONPYCACHEPREFIX``) instead of recompiling the package every time,
and never into the checkout.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

__all__ = [
    "KEY_ENV",
    "REPO",
    "TEST_PANS",
    "Archive",
    "Samples",
    "Sidecar",
    "SidecarFactory",
    "base_config",
    "free_port",
    "make_env",
    "run_cli",
    "run_many",
    "seqs_of",
    "to_toml",
    "utc_today",
]

#: The checkout under test (``tests/integration/sidecar/conftest.py`` -> repo root).
REPO = Path(__file__).resolve().parents[3]
#: Published test card numbers (Visa, Mastercard, Amex, Visa debit): never real cards.
TEST_PANS = ("4111111111111111", "5555555555554444", "378282246310005", "4000056655665556")
KEY_ENV = "SIDECAR_ARCHIVE_KEY"
_SEQ = re.compile(r"\bseq=(\d+)\b")


def utc_today() -> date:
    """Today in UTC, the day the archive files records under."""
    return datetime.now(timezone.utc).date()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# -- configuration ----------------------------------------------------------------------


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic strings
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _is_tables(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and bool(value) and isinstance(value[0], Mapping)


def _toml_table(data: Mapping[str, Any], prefix: str, out: list[str]) -> None:
    for key, value in data.items():
        if not isinstance(value, Mapping) and not _is_tables(value):
            out.append(f"{key} = {_toml_value(value)}")
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, Mapping):
            out.append(f"\n[{name}]")
            _toml_table(value, name, out)
        elif _is_tables(value):
            for item in value:
                out.append(f"\n[[{name}]]")
                _toml_table(item, name, out)


def to_toml(data: Mapping[str, Any]) -> str:
    """Serialize the subset of TOML the sidecar's config uses (tables, arrays of tables)."""
    out: list[str] = []
    _toml_table(data, "", out)
    return "\n".join(out) + "\n"


def base_config(
    port: int | None,
    *,
    source: Mapping[str, Any] | None = None,
    stdout_sink: bool = False,
    tiers: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """A config tailing ``logs/*.log`` into an encrypted archive, paths relative.

    Args:
        port: the metrics port, or None for no metrics server.
        source: options merged into the ``[[sources]]`` table.
        stdout_sink: add a ``stdout`` sink after the archive.
        tiers: ``[retention.tiers]`` overrides.
    """
    src: dict[str, Any] = {
        "type": "file",
        "name": "app",
        "paths": ["logs/*.log"],
        "format": "auto",
        "read_from": "beginning",
        "poll_ms": 50,
    }
    src.update(source or {})
    archive = {"type": "file", "path": "archive", "encryption_key_env": KEY_ENV}
    sinks: list[dict[str, Any]] = [archive]
    if stdout_sink:
        sinks.append({"type": "stdout"})
    retention: dict[str, Any] = {
        "rules": [{"tier": "transaction", "field": "log_type", "equals": "transaction"}]
    }
    if tiers:
        retention = {"tiers": dict(tiers), **retention}
    config: dict[str, Any] = {
        "data_dir": "data",
        "sources": [src],
        "retention": retention,
        "sinks": sinks,
        "pipeline": {"shutdown_timeout_s": 5},
    }
    if port is not None:
        config["metrics"] = {"listen": f"127.0.0.1:{port}"}
    return config


# -- running the CLI --------------------------------------------------------------------


def _aux_env(args: Sequence[str], env: Mapping[str, str]) -> dict[str, str]:
    """The environment for ``args``: the pure pre-filter for commands that ship nothing."""
    out = dict(env)
    if list(args[:1]) in (["decrypt"], ["purge"]) or "--check-config" in args:
        out.setdefault("REDACTOR_BACKEND", "python")
    return out


def run_cli(
    args: Sequence[str], env: Mapping[str, str], cwd: Path, timeout: float = 60
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python3 -m sidecar ARGS`` to completion and capture its output."""
    return run_many([(args, env)], cwd, timeout)[0]


def run_many(
    jobs: Sequence[tuple[Sequence[str], Mapping[str, str]]], cwd: Path, timeout: float = 60
) -> list[subprocess.CompletedProcess[bytes]]:
    """Run several independent CLI commands concurrently; results in job order."""
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "sidecar", *args],
            env=_aux_env(args, env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for args, env in jobs
    ]
    results = []
    for child in children:
        stdout, stderr = child.communicate(timeout=timeout)
        results.append(subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr))
    return results


class Samples:
    """Parsed ``/metrics``: sample name and labels to value."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: list[tuple[str, dict[str, str], float]] = []
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples.append((sample.name, dict(sample.labels), float(sample.value)))

    def total(self, name: str, **labels: str) -> float:
        """Sum of the samples called ``name`` whose labels include ``labels``."""
        return sum(
            value
            for sample, have, value in self.samples
            if sample == name and all(have.get(k) == v for k, v in labels.items())
        )

    def has(self, name: str, **labels: str) -> bool:
        """Whether a sample called ``name`` with these labels is exported."""
        return any(
            sample == name and all(have.get(k) == v for k, v in labels.items())
            for sample, have, _ in self.samples
        )


class Sidecar:
    """One ``python3 -m sidecar`` child process, its output in files."""

    def __init__(
        self,
        args: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        logs: Path,
        port: int | None,
        new_session: bool = False,
    ) -> None:
        self.port = port
        logs.mkdir(parents=True, exist_ok=True)
        self.stdout_path = logs / "stdout"
        self.stderr_path = logs / "stderr"
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sidecar", *args],
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=new_session,
            )

    def http(self, path: str) -> tuple[int, bytes]:
        """GET ``path`` on the metrics port; (0, b"") when nothing answers."""
        url = f"http://127.0.0.1:{self.port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def wait_ready(self, timeout: float = 20) -> None:
        """Poll ``/readyz`` until 200; fail early if the process dies."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"sidecar exited with {self.proc.returncode}:\n{self.stderr()}")
            if self.http("/readyz")[0] == 200:
                return
            if time.monotonic() > deadline:
                pytest.fail(f"sidecar not ready within {timeout:.0f}s:\n{self.stderr()}")
            time.sleep(0.05)

    def children(self, marker: bytes = b"", parent: int | None = None) -> list[int]:
        """Pids of the child's (or ``parent``'s) processes whose command line holds ``marker``."""
        parent = self.proc.pid if parent is None else parent
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == parent and marker in cmdline:
                pids.append(int(entry.name))
        return sorted(pids)

    def workers(self) -> list[int]:
        """Pids of the child's redaction worker processes, however they were started.

        Spawned workers are the child's own; with a fork server they are the server's
        children. The resource tracker and the fork server are not workers.
        """
        helpers = set(self.children(b"resource_tracker"))
        servers = self.children(b"forkserver")
        helpers.update(servers)
        found = [pid for pid in self.children() if pid not in helpers]
        for server in servers:  # workers forked by multiprocessing's fork server
            found.extend(self.children(parent=server))
        return sorted(found)

    def metrics(self) -> Samples:
        """Scrape and parse ``/metrics``."""
        status, body = self.http("/metrics")
        assert status == 200, f"/metrics answered {status}"
        return Samples(body.decode("utf-8"))

    def wait_metric(
        self, name: str, at_least: float, timeout: float = 20, *, fail: bool = True, **labels: str
    ) -> bool:
        """Wait until ``name{labels}`` reaches ``at_least``.

        Args:
            fail: fail the test on timeout or exit; with False, return False instead,
                so the caller can gather a better diagnosis (which records are missing).
        """
        deadline = time.monotonic() + timeout
        while True:
            status, body = self.http("/metrics")
            if status == 200 and Samples(body.decode()).total(name, **labels) >= at_least:
                return True
            if self.proc.poll() is not None:
                if fail:
                    pytest.fail(f"sidecar exited with {self.proc.returncode}:\n{self.stderr()}")
                return False
            if time.monotonic() > deadline:
                if fail:
                    pytest.fail(f"timed out after {timeout:.0f}s: {name}{labels} < {at_least}")
                return False
            time.sleep(0.05)

    def send(self, signum: int) -> None:
        """Send ``signum`` to the child (by its own pid)."""
        self.proc.send_signal(signum)

    def kill(self) -> None:
        """``kill -9`` the child and reap it; its worker processes go too, by pid."""
        helpers = self.children() + self.workers()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        for pid in helpers:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int:
        """Wait for exit; fail (after killing it) if it takes longer than ``timeout``."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"sidecar did not exit within {timeout:.0f}s:\n{self.stderr()}")

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10) -> tuple[int, float]:
        """Signal the child and wait; return its exit status and how long it took."""
        start = time.monotonic()
        self.send(signum)
        status = self.wait(timeout)
        return status, time.monotonic() - start

    def stdout(self) -> bytes:
        """Everything the child wrote to stdout so far."""
        return self.stdout_path.read_bytes()

    def stderr(self) -> str:
        """Everything the child wrote to stderr so far."""
        return self.stderr_path.read_bytes().decode("utf-8", "replace")


class SidecarFactory:
    """Starts sidecars for one test and kills any still running at teardown."""

    def __init__(self, root: Path, env: Mapping[str, str]) -> None:
        self.root = root
        self.env = dict(env)
        self.cwd = root / "cwd"
        self.cwd.mkdir(exist_ok=True)
        self.started: list[Sidecar] = []

    def start(
        self, config: Path, *extra: str, port: int | None = None, new_session: bool = False
    ) -> Sidecar:
        """Start ``python3 -m sidecar --config CONFIG EXTRA...``; output under ``run-N/``.

        Args:
            new_session: start the child as the leader of its own process group, so a
                test can signal the group (the child and its workers) as systemd or a
                terminal's Ctrl-C would, without hitting pytest.
        """
        logs = self.root / f"run-{len(self.started)}"
        args = ["--config", str(config), *extra]
        child = Sidecar(args, self.env, self.cwd, logs, port, new_session)
        self.started.append(child)
        return child

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
        """Run a CLI command to completion in the child environment."""
        return run_cli(args, self.env, self.cwd, timeout)

    def run_many(
        self, jobs: Sequence[tuple[Sequence[str], Mapping[str, str] | None]]
    ) -> list[subprocess.CompletedProcess[bytes]]:
        """Run CLI commands concurrently, each with its env (None: the child env)."""
        return run_many([(a, self.env if e is None else e) for a, e in jobs], self.cwd)

    def close(self) -> None:
        for child in self.started:
            if child.proc.poll() is None:
                child.kill()


# -- reading the archive back -----------------------------------------------------------


def seqs_of(records: Sequence[Mapping[str, Any]]) -> list[int]:
    """The ``seq=N`` numbers of text records (or ``seq`` fields of JSON ones), in order."""
    out: list[int] = []
    for record in records:
        if isinstance(record.get("seq"), int):
            out.append(record["seq"])
            continue
        match = _SEQ.search(str(record.get("message", "")))
        if match:
            out.append(int(match.group(1)))
    return out


class Archive:
    """The archive directory of a test, read back through ``sidecar decrypt``."""

    def __init__(self, path: Path, factory: SidecarFactory) -> None:
        self.path = path
        self._factory = factory

    def files(self) -> list[Path]:
        """Every archive file, sorted."""
        return sorted(p for p in self.path.rglob("*.jsonl.gz*") if p.is_file())

    def folders(self) -> list[tuple[str, str]]:
        """The ``(tier, day)`` folders that hold files."""
        return sorted({(p.parent.parent.name, p.parent.name) for p in self.files()})

    def records(self, *, allow_torn: bool = False) -> list[dict[str, Any]]:
        """Decrypt every file with one CLI call and parse the JSON lines.

        Args:
            allow_torn: accept exit status 1 when every complaint is a truncated tail
                (the file a ``kill -9``-ed process was writing).
        """
        files = self.files()
        if not files:
            return []
        done = self._factory.run("decrypt", *map(str, files))
        self._check(done, allow_torn)
        return _parse_lines(done.stdout)

    def records_by_folder(self) -> dict[tuple[str, str], list[dict[str, Any]]]:
        """Read each ``(tier, day)`` folder in-process with the CLI's own reader."""
        from sidecar.archive.keys import load_keyring
        from sidecar.archive.reader import iter_lines

        env = self._factory.env
        keyring = load_keyring(KEY_ENV if KEY_ENV in env else None, None, env)
        out: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for tier, day in self.folders():
            lines = [
                line
                for path in sorted((self.path / tier / day).glob("*.jsonl.gz*"))
                for line in iter_lines(path, keyring)
            ]
            out[(tier, day)] = _parse_lines(b"\n".join(lines))
        return out

    @staticmethod
    def _check(done: subprocess.CompletedProcess[bytes], allow_torn: bool) -> None:
        if done.returncode == 0:
            return
        complaints = done.stderr.decode("utf-8", "replace").strip().splitlines()
        torn = complaints and all("truncated tail" in line for line in complaints)
        assert allow_torn and torn and done.returncode == 1, (
            f"decrypt exited {done.returncode}: {complaints}"
        )


def _parse_lines(blob: bytes) -> list[dict[str, Any]]:
    records = []
    for line in blob.splitlines():
        value = json.loads(line)
        assert isinstance(value, dict), "an archive line is not a JSON object"
        records.append(value)
    return records


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """The directory holding the config, ``logs/``, ``data/`` and ``archive/``."""
    root = tmp_path / "site"
    (root / "logs").mkdir(parents=True)
    return root


@pytest.fixture
def archive_key() -> str:
    """A fresh AES-256 archive key, base64, as the sidecar expects it."""
    return base64.b64encode(os.urandom(32)).decode("ascii")


def make_env(key: str, pycache: Path) -> dict[str, str]:
    """A child environment: ``key`` as the archive key, this checkout on the path."""
    drop = {KEY_ENV, "SIDECAR_LOG_LEVEL", "REDACTOR_BACKEND"}
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env[KEY_ENV] = key
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the children keep compiled bytecode, shared by the whole session."""
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def child_env(archive_key: str, pycache: Path) -> dict[str, str]:
    """The child's environment: the archive key and this checkout on the path."""
    return make_env(archive_key, pycache)


@pytest.fixture
def write_config(workdir: Path) -> Callable[..., Path]:
    """Write a config dict as TOML into the work directory; returns its path."""

    def write(data: Mapping[str, Any], name: str = "sidecar.toml") -> Path:
        path = workdir / name
        path.write_text(to_toml(data), encoding="utf-8")
        return path

    return write


@pytest.fixture
def sidecars(tmp_path: Path, child_env: dict[str, str]) -> Iterator[SidecarFactory]:
    """Start sidecar processes; any still running at teardown are killed."""
    factory = SidecarFactory(tmp_path, child_env)
    yield factory
    factory.close()


@pytest.fixture
def archive(workdir: Path, sidecars: SidecarFactory) -> Archive:
    """The work directory's ``archive/``, read back through the CLI."""
    return Archive(workdir / "archive", sidecars)
