#!/usr/bin/env node
// A Fluent forward-protocol aggregator for the sidecar's forward sink tests, built on
// FluentServer from @fluent-org/logger (code this project did not write).
//
// Usage: node fluent_server.js [--port N] [--host H] [--hostname NAME]
//                              [--tls-cert FILE --tls-key FILE]
// Secrets come from the environment, never argv (argv shows in `ps`):
//   FLUENT_SHARED_KEY   enables the shared-key handshake
//   FLUENT_USERS        JSON object {"user": "password", ...}; enables user auth
//                       (needs FLUENT_SHARED_KEY, as in the protocol)
//
// Stdout gets one JSON object per line: first {"event": "listening", "port": N}, then
// {"event": "entry", "tag": T, "time": {"epoch": S, "nano": N} or a number,
// "record": {...}} per received entry, in arrival order. SIGTERM/SIGINT close the
// server and exit 0.
"use strict";

const fs = require("fs");
const path = require("path");
const { FluentServer, EventTime } = require(path.join(__dirname, "node_modules", "@fluent-org", "logger"));

function parseArgs(argv) {
  const options = { port: 0, host: "127.0.0.1", hostname: "fluent-test-aggregator" };
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i];
    const value = argv[i + 1];
    if (value === undefined) {
      throw new Error(`missing value for ${name}`);
    }
    switch (name) {
      case "--port": options.port = Number(value); break;
      case "--host": options.host = value; break;
      case "--hostname": options.hostname = value; break;
      case "--tls-cert": options.tlsCert = value; break;
      case "--tls-key": options.tlsKey = value; break;
      default: throw new Error(`unknown option ${name}`);
    }
  }
  if ((options.tlsCert === undefined) !== (options.tlsKey === undefined)) {
    throw new Error("--tls-cert and --tls-key go together");
  }
  return options;
}

function serverOptions(options, env) {
  const out = { listenOptions: { port: options.port, host: options.host } };
  if (env.FLUENT_SHARED_KEY) {
    const users = env.FLUENT_USERS ? JSON.parse(env.FLUENT_USERS) : null;
    out.security = {
      serverHostname: options.hostname,
      sharedKey: env.FLUENT_SHARED_KEY,
      authorize: users !== null,
      userDict: users || {},
    };
  } else if (env.FLUENT_USERS) {
    throw new Error("FLUENT_USERS needs FLUENT_SHARED_KEY");
  }
  if (options.tlsCert !== undefined) {
    out.tlsOptions = {
      cert: fs.readFileSync(options.tlsCert),
      key: fs.readFileSync(options.tlsKey),
    };
  }
  return out;
}

function timeOf(time) {
  if (time instanceof EventTime) {
    return { epoch: time.epoch, nano: time.nano };
  }
  return time;
}

function emit(value) {
  process.stdout.write(JSON.stringify(value) + "\n");
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const server = new FluentServer(serverOptions(options, process.env));
  server.on("entry", (tag, time, record) => {
    emit({ event: "entry", tag, time: timeOf(time), record });
  });
  await server.listen();
  emit({ event: "listening", port: server.port });
  let closing = false;
  const stop = () => {
    if (closing) {
      return;
    }
    closing = true;
    // Clients may hold connections open; do not wait for them longer than a moment.
    setTimeout(() => process.exit(0), 500).unref();
    server.close().then(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((error) => {
  process.stderr.write(`fluent_server: ${error.message}\n`);
  process.exit(2);
});
