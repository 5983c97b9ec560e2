'use strict';
// Memory per idle connection: open BENCH_IDLE_CONNS (default 200) connections to one server, let
// them settle, force GC, and compare process memory with the baseline taken just before. Each
// measurement runs in a FRESH child process (node --expose-gc bench/lib/memory-child.js), so earlier
// cases' garbage and allocator state cannot hide or inflate the delta, and gc() is always available.
// In the child: load the implementation, start the server, open and close one warm-up connection
// (so one-time allocations — code, JIT, TLS contexts — are not charged to the connections), GC,
// baseline, open the connections (10 at a time), wait 300 ms, GC, measure. Both ends live in that
// process, so the numbers are per client+server pair:
//   rss:  resident set size delta (includes native allocations: quiche, BoringSSL, buffers),
//   heap: V8 heapUsed + external (JS objects, Buffers/ArrayBuffers) delta.
// nquic and @matrixai/quic bind one UDP socket per client connection by default (like connect()
// does); nquic is measured a second time with every client on one shared QuicSocket (extra rows),
// which separates per-socket costs from per-connection ones. Kernel socket buffers are not in RSS.
//
// The headline figure ('RSS per connection') is per connection END: the RSS per client+server pair
// divided by two, for nquic with the clients sharing one QuicSocket (a server's connections all share
// its socket too), for node:tls and @matrixai/quic as they run (one socket per connection is all they
// offer). nquic's server end holds a little more than its client end (session tickets, server-side
// TLS state); `cargo test --release idle_connection_heap -- --ignored --nocapture` prints the native
// heap of each end.

const path = require('node:path');
const { fork } = require('node:child_process');
const { once } = require('node:events');
const { envInt, sleep } = require('../lib/util');
const peers = require('../lib/peers');
const mx = require('../lib/matrixai');

const BATCH = 10; // connections opened concurrently
const CHILD = path.join(__dirname, '..', 'lib', 'memory-child.js');

function config() {
  const conns = envInt('BENCH_IDLE_CONNS', 200);
  return { conns, label: `idle connections x${conns}` };
}

async function settle() {
  await sleep(300);
  if (typeof global.gc === 'function') {
    for (let i = 0; i < 4; i++) {
      global.gc();
      await new Promise((r) => setImmediate(r));
    }
  }
  await sleep(50);
}

function snapshot() {
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
}

/** In the child: open(): Promise<handle>; close(handle): Promise<void>. */
async function measure(ctx, cfg, open, close) {
  const held = [];
  ctx.defer(async () => { await Promise.allSettled(held.splice(0).map((h) => close(h))); });
  await close(await open()); // warm-up
  await settle();
  const before = snapshot();
  for (let i = 0; i < cfg.conns; i += BATCH) {
    const k = Math.min(BATCH, cfg.conns - i);
    held.push(...await Promise.all(Array.from({ length: k }, () => open())));
  }
  await settle();
  const after = snapshot();
  const per = (k) => (after[k] - before[k]) / cfg.conns / 1024;
  return {
    rss: per('rss'),
    heap: per('heap'),
    extra: {
      conns: cfg.conns,
      gc: typeof global.gc === 'function',
      perConnectionKB: Object.fromEntries(Object.keys(after).map((k) => [k, Math.round(per(k) * 10) / 10])),
      before,
      after,
    },
  };
}

/** The in-child measurement for one variant: 'nquic', 'nquic-shared', 'node:tls', '@matrixai/quic'. */
async function measureVariant(ctx, cfg, variant) {
  switch (variant) {
    case 'nquic': {
      const server = await peers.nquicServer(ctx, null);
      return measure(ctx, cfg, () => peers.nquicConnect(ctx, server), (c) => c.close());
    }
    case 'nquic-shared': {
      const server = await peers.nquicServer(ctx, null);
      const socket = await ctx.nquic.QuicSocket.bind({ address: peers.HOST, port: 0 });
      ctx.defer(() => socket.close());
      return measure(ctx, cfg, () => peers.nquicConnect(ctx, server, { socket }), (c) => c.close());
    }
    case 'node:tls': {
      const server = await peers.tlsServer(ctx, null);
      return measure(ctx, cfg, () => peers.tlsConnect(ctx, server), (s) => peers.tlsClose(s));
    }
    case '@matrixai/quic': {
      const server = await mx.mxServer(ctx, null);
      return measure(ctx, cfg, () => mx.mxConnect(ctx, server), (c) => mx.mxDestroy(c));
    }
    default:
      throw new Error(`unknown variant ${variant}`);
  }
}

/** In the parent: run one variant in a fresh `node --expose-gc` child and return its result. */
async function inChild(ctx, cfg, variant) {
  const child = fork(CHILD, [], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
  const exited = once(child, 'exit');
  exited.catch(() => {});
  ctx.defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGKILL');
    await exited;
  });
  child.send({ variant, cfg, creds: { key: ctx.creds.key, cert: ctx.creds.cert } });
  const early = exited.then(([code, sig]) => { throw new Error(`memory child exited (code ${code}, signal ${sig}) before reporting`); });
  early.catch(() => {});
  const [msg] = await Promise.race([once(child, 'message', { signal: ctx.signal }), early]);
  if (msg.skip) { const e = new Error(msg.skip); e.code = 'BENCH_SKIP'; throw e; }
  if (msg.error) throw new Error(`memory child (${variant}): ${msg.error}`);
  return msg.result;
}

module.exports = {
  name: 'idle-memory',
  config,
  metrics: [
    { key: 'perConnection', label: 'RSS per connection (one end = pair / 2)', unit: 'KB', better: 'lower', digits: 1 },
    { key: 'rss', label: 'RSS per client+server pair, 1 socket per client', unit: 'KB', better: 'lower', digits: 1 },
    { key: 'heap', label: 'JS heap+external per pair, 1 socket per client', unit: 'KB', better: 'lower', digits: 1 },
    { key: 'rssShared', label: 'RSS per pair, clients share 1 QuicSocket', unit: 'KB', better: 'lower', digits: 1, optional: true },
    { key: 'heapShared', label: 'JS heap+external per pair, clients share 1 QuicSocket', unit: 'KB', better: 'lower', digits: 1, optional: true },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const own = await inChild(ctx, cfg, 'nquic');
      const shared = await inChild(ctx, cfg, 'nquic-shared');
      return {
        ...own,
        perConnection: shared.rss / 2,
        rssShared: shared.rss,
        heapShared: shared.heap,
        extra: { ...own.extra, sharedSocket: shared.extra },
      };
    },
    async 'node:tls'(ctx, cfg) {
      const r = await inChild(ctx, cfg, 'node:tls');
      return { ...r, perConnection: r.rss / 2 };
    },
    async '@matrixai/quic'(ctx, cfg) {
      await mx.load(); // skip here, without a child, when it is not installed
      const r = await inChild(ctx, cfg, '@matrixai/quic');
      return { ...r, perConnection: r.rss / 2 };
    },
  },
};

module.exports.measureVariant = measureVariant;
