'use strict';
// Single-stream bulk upload: BENCH_BULK_MB MiB (default 64) client -> server over one stream, written
// in BENCH_CHUNK_KB KiB writes (default 64) honouring backpressure. The server counts the bytes and,
// after the client's end-of-stream, replies a small JSON ack. Throughput = bytes / (ack received -
// first write). Connection setup and stream opening are outside the timed region.

const { MiB, KiB, envInt, nowMs, writeAll, readAll } = require('../lib/util');
const peers = require('../lib/peers');

function config() {
  const mb = envInt('BENCH_BULK_MB', 64);
  return { bytes: mb * MiB, chunkSize: envInt('BENCH_CHUNK_KB', 64) * KiB, label: `bulk ${mb} MiB c->s, 1 stream` };
}

/** Server side, identical for every implementation: count bytes, on end reply {"bytes":n}. */
function countingSink(stream) {
  let n = 0;
  stream.on('data', (c) => { n += c.length; });
  stream.on('end', () => stream.end(JSON.stringify({ bytes: n })));
  stream.on('error', () => {});
}

/** Client side: time first write -> ack, verify the count, return metrics. */
async function upload(stream, cfg, signal) {
  const ackP = readAll(stream, signal);
  ackP.catch(() => {}); // observed below; avoid an unhandled rejection if writeAll throws first
  const t0 = nowMs();
  await writeAll(stream, cfg.bytes, cfg.chunkSize, signal);
  stream.end();
  const ack = await ackP;
  const seconds = (nowMs() - t0) / 1000;
  let got;
  try { got = JSON.parse(ack.toString('utf8')).bytes; } catch { got = undefined; }
  if (got !== cfg.bytes) throw new Error(`server acknowledged ${got} bytes, expected ${cfg.bytes} (ack: ${JSON.stringify(ack.toString('utf8').slice(0, 100))})`);
  return { throughput: cfg.bytes / 1e6 / seconds, seconds };
}

module.exports = {
  name: 'bulk',
  config,
  metrics: [
    { key: 'throughput', label: 'throughput', unit: 'MB/s', better: 'higher', digits: 1 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, countingSink);
      const conn = await peers.nquicConnect(ctx, server);
      ctx.defer(() => conn.close());
      const stream = await conn.openStream();
      const result = await upload(stream, cfg, ctx.signal);
      try {
        const st = conn.stats();
        result.extra = { rttMs: st.rtt, packetsSent: st.packetsSent, packetsLost: st.packetsLost, bytesSent: st.bytesSent };
      } catch { /* stats are informational only */ }
      return result;
    },

    async 'node:tls'(ctx, cfg) {
      const server = await peers.tlsServer(ctx, countingSink);
      const socket = await peers.tlsConnect(ctx, server);
      ctx.defer(() => socket.destroy());
      return upload(socket, cfg, ctx.signal);
    },
  },
};
