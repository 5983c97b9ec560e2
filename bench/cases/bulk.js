'use strict';
// Single-stream bulk upload: BENCH_BULK_MB MiB (default 64) client -> server over one stream, written
// in BENCH_CHUNK_KB KiB writes (default 64) honouring backpressure. The server counts the bytes and,
// after the client's end-of-stream, replies a small JSON ack. Throughput = bytes / (ack received -
// first write). Connection setup and stream opening are outside the timed region.
//
// nquic and node:tls upload twice, on a second stream (TLS: a second connection): the first upload is
// reported as `coldThroughput` (a fresh process: JIT warm-up, heap growth), the second as
// `throughput`, the steady state, as the native baseline does it (bench/native-baseline, `bulk`).
//
// @matrixai/quic moves bulk data at well under 1 MB/s on loopback (heavy loss and slow recovery),
// so it uploads BENCH_MATRIXAI_BULK_MB MiB (default 2) instead, to stay within the time budget; its
// record notes the size used. Everything else uses the same payload.

const { MiB, KiB, envInt, nowMs, writeAll, readAll } = require('../lib/util');
const peers = require('../lib/peers');
const mx = require('../lib/matrixai');

function config() {
  const mb = envInt('BENCH_BULK_MB', 64);
  return {
    bytes: mb * MiB,
    chunkSize: envInt('BENCH_CHUNK_KB', 64) * KiB,
    matrixaiBytes: Math.min(mb, envInt('BENCH_MATRIXAI_BULK_MB', 2)) * MiB,
    label: `bulk ${mb} MiB c->s, 1 stream`,
  };
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

/** Two uploads in a row: the second is the result (steady state), the first its `coldThroughput`. */
async function coldThenSteady(uploadOnce) {
  const cold = await uploadOnce();
  return { ...(await uploadOnce()), coldThroughput: cold.throughput };
}

module.exports = {
  name: 'bulk',
  config,
  metrics: [
    { key: 'throughput', label: 'throughput (second upload)', unit: 'MB/s', better: 'higher', digits: 1 },
    { key: 'coldThroughput', label: 'throughput (first upload, cold)', unit: 'MB/s', better: 'higher', digits: 1, optional: true },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, countingSink);
      const conn = await peers.nquicConnect(ctx, server);
      ctx.defer(() => conn.close());
      const result = await coldThenSteady(async () => upload(await conn.openStream(), cfg, ctx.signal));
      try {
        const st = conn.stats();
        result.extra = { rttMs: st.rtt, packetsSent: st.packetsSent, packetsLost: st.packetsLost, bytesSent: st.bytesSent };
      } catch { /* stats are informational only */ }
      return result;
    },

    async 'node:tls'(ctx, cfg) {
      const server = await peers.tlsServer(ctx, countingSink);
      return coldThenSteady(async () => {
        const socket = await peers.tlsConnect(ctx, server);
        ctx.defer(() => socket.destroy());
        return upload(socket, cfg, ctx.signal);
      });
    },

    async '@matrixai/quic'(ctx, cfg) {
      await mx.load();
      const server = await mx.mxServer(ctx, mx.countingSinkWeb);
      const client = await mx.mxConnect(ctx, server);
      ctx.defer(() => mx.mxDestroy(client));
      const result = await uploadWeb(client.connection.newStream(), cfg.matrixaiBytes, cfg.chunkSize, ctx.signal);
      if (cfg.matrixaiBytes !== cfg.bytes) result.note = `@matrixai/quic bulk uploads ${cfg.matrixaiBytes / MiB} MiB (BENCH_MATRIXAI_BULK_MB), not ${cfg.bytes / MiB} MiB`;
      try {
        const st = client.connection.conn.stats();
        result.extra = { bytes: cfg.matrixaiBytes, packetsSent: st.sent, packetsLost: st.lost, bytesSent: st.sentBytes };
      } catch { result.extra = { bytes: cfg.matrixaiBytes }; }
      return result;
    },
  },
};

/** Client side over a WHATWG-streams duplex (js-quic): same protocol as upload(). */
async function uploadWeb(stream, bytes, chunkSize, signal) {
  const { payloadChunk } = require('../lib/util');
  const chunk = payloadChunk(chunkSize);
  const ackP = mx.readAllWeb(stream.readable);
  ackP.catch(() => {});
  const writer = stream.writable.getWriter();
  const t0 = nowMs();
  for (let sent = 0; sent < bytes;) {
    if (signal.aborted) throw signal.reason;
    const n = Math.min(chunkSize, bytes - sent);
    await writer.write(n === chunkSize ? chunk : chunk.subarray(0, n));
    sent += n;
  }
  await writer.close();
  const ack = await ackP;
  const seconds = (nowMs() - t0) / 1000;
  let got;
  try { got = JSON.parse(ack.toString('utf8')).bytes; } catch { got = undefined; }
  if (got !== bytes) throw new Error(`server acknowledged ${got} bytes, expected ${bytes}`);
  return { throughput: bytes / 1e6 / seconds, seconds };
}

module.exports.countingSink = countingSink;
module.exports.upload = upload;
