'use strict';
// Handshake latency: BENCH_HANDSHAKES (default 200) sequential full handshakes (no resumption) to one
// server, each connection closed gracefully after it is established. Latency = connect() call ->
// connection established (client side). Rate = measured handshakes / wall time of the whole loop,
// closes included. A few unmeasured warm-up connections run first (BENCH_HANDSHAKE_WARMUP, default 5).

const { envInt, nowMs, percentile, median } = require('../lib/util');
const peers = require('../lib/peers');
const mx = require('../lib/matrixai');

function config() {
  const count = envInt('BENCH_HANDSHAKES', 200);
  const warmup = process.env.BENCH_HANDSHAKE_WARMUP === '0' ? 0 : envInt('BENCH_HANDSHAKE_WARMUP', 5);
  return { count, warmup, label: `handshake x${count}, sequential` };
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
    extra: { min: Math.min(...latencies), max: Math.max(...latencies), mean: latencies.reduce((a, b) => a + b, 0) / latencies.length },
  };
}

module.exports = {
  name: 'handshake',
  config,
  metrics: [
    { key: 'median', label: 'median', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'p99', label: 'p99', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'rate', label: 'rate', unit: 'conn/s', better: 'higher', digits: 0 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, null);
      return loop(cfg, ctx.signal, async () => {
        const t0 = nowMs();
        const conn = await peers.nquicConnect(ctx, server);
        const ms = nowMs() - t0;
        await conn.close();
        return ms;
      });
    },

    async 'node:tls'(ctx, cfg) {
      const server = await peers.tlsServer(ctx, null);
      return loop(cfg, ctx.signal, async () => {
        const t0 = nowMs();
        const socket = await peers.tlsConnect(ctx, server);
        const ms = nowMs() - t0;
        await peers.tlsClose(socket);
        return ms;
      });
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
