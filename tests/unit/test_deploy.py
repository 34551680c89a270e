"""The Dockerfile and Kubernetes manifests agree with each other and with the config.

There is no container engine or cluster here, so these tests parse the files and check
the wiring: volumes, paths, ports, probes, the key's Secret and the security settings.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import fnmatch
import json
import re
import shlex
import subprocess
import sys
import threading
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from sidecar.config import Config, FileSinkConfig, FileSourceConfig, StdoutSinkConfig, parse
from sidecar.http import MetricsServer
from sidecar.metrics import Metrics

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "kubernetes"


def load(name: str) -> list[dict[str, Any]]:
    with open(K8S / name, encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def one(name: str, kind: str) -> dict[str, Any]:
    docs = [doc for doc in load(name) if doc["kind"] == kind]
    assert len(docs) == 1, f"{name} holds one {kind}"
    return docs[0]


DEPLOYMENT = one("deployment.yaml", "Deployment")
CONFIGMAP = one("configmap.yaml", "ConfigMap")
SECRET = one("secret.example.yaml", "Secret")
POD = DEPLOYMENT["spec"]["template"]["spec"]


def container(name: str) -> dict[str, Any]:
    return next(c for c in POD["containers"] if c["name"] == name)


SIDECAR = container("pci-sidecar")
APP = container("app")


def config() -> Config:
    text = CONFIGMAP["data"]["sidecar.toml"]
    # encryption_key_env holds a variable *name*; the fake env proves nothing is read from it.
    return parse(tomllib.loads(text), base=Path("/"), env={"SIDECAR_ARCHIVE_KEY": "unused"})


def dockerfile() -> list[tuple[str, str]]:
    """Return (INSTRUCTION, arguments) pairs with continuation lines joined."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for entry in logical:
        word, _, rest = entry.strip().partition(" ")
        pairs.append((word.upper(), rest.strip()))
    return pairs


def instructions(name: str, stage: str = "final") -> list[str]:
    pairs = dockerfile()
    if stage == "final":
        last_from = max(i for i, (word, _) in enumerate(pairs) if word == "FROM")
        pairs = pairs[last_from:]
    return [rest for word, rest in pairs if word == name]


def mount(container_spec: dict[str, Any], path: str) -> dict[str, Any] | None:
    """Return the volume mount whose mountPath contains ``path``, deepest first."""
    found = [
        m
        for m in container_spec.get("volumeMounts", [])
        if PurePosixPath(path).is_relative_to(m["mountPath"])
    ]
    return max(found, key=lambda m: len(m["mountPath"]), default=None)


def volume(name: str) -> dict[str, Any]:
    return next(v for v in POD["volumes"] if v["name"] == name)


def port_number(container_spec: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container_spec["ports"] if p["name"] == port)


class TestConfigMap:
    def test_config_parses(self):
        """The ConfigMap's TOML passes the sidecar's own validation."""
        parsed = config()
        assert [type(s) for s in parsed.sources] == [FileSourceConfig]
        assert {type(s) for s in parsed.sinks} == {FileSinkConfig, StdoutSinkConfig}
        assert parsed.metrics.listen == ("0.0.0.0", 9880)

    def test_app_logs_are_tailed(self):
        """The volume the app writes is mounted read-only in the sidecar where the config tails."""
        (source,) = config().sources
        assert isinstance(source, FileSourceConfig)
        for glob in source.paths:
            seen = mount(SIDECAR, str(PurePosixPath(glob).parent))
            assert seen is not None, glob
            assert seen.get("readOnly") is True
            written = next(m for m in APP["volumeMounts"] if m["name"] == seen["name"])
            assert not written.get("readOnly", False)
            assert "emptyDir" in volume(seen["name"])
            # The example app's own log file matches the glob, at the sidecar's mount path.
            script = " ".join(APP.get("args", []) + APP.get("command", []))
            files = re.findall(r">>\s*(\S+)", script)
            assert files
            for file in files:
                relative = PurePosixPath(file).relative_to(written["mountPath"])
                assert fnmatch.fnmatch(str(PurePosixPath(seen["mountPath"]) / relative), glob)

    def test_written_paths_are_on_writable_volumes(self):
        """data_dir and the archive lie on writable volumes, since the root fs is read-only."""
        parsed = config()
        archive = next(s for s in parsed.sinks if isinstance(s, FileSinkConfig))
        for path in (parsed.data_dir, archive.path):
            seen = mount(SIDECAR, str(path))
            assert seen is not None, path
            assert not seen.get("readOnly", False)
            assert {"emptyDir", "persistentVolumeClaim"} & set(volume(seen["name"]))

    def test_config_volume_matches_the_image_command(self):
        """The ConfigMap is mounted where the image's CMD looks for the config."""
        (cmd,) = instructions("CMD")
        args = json.loads(cmd)
        path = PurePosixPath(args[args.index("--config") + 1])
        seen = mount(SIDECAR, str(path))
        assert seen is not None and seen.get("readOnly") is True
        source = volume(seen["name"])["configMap"]
        assert source["name"] == CONFIGMAP["metadata"]["name"]
        key = str(path.relative_to(seen["mountPath"]))
        assert key in CONFIGMAP["data"]
        assert any(item["key"] == key and item["path"] == key for item in source["items"])


