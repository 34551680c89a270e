# syntax=docker/dockerfile:1
#
# The log-shipper sidecar: `docker build -t pci-sidecar .`
#
# Runs as the numeric user 10001 with a read-only root filesystem: the only writable path
# is the data volume /var/lib/sidecar (checkpoints, buffers, the local archive). The
# configuration is read from /etc/sidecar/sidecar.toml (a ConfigMap in Kubernetes) and the
# archive key from the environment variable the configuration names, never from a file
# baked into the image. See deploy/kubernetes/README.md.

# -- build: install the package and its extras into a virtual environment -------------------
# Pin the base by digest (python:3.11-slim@sha256:...) in your own builds for reproducibility.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY redactor/ redactor/
COPY sidecar/ sidecar/
# pip compiles the .pyc files here, at build time, so nothing is written at run time.
# The default policy's Hyperscan database is compiled here too, into the image: the
# sidecar and its workers load it (REDACTOR_HYPERSCAN_CACHE below) instead of spending
# half a second of CPU each start compiling it. Built on a CPU the node does not match,
# or for a policy of your own (add --policy FILE), it is ignored and compiled at start.
RUN python -m venv /opt/sidecar \
    && /opt/sidecar/bin/pip install --no-cache-dir --disable-pip-version-check ".[sidecar,fast]" \
    && /opt/sidecar/bin/python -m redactor precompile --cache /opt/sidecar/share/hyperscan

# -- run: the same base, the environment, no build context ---------------------------------
FROM python:3.11-slim
LABEL org.opencontainers.image.title="pci-sidecar" \
      org.opencontainers.image.description="PCI-safe log shipper: tails, redacts, archives" \
      org.opencontainers.image.licenses="Apache-2.0"

RUN groupadd --system --gid 10001 sidecar \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/sidecar \
       --no-create-home --shell /usr/sbin/nologin sidecar \
    && mkdir -p /var/lib/sidecar /etc/sidecar \
    && chown 10001:10001 /var/lib/sidecar \
    && chmod 0750 /var/lib/sidecar

COPY --from=build /opt/sidecar /opt/sidecar

# No bytecode or user site writes at run time (the root filesystem is read-only);
# HOME points at the data volume for any library that insists on one.
ENV PATH=/opt/sidecar/bin:$PATH \
    REDACTOR_HYPERSCAN_CACHE=/opt/sidecar/share/hyperscan \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONNOUSERSITE=1 \
    PYTHONFAULTHANDLER=1 \
    HOME=/var/lib/sidecar

VOLUME ["/var/lib/sidecar"]
# /metrics, /healthz and /readyz: [metrics] listen = "0.0.0.0:9880" in the configuration.
EXPOSE 9880
USER 10001:10001

# Plain Docker only (Kubernetes uses the probes in deploy/kubernetes/deployment.yaml).
# python, not curl: the slim image has no curl. urlopen raises on a 503, exiting 1.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9880/healthz', timeout=4)"]

ENTRYPOINT ["python", "-m", "sidecar"]
CMD ["--config", "/etc/sidecar/sidecar.toml"]
