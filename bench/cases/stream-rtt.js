'use strict';
// Sequential request/response round trips of BENCH_RTT_BYTES bytes (default 100), one at a time,
// until BENCH_RTT_COUNT (default 1000000) are done or BENCH_RTT_SECONDS (default 2) have passed (a few
// unmeasured warm-up rounds first). One round trip, per implementation:
//   nquic, @matrixai/quic: open a new bidirectional stream, write the request, end it; the server
//     reads to end-of-stream and echoes the bytes, then ends; the client reads the echo to its end.
//   node:tls: no streams — write the request on one long-lived TLS connection and wait for the
//     echoed bytes (no per-request setup, no end-of-stream): the cheapest thing TCP can do.
// Reported: round trips per second and latency median / p99 (ms).

const { envInt, nowMs, percentile, median, readAll, payloadChunk } = require('../lib/util');
const peers = require('../lib/peers');
const mx = require('../lib/matrixai');

const WARMUP = 20;

function config() {
  const count = envInt('BENCH_RTT_COUNT', 1_000_000);
  const seconds = envInt('BENCH_RTT_SECONDS', 2);
  const bytes = envInt('BENCH_RTT_BYTES', 100);
  return { count, seconds, bytes, label: `stream round trip ${bytes} B, sequential` };
}

/** Server side for stream implementations: collect to end, echo, end. ('data'/'end', not for-await.) */
function echoStream(stream) {
  const parts = [];
  stream.on('data', (c) => parts.push(c));
  stream.on('end', () => stream.end(Buffer.concat(parts)));
  stream.on('error', () => {});
}

async function loop(cfg, signal, once) {
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

module.exports = {
  name: 'stream-rtt',
  config,
  metrics: [
    { key: 'rate', label: 'rate', unit: 'round trips/s', better: 'higher', digits: 0 },
    { key: 'median', label: 'median', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'p99', label: 'p99', unit: 'ms', better: 'lower', digits: 3 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, echoStream);
      const conn = await peers.nquicConnect(ctx, server);
      ctx.defer(() => conn.close());
      return loop(cfg, ctx.signal, async (payload) => {
        const stream = await conn.openStream();
        const replyP = readAll(stream, ctx.signal);
        stream.end(payload);
        return replyP;
      });
    },

    async 'node:tls'(ctx, cfg) {
      const server = await peers.tlsServer(ctx, (socket) => {
        socket.on('data', (c) => socket.write(c));
        socket.on('end', () => socket.end());
      });
      const socket = await peers.tlsConnect(ctx, server);
      ctx.defer(() => socket.destroy());
      // One waiter at a time: resolve once `want` bytes have arrived.
      let pending = null;
      let got = [];
      let have = 0;
      socket.on('data', (c) => {
        got.push(c);
        have += c.length;
        if (pending && have >= pending.want) {
          const p = pending;
          pending = null;
          const buf = Buffer.concat(got);
          got = [];
          have = 0;
          p.resolve(buf);
        }
      });
      socket.on('error', (err) => ctx.fail(err));
      socket.on('close', () => { if (pending) pending.reject(new Error('TLS socket closed')); });
      const result = await loop(cfg, ctx.signal, (payload) => new Promise((resolve, reject) => {
        pending = { want: payload.length, resolve, reject };
        socket.write(payload);
      }));
      result.note = 'request/response on one connection (no per-request stream)';
      return result;
    },

    async '@matrixai/quic'(ctx, cfg) {
      await mx.load();
      const server = await mx.mxServer(ctx, mx.echoWeb);
      const client = await mx.mxConnect(ctx, server);
      ctx.defer(() => mx.mxDestroy(client));
      return loop(cfg, ctx.signal, async (payload) => {
        const stream = client.connection.newStream();
        const replyP = mx.readAllWeb(stream.readable);
        replyP.catch(() => {});
        const writer = stream.writable.getWriter();
        await writer.write(payload);
        await writer.close();
        return replyP;
      });
    },
  },
};
