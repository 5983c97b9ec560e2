'use strict';
// WebTransport: the `bulk` upload (BENCH_WT_MB MiB, default 64) from nquic's W3C WebTransport
// client, written through its WHATWG WritableStream in BENCH_CHUNK_KB KiB writes, to an nquic
// server whose session stream counts the bytes and acknowledges them. Also reported: the time from
// `new WebTransport()` to `ready` (QUIC handshake + HTTP/3 SETTINGS + extended CONNECT), median of
// BENCH_WT_SESSIONS (20) sessions after one warm-up. Compare with the `bulk` row (a raw QUIC stream
// through the Node Duplex) and the `handshake` row.

const { MiB, KiB, envInt, nowMs, median } = require('../lib/util');
const { countingSink } = require('./bulk');

function config() {
  const mb = envInt('BENCH_WT_MB', 64);
  return {
    bytes: mb * MiB,
    chunkSize: envInt('BENCH_CHUNK_KB', 64) * KiB,
    sessions: envInt('BENCH_WT_SESSIONS', 20),
    label: `WebTransport bulk ${mb} MiB c->s, 1 stream`,
  };
}

async function readText(readable) {
  let text = '';
  const reader = readable.getReader();
  for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString();
  return text;
}

module.exports = {
  name: 'webtransport',
  config,
  metrics: [
    { key: 'throughput', label: 'throughput', unit: 'MB/s', better: 'higher', digits: 1 },
    { key: 'readyMs', label: 'session ready', unit: 'ms', better: 'lower', digits: 2 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const { listen, generateCertificate, WebTransport } = ctx.nquic;
      const id = generateCertificate({ keyType: 'ecdsa-p256', days: 10 });
      const server = await listen({ address: '127.0.0.1', port: 0, alpn: ['h3'], key: id.key, cert: id.cert, webTransport: true });
      ctx.defer(() => server.close());
      server.on('session', (session) => session.on('stream', countingSink));
      const options = { serverCertificateHashes: [{ algorithm: 'sha-256', value: Buffer.from(id.fingerprint, 'hex') }] };
      const url = `https://127.0.0.1:${server.address.port}/bench`;

      const open = async () => {
        const wt = new WebTransport(url, options);
        ctx.defer(() => wt.close());
        await wt.ready;
        return wt;
      };
      (await open()).close(); // warm-up
      const times = [];
      for (let i = 0; i < cfg.sessions; i++) {
        const t0 = nowMs();
        const wt = await open();
        times.push(nowMs() - t0);
        wt.close();
      }

      const wt = await open();
      const stream = await wt.createBidirectionalStream();
      const ack = readText(stream.readable);
      ack.catch(() => {});
      const writer = stream.writable.getWriter();
      const chunk = Buffer.alloc(cfg.chunkSize, 7);
      const t0 = nowMs();
      for (let sent = 0; sent < cfg.bytes; sent += chunk.length) {
        if (ctx.signal.aborted) throw new Error('aborted');
        await writer.write(chunk);
      }
      await writer.close();
      const got = JSON.parse(await ack).bytes;
      const seconds = (nowMs() - t0) / 1000;
      if (got < cfg.bytes) throw new Error(`server acknowledged ${got} bytes, expected ${cfg.bytes}`);
      const stats = await wt.getStats();
      return {
        throughput: cfg.bytes / 1e6 / seconds,
        readyMs: median(times),
        extra: { rttMs: stats.smoothedRtt, packetsSent: stats.packetsSent, packetsLost: stats.packetsLost },
      };
    },
  },
};