class TestDeployment:
    def test_every_mount_names_a_volume(self):
        """Every volumeMount refers to a volume declared in the pod."""
        names = {v["name"] for v in POD["volumes"]}
        for spec in POD["containers"]:
            for item in spec.get("volumeMounts", []):
                assert item["name"] in names

    def test_probes_hit_the_configured_port(self):
        """Liveness hits /healthz and readiness /readyz on the port the config listens on."""
        port = config().metrics.listen
        assert port is not None
        live = SIDECAR["livenessProbe"]["httpGet"]
        ready = SIDECAR["readinessProbe"]["httpGet"]
        assert live["path"] == "/healthz"
        assert ready["path"] == "/readyz"
        assert port_number(SIDECAR, live["port"]) == port[1]
        assert port_number(SIDECAR, ready["port"]) == port[1]
        assert {"name": "metrics", "containerPort": port[1], "protocol": "TCP"} in SIDECAR["ports"]
        annotations = DEPLOYMENT["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port[1])

    def test_key_comes_from_the_secret_named_by_the_config(self):
        """The env var from secretKeyRef is the one encryption_key_env names, in the Secret."""
        archive = next(s for s in config().sinks if isinstance(s, FileSinkConfig))
        env = {item["name"]: item for item in SIDECAR["env"]}
        assert archive.encryption_key_env in env
        ref = env[archive.encryption_key_env]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == SECRET["metadata"]["name"]
        assert ref["key"] in SECRET.get("stringData", {}) | SECRET.get("data", {})
        assert "value" not in env[archive.encryption_key_env]

    def test_secret_example_holds_no_key(self):
        """The example Secret's values are placeholders, not base64 of 32 bytes."""
        values = list(SECRET.get("stringData", {}).values()) + list(SECRET.get("data", {}))
        assert values
        for text in values:
            try:
                decoded = base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                continue
            assert len(decoded) != 32

    @pytest.mark.parametrize("name", ["pci-sidecar", "app"])
    def test_containers_are_locked_down(self, name: str):
        """Non-root, read-only root filesystem, no escalation, no capabilities, with limits."""
        spec = container(name)
        merged = {**POD["securityContext"], **spec["securityContext"]}
        assert merged["runAsNonRoot"] is True
        assert merged["runAsUser"] != 0
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert {"requests", "limits"} <= set(spec["resources"])

    def test_grace_period_covers_the_shutdown_timeout(self):
        """The pod waits longer than the sidecar's shutdown timeout before killing it."""
        assert POD["terminationGracePeriodSeconds"] > config().pipeline.shutdown_timeout_s


class TestDockerfile:
    def test_base_user_and_environment(self):
        """Slim Python 3.11, a numeric non-root user matching the pod, no bytecode writes."""
        assert all(f.startswith("python:3.11-slim") for f in instructions("FROM", "all"))
        (user,) = instructions("USER")
        uid = user.split(":")[0]
        assert uid.isdigit() and int(uid) != 0
        assert int(uid) == SIDECAR["securityContext"]["runAsUser"]
        env = " ".join(instructions("ENV"))
        assert "PYTHONDONTWRITEBYTECODE=1" in env
        installs = " ".join(instructions("RUN", "all"))
        assert '".[sidecar,fast]"' in installs

    def test_precompiled_database_is_where_the_environment_points(self):
        """The build compiles the database into the image directory the run stage names."""
        env = " ".join(instructions("ENV"))
        directory = env.split("REDACTOR_HYPERSCAN_CACHE=", 1)[1].split()[0]
        installs = " ".join(instructions("RUN", "all"))
        assert f"-m redactor precompile --cache {directory}" in installs
        assert directory.startswith("/opt/sidecar/")  # copied whole into the run stage
        assert "--from=build /opt/sidecar /opt/sidecar" in instructions("COPY")

    def test_entrypoint_volume_and_port_match_the_config(self):
        """ENTRYPOINT runs the package, VOLUME is data_dir, EXPOSE is the metrics port."""
        assert json.loads(instructions("ENTRYPOINT")[0]) == ["python", "-m", "sidecar"]
        assert json.loads(instructions("CMD")[0]) == ["--config", "/etc/sidecar/sidecar.toml"]
        parsed = config()
        assert str(parsed.data_dir) in json.loads(instructions("VOLUME")[0])
        assert parsed.metrics.listen is not None
        assert instructions("EXPOSE") == [str(parsed.metrics.listen[1])]

    def test_healthcheck_fetches_healthz_with_python(self):
        """The HEALTHCHECK runs python (no curl in slim) against /healthz on the port."""
        (check,) = instructions("HEALTHCHECK")
        assert config().metrics.listen == ("0.0.0.0", 9880)
        command = json.loads(check[check.index("CMD") + 3 :])
        assert command[0] == "python"
        assert "http://127.0.0.1:9880/healthz" in command[-1]

    def test_healthcheck_command_follows_the_endpoint(self):
        """The HEALTHCHECK's python command exits 0 on a healthy server and not on a 503."""
        (check,) = instructions("HEALTHCHECK")
        command = json.loads(check[check.index("CMD") + 3 :])
        metrics = Metrics()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()
        server = MetricsServer(metrics, "127.0.0.1", 0)
        try:
            port = asyncio.run_coroutine_threadsafe(server.start(), loop).result(5)
            script = command[-1].replace(":9880/", f":{port}/")
            argv = [sys.executable, *command[1:-1], script]
            assert subprocess.run(argv, capture_output=True, timeout=20).returncode == 0
            metrics.set_healthy(False, "sink_stalled")
            assert subprocess.run(argv, capture_output=True, timeout=20).returncode != 0
        finally:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
            loop.close()

    def test_dockerignore_keeps_the_build_inputs(self):
        """.dockerignore leaves out .git and tests but keeps what the build copies."""
        lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        patterns = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
        assert {".git", "tests"} <= patterns
        copied = {
            word.rstrip("/")
            for rest in instructions("COPY", "all")
            if not rest.startswith("--from")
            for word in shlex.split(rest)[:-1]
        }
        assert copied == {"pyproject.toml", "README.md", "redactor", "sidecar"}
        for name in copied:
            assert not any(fnmatch.fnmatch(name, p) for p in patterns), name
            assert (ROOT / name).exists()
