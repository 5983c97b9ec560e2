'use strict';
// Sequential round trips of BENCH_RTT_BYTES bytes (default 100) on ONE long-lived stream, until
// BENCH_RTT_COUNT (default 1000000) are done or BENCH_RTT_SECONDS (default 2) have passed (a few
// unmeasured warm-up rounds first): the client writes the request and waits until as many bytes
// have come back; the server writes back each chunk as it arrives. This is what node:tls does on
// its one connection (the same implementation as in stream-rtt.js), so the columns compare like
// with like: the transport's round trip, without a stream's life per request (stream-rtt.js).
// Reported: round trips per second and latency median / p99 (ms).

const { asBuffer } = require('../lib/util');
const peers = require('../lib/peers');
const mx = require('../lib/matrixai');
const { rttConfig, RTT_METRICS, roundTrips, answers, tlsPingPong } = require('../lib/round-trips');

/** Server side for nquic: write back each chunk as it arrives; end when the client ends. */
function echoChunks(stream) {
  stream.on('data', (c) => stream.write(c));
  stream.on('end', () => stream.end());
  stream.on('error', () => {});
}

/** Server side for @matrixai/quic (web streams): the same. */
async function echoChunksWeb(stream) {
  const reader = stream.readable.getReader();
  const writer = stream.writable.getWriter();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    await writer.write(value);
  }
  await writer.close();
}

module.exports = {
  name: 'stream-pingpong',
  config: () => rttConfig('round trip on one stream'),
  metrics: RTT_METRICS,
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, echoChunks);
      const conn = await peers.nquicConnect(ctx, server);
      ctx.defer(() => conn.close());
      const stream = await conn.openStream();
      const replies = answers();
      stream.on('data', (c) => replies.onData(c));
      stream.on('error', (err) => replies.fail(err));
      const result = await roundTrips(cfg, ctx.signal, (payload) => replies.ask(() => stream.write(payload), payload.length));
      stream.end();
      return result;
    },

    'node:tls': tlsPingPong,

    async '@matrixai/quic'(ctx, cfg) {
      await mx.load();
      const server = await mx.mxServer(ctx, echoChunksWeb);
      const client = await mx.mxConnect(ctx, server);
      ctx.defer(() => mx.mxDestroy(client));
      const stream = client.connection.newStream();
      const writer = stream.writable.getWriter();
      const replies = answers();
      const reader = stream.readable.getReader();
      (async () => {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          replies.onData(asBuffer(value));
        }
      })().catch((err) => replies.fail(err));
      const result = await roundTrips(cfg, ctx.signal, (payload) => replies.ask(() => { writer.write(payload).catch((err) => replies.fail(err)); }, payload.length));
      await writer.close().catch(() => {});
      return result;
    },
  },
};
