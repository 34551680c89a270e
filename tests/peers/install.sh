#!/usr/bin/env bash
# Test peers the sidecar's integration tests run against: a real syslog server (rsyslog,
# with its TLS driver) from Debian's packages, and the Node Fluent client and server
# (@fluent-org/logger) from npm. Idempotent; called by .ci/run and README's test command.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v rsyslogd >/dev/null 2>&1 || ! ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1
then
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        rsyslog rsyslog-gnutls >/dev/null
fi

if [ ! -d node/node_modules/@fluent-org/logger ]; then
    (cd node && npm install --no-audit --no-fund --loglevel=error)
fi
