'use strict';
// Handshake latency: BENCH_HANDSHAKES (default 200) sequential full handshakes (no resumption) to one
// server, each connection closed gracefully after it is established. Latency = connect() call ->
// connection established (client side). Sequential rate = measured handshakes / wall time of the whole
// loop, closes included: it is 1 / (latency + close), a latency figure, not what a server can accept.
// A few unmeasured warm-up connections run first (BENCH_HANDSHAKE_WARMUP, default 5).
//
// Concurrent rate (the connection-rate figure): BENCH_HANDSHAKES_CONCURRENT (default 1000) full
// handshakes + graceful closes with BENCH_HANDSHAKE_CONCURRENCY (default 16) in flight at any time,
// = new connections per second one server accepts while clients keep coming. nquic's clients share
// one QuicSocket (one UDP port), and its server runs with handshakeRateLimit: 0, because every bench
// client comes from 127.0.0.1 and the default per-address limit (500/s, bursts of 1000) would
// otherwise measure the limiter. node:tls: the same with TCP connections. @matrixai/quic: not run
// (about 50 handshakes/s here).

const { envInt, nowMs, percentile, median } = require('../lib/util');
const peers = require('../lib/peers');
const mx = require('../lib/matrixai');

function config() {
  const count = envInt('BENCH_HANDSHAKES', 200);
  const warmup = process.env.BENCH_HANDSHAKE_WARMUP === '0' ? 0 : envInt('BENCH_HANDSHAKE_WARMUP', 5);
  const concurrent = envInt('BENCH_HANDSHAKES_CONCURRENT', 1000);
  const concurrency = envInt('BENCH_HANDSHAKE_CONCURRENCY', 16);
  return { count, warmup, concurrent, concurrency, label: `handshake (x${count} sequential; x${concurrent}, ${concurrency} in flight)` };
}

/** `cfg.concurrent` runs of once() with `cfg.concurrency` in flight; returns runs per second. */
async function concurrentRate(cfg, signal, once) {
  const warm = Math.min(cfg.concurrency, cfg.concurrent);
  await Promise.all(Array.from({ length: warm }, () => once()));
  let started = 0;
  const start = nowMs();
  const worker = async () => {
    while (started < cfg.concurrent) {
      if (signal.aborted) throw signal.reason;
      started++;
      await once();
    }
  };
  await Promise.all(Array.from({ length: cfg.concurrency }, worker));
  return cfg.concurrent / ((nowMs() - start) / 1000);
}

async function loop(cfg, signal, once) {
  for (let i = 0; i < cfg.warmup; i++) await once();
  const latencies = [];
  const start = nowMs();
  for (let i = 0; i < cfg.count; i++) {
    if (signal.aborted) throw signal.reason;
    latencies.push(await once());
  }
  const seconds = (nowMs() - start) / 1000;
  return {
    median: median(latencies),
    p99: percentile(latencies, 99),
    rate: cfg.count / seconds,
    extra: { min: latencies.reduce((a, b) => Math.min(a, b), Infinity), max: latencies.reduce((a, b) => Math.max(a, b), -Infinity), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length },
  };
}

module.exports = {
  name: 'handshake',
  config,
  metrics: [
    { key: 'median', label: 'sequential median', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'p99', label: 'sequential p99', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'rate', label: 'sequential rate incl. close', unit: 'conn/s', better: 'higher', digits: 0 },
    { key: 'rateConcurrent', label: 'concurrent rate incl. close', unit: 'conn/s', better: 'higher', digits: 0, optional: true },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, null);
      const result = await loop(cfg, ctx.signal, async () => {
        const t0 = nowMs();
        const conn = await peers.nquicConnect(ctx, server);
        const ms = nowMs() - t0;
        await conn.close();
        return ms;
      });
      if (!cfg.concurrent) return result; // (the native case measures latency only)
      const busy = await peers.nquicServer(ctx, null, { handshakeRateLimit: 0 });
      const socket = await ctx.nquic.QuicSocket.bind({ address: peers.HOST, port: 0 });
      ctx.defer(() => socket.close());
      result.rateConcurrent = await concurrentRate(cfg, ctx.signal, async () => {
        const conn = await peers.nquicConnect(ctx, busy, { socket });
        await conn.close();
      });
      return result;
    },

    async 'node:tls'(ctx, cfg) {
      const server = await peers.tlsServer(ctx, null);
      const result = await loop(cfg, ctx.signal, async () => {
        const t0 = nowMs();
        const socket = await peers.tlsConnect(ctx, server);
        const ms = nowMs() - t0;
        await peers.tlsClose(socket);
        return ms;
      });
      if (!cfg.concurrent) return result;
      result.rateConcurrent = await concurrentRate(cfg, ctx.signal, async () => {
        await peers.tlsClose(await peers.tlsConnect(ctx, server));
      });
      return result;
    },

    async '@matrixai/quic'(ctx, cfg) {
      await mx.load();
      const server = await mx.mxServer(ctx, null);
      return loop(cfg, ctx.signal, async () => {
        const t0 = nowMs();
        const client = await mx.mxConnect(ctx, server);
        const ms = nowMs() - t0;
        await mx.mxDestroy(client);
        return ms;
      });
    },
  },
};

module.exports.loop = loop;
