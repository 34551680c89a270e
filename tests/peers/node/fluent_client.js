// Sends numbered records with the real @fluent-org/logger client; the forward source's
// tests run it as an independent peer.
//
// Configured by environment variables (secrets never on the command line):
//   FLUENT_PORT (required), FLUENT_HOST (default 127.0.0.1)
//   FLUENT_COUNT      records to send (default 10); each is {seq, run, message}
//   FLUENT_MODE       Message | Forward | PackedForward | CompressedPackedForward
//   FLUENT_TAG        tag (default "node.test"); FLUENT_RUN: a label put in every record
//   FLUENT_ACK=1      require an ack per chunk; FLUENT_ACK_TIMEOUT_MS (default 10000)
//   FLUENT_SHARED_KEY, FLUENT_USERNAME, FLUENT_PASSWORD: the handshake's credentials
//   FLUENT_CA         a PEM CA file: connect with TLS and verify the server against it
//   FLUENT_MILLISECONDS=1  send EventTime (sub-second) instead of integer seconds
//   FLUENT_FLUSH_MS   flushInterval: batch events into fewer frames (default 0)
//   FLUENT_TIMEOUT_MS give up after this long (default 15000)
//
// Exit status: 0 when every record was flushed (and, with FLUENT_ACK, acked);
// 1 when an emit or the socket failed; 2 on the overall timeout; 3 on bad usage.
"use strict";

const fs = require("fs");
const { FluentClient } = require("@fluent-org/logger");

const env = process.env;
const port = Number(env.FLUENT_PORT);
if (!Number.isInteger(port) || port <= 0) {
  console.error("FLUENT_PORT is required");
  process.exit(3);
}
const count = Number(env.FLUENT_COUNT || 10);
const ack = env.FLUENT_ACK === "1";
const run = env.FLUENT_RUN || "node";

const socket = { host: env.FLUENT_HOST || "127.0.0.1", port, timeout: -1 };
if (env.FLUENT_CA) {
  socket.tls = { ca: fs.readFileSync(env.FLUENT_CA) };
}
// A refused handshake must fail this run, not be retried for ever.
socket.reconnect = { delay: 100, maxDelay: 200 };
const options = {
  eventMode: env.FLUENT_MODE || "PackedForward",
  socket,
  milliseconds: env.FLUENT_MILLISECONDS === "1",
  flushInterval: Number(env.FLUENT_FLUSH_MS || 0),
  disconnect: { waitForPending: true, waitForPendingDelay: 1000 },
};
if (ack) {
  options.ack = { ackTimeout: Number(env.FLUENT_ACK_TIMEOUT_MS || 10000) };
}
if (env.FLUENT_SHARED_KEY) {
  options.security = {
    clientHostname: "node-client",
    sharedKey: env.FLUENT_SHARED_KEY,
    username: env.FLUENT_USERNAME || "",
    password: env.FLUENT_PASSWORD || "",
  };
}

const deadline = setTimeout(() => {
  console.error("timed out");
  process.exit(2);
}, Number(env.FLUENT_TIMEOUT_MS || 15000));

const client = new FluentClient(env.FLUENT_TAG || "node.test", options);
client.socketOn("error", (err) => {
  console.error(`socket error: ${err.name}: ${err.message}`);
  process.exit(1);
});

async function main() {
  const sends = [];
  for (let seq = 0; seq < count; seq++) {
    const record = { seq, run, message: `node record seq=${seq}` };
    sends.push(client.emit(record));
  }
  await Promise.all(sends);
  await client.disconnect();
  clearTimeout(deadline);
  console.log(`sent ${count}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`emit failed: ${err.name}: ${err.message}`);
    process.exit(1);
  }
);
