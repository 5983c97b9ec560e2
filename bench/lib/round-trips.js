'use strict';
// What the round-trip cases (stream-rtt, stream-pingpong) share: the timed loop of sequential
// round trips, a reader that resolves once a whole answer has arrived on a long-lived byte stream,
// and the node:tls ping-pong both cases compare against.

const { envInt, nowMs, percentile, median, payloadChunk } = require('./util');
const peers = require('./peers');

const WARMUP = 20;

/** BENCH_RTT_COUNT (default 1000000) round trips of BENCH_RTT_BYTES (100) at most, for BENCH_RTT_SECONDS (2). */
function rttConfig(label) {
  const count = envInt('BENCH_RTT_COUNT', 1_000_000);
  const seconds = envInt('BENCH_RTT_SECONDS', 2);
  const bytes = envInt('BENCH_RTT_BYTES', 100);
  return { count, seconds, bytes, label: `${label} ${bytes} B, sequential` };
}

const RTT_METRICS = [
  { key: 'rate', label: 'rate', unit: 'round trips/s', better: 'higher', digits: 0 },
  { key: 'median', label: 'median', unit: 'ms', better: 'lower', digits: 3 },
  { key: 'p99', label: 'p99', unit: 'ms', better: 'lower', digits: 3 },
];

/**
 * Runs `once(payload)` (one round trip, resolving with the answer) WARMUP times unmeasured, then
 * until `cfg.count` are done or `cfg.seconds` have passed. Reports the rate and latency percentiles.
 */
async function roundTrips(cfg, signal, once) {
  const payload = payloadChunk(cfg.bytes);
  for (let i = 0; i < WARMUP; i++) await once(payload);
  const latencies = [];
  const start = nowMs();
  const stopAt = start + cfg.seconds * 1000;
  while (latencies.length < cfg.count && nowMs() < stopAt) {
    if (signal.aborted) throw signal.reason;
    const t0 = nowMs();
    const reply = await once(payload);
    latencies.push(nowMs() - t0);
    if (reply.length !== cfg.bytes) throw new Error(`echo of ${reply.length} bytes, expected ${cfg.bytes}`);
  }
  const seconds = (nowMs() - start) / 1000;
  return {
    rate: latencies.length / seconds,
    median: median(latencies),
    p99: percentile(latencies, 99),
    extra: {
      roundTrips: latencies.length,
      seconds,
      min: latencies.reduce((a, b) => Math.min(a, b), Infinity),
      p90: percentile(latencies, 90),
      max: latencies.reduce((a, b) => Math.max(a, b), -Infinity),
      over1ms: latencies.filter((x) => x > 1).length,
    },
  };
}

/**
 * Answers on a long-lived byte stream (a TLS socket, one QUIC stream): `ask(write, want)` writes
 * the request and resolves with the next `want` bytes that arrive. One question at a time. Feed
 * it with `onData(chunk)`; `fail(err)` rejects the question outstanding.
 */
function answers() {
  let pending = null;
  let got = [];
  let have = 0;
  return {
    onData(chunk) {
      got.push(chunk);
      have += chunk.length;
      if (pending && have >= pending.want) {
        const p = pending;
        pending = null;
        const buf = Buffer.concat(got);
        got = [];
        have = 0;
        p.resolve(buf);
      }
    },
    fail(err) {
      if (pending) pending.reject(err);
      pending = null;
    },
    ask(write, want) {
      return new Promise((resolve, reject) => {
        pending = { want, resolve, reject };
        write();
      });
    },
  };
}

/**
 * node:tls: write the request on one long-lived TLS connection and wait for the echoed bytes (no
 * per-request setup, no end of stream): the cheapest thing TCP can do.
 */
async function tlsPingPong(ctx, cfg) {
  const server = await peers.tlsServer(ctx, (socket) => {
    socket.on('data', (c) => socket.write(c));
    socket.on('end', () => socket.end());
  });
  const socket = await peers.tlsConnect(ctx, server);
  ctx.defer(() => socket.destroy());
  const replies = answers();
  socket.on('data', (c) => replies.onData(c));
  socket.on('error', (err) => ctx.fail(err));
  socket.on('close', () => replies.fail(new Error('TLS socket closed')));
  const result = await roundTrips(cfg, ctx.signal, (payload) => replies.ask(() => socket.write(payload), payload.length));
  result.note = 'request/response on one connection (no per-request stream)';
  return result;
}

module.exports = { rttConfig, RTT_METRICS, roundTrips, answers, tlsPingPong };
