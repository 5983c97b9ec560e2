'use strict';
// Memory per idle connection: open BENCH_IDLE_CONNS (default 200) connections to one server (both
// ends live in this process), let them settle, force GC, and compare process memory with the
// baseline taken just before (after a small unmeasured warm-up batch so one-time allocations —
// code, JIT, caches — are not charged to the connections). Reported per connection, client and
// server ends together:
//   rss:  resident set size delta (includes native allocations: quiche, BoringSSL, buffers),
//   heap: V8 heapUsed + external (JS objects and Buffers) delta.
// Needs --expose-gc for stable numbers: run.js re-executes itself with it; without, the record says
// so. nquic and @matrixai/quic bind one UDP socket per client connection (their default); kernel
// socket buffers are not part of RSS.

const { envInt, sleep, skip } = require('../lib/util');
const peers = require('../lib/peers');
const mx = require('../lib/matrixai');

const WARMUP = 10;
const BATCH = 10; // connections opened concurrently

function config() {
  const conns = envInt('BENCH_IDLE_CONNS', 200);
  return { conns, label: `idle connections x${conns} (client+server ends)` };
}

async function settle(signal) {
  await sleep(300, signal);
  if (typeof global.gc === 'function') {
    for (let i = 0; i < 4; i++) {
      global.gc();
      await new Promise((r) => setImmediate(r));
    }
  }
  await sleep(50, signal);
}

function snapshot() {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

/** open(): Promise<handle>; close(handle): Promise<void>. */
async function measure(ctx, cfg, open, close) {
  const held = [];
  ctx.defer(async () => { await Promise.allSettled(held.splice(0).map((h) => close(h))); });
  const openBatch = async (n, into) => {
    for (let i = 0; i < n; i += BATCH) {
      if (ctx.signal.aborted) throw ctx.signal.reason;
      const k = Math.min(BATCH, n - i);
      into.push(...await Promise.all(Array.from({ length: k }, () => open())));
    }
  };
  const warm = [];
  await openBatch(WARMUP, warm);
  await Promise.all(warm.map((h) => close(h)));
  await settle(ctx.signal);
  const before = snapshot();
  await openBatch(cfg.conns, held);
  await settle(ctx.signal);
  const after = snapshot();
  const result = {
    rss: (after.rss - before.rss) / cfg.conns / 1024,
    heap: (after.heap - before.heap) / cfg.conns / 1024,
    extra: { conns: cfg.conns, before, after, gc: typeof global.gc === 'function' },
  };
  if (typeof global.gc !== 'function') result.note = 'no --expose-gc: numbers include uncollected garbage';
  await Promise.all(held.splice(0).map((h) => close(h)));
  return result;
}

module.exports = {
  name: 'idle-memory',
  needsGc: true,
  config,
  metrics: [
    { key: 'rss', label: 'RSS per connection', unit: 'KB', better: 'lower', digits: 1 },
    { key: 'heap', label: 'JS heap+external per connection', unit: 'KB', better: 'lower', digits: 1 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, null);
      return measure(ctx, cfg, () => peers.nquicConnect(ctx, server), (c) => c.close());
    },

    async 'node:tls'(ctx, cfg) {
      const server = await peers.tlsServer(ctx, null);
      return measure(ctx, cfg, () => peers.tlsConnect(ctx, server), (s) => peers.tlsClose(s));
    },

    async '@matrixai/quic'(ctx, cfg) {
      await mx.load();
      if (process.env.BENCH_IDLE_MATRIXAI === '0') throw skip('disabled by BENCH_IDLE_MATRIXAI=0');
      const server = await mx.mxServer(ctx, null);
      return measure(ctx, cfg, () => mx.mxConnect(ctx, server), (c) => mx.mxDestroy(c));
    },
  },
};
