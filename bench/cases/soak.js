'use strict';
// Soak (opt-in: BENCH_CASES=soak): connections churned through one client
// socket for a while — connect, 1 KiB stream echo, close — with memory
// sampled along the way. A leak shows as growth between the first sample
// (after warm-up) and the last.

const { envInt, nowMs, sleep } = require('../lib/util');
const peers = require('../lib/peers');

function config() {
  const seconds = envInt('BENCH_SOAK_SECONDS', 45);
  return { seconds, wave: 50, label: `soak ${seconds} s, connect/echo/close churn on one socket` };
}

function memory() {
  if (global.gc) global.gc();
  const m = process.memoryUsage();
  return { rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20 };
}

async function cycle(ctx, socket, server) {
  const conn = await socket.connect({
    host: peers.HOST, port: server.address.port, alpn: [peers.ALPN], ca: ctx.creds.cert, serverName: peers.SERVER_NAME,
  });
  const stream = await conn.openStream();
  const echoed = new Promise((resolve, reject) => {
    let n = 0;
    stream.on('data', (c) => (n += c.length));
    stream.on('end', () => resolve(n));
    stream.on('error', reject);
  });
  stream.end(Buffer.alloc(1024, 1));
  if ((await echoed) !== 1024) throw new Error('short echo');
  await conn.close();
}

module.exports = {
  name: 'soak',
  optIn: true,
  config,
  metrics: [
    { key: 'rate', label: 'churn', unit: 'conn/s', better: 'higher', digits: 0 },
    { key: 'rssGrowth', label: 'RSS growth after warm-up', unit: 'MiB', better: 'lower', digits: 1 },
    { key: 'heapGrowth', label: 'heap growth after warm-up', unit: 'MiB', better: 'lower', digits: 2 },
    { key: 'left', label: 'native connections left', unit: 'count', better: 'lower', digits: 0 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, (stream) => stream.pipe(stream), { handshakeRateLimit: 0 });
      const socket = await ctx.nquic.QuicSocket.bind({ address: peers.HOST });
      ctx.defer(() => socket.close());
      const deadline = nowMs() + cfg.seconds * 1000;
      const warmUntil = nowMs() + Math.min(5000, cfg.seconds * 200);
      let first;
      let done = 0;
      let started = 0;
      while (nowMs() < deadline) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (!first && nowMs() >= warmUntil) {
          first = memory();
          started = nowMs();
          done = 0;
        }
        await Promise.all(Array.from({ length: cfg.wave }, () => cycle(ctx, socket, server)));
        done += cfg.wave;
      }
      const seconds = (nowMs() - started) / 1000;
      for (let i = 0; i < 50 && socket.nativeConnectionCount + server.socket.nativeConnectionCount > 0; i++) await sleep(100);
      const last = memory();
      return {
        rate: done / seconds,
        rssGrowth: last.rss - first.rss,
        heapGrowth: last.heap - first.heap,
        left: socket.nativeConnectionCount + server.socket.nativeConnectionCount,
      };
    },
  },
};
