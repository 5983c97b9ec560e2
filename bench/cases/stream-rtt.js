'use strict';
// Sequential request/response round trips of BENCH_RTT_BYTES bytes (default 100), one at a time,
// until BENCH_RTT_COUNT (default 1000000) are done or BENCH_RTT_SECONDS (default 2) have passed (a few
// unmeasured warm-up rounds first). One round trip, per implementation:
//   nquic, @matrixai/quic: open a new bidirectional stream, write the request, end it; the server
//     reads to end-of-stream and echoes the bytes, then ends; the client reads the echo to its end.
//   node:tls: no streams — write the request on one long-lived TLS connection and wait for the
//     echoed bytes (no per-request setup, no end-of-stream): the cheapest thing TCP can do.
// So the QUIC columns also pay for a stream's whole life (open, two FINs, both ends' stream objects)
// each round trip; stream-pingpong.js measures round trips on one long-lived stream instead.
// Reported: round trips per second and latency median / p99 (ms).

const { readAll } = require('../lib/util');
const peers = require('../lib/peers');
const mx = require('../lib/matrixai');
const { rttConfig, RTT_METRICS, roundTrips, tlsPingPong } = require('../lib/round-trips');

/** Server side for stream implementations: collect to end, echo, end. ('data'/'end', not for-await.) */
function echoStream(stream) {
  const parts = [];
  stream.on('data', (c) => parts.push(c));
  stream.on('end', () => stream.end(Buffer.concat(parts)));
  stream.on('error', () => {});
}

module.exports = {
  name: 'stream-rtt',
  config: () => rttConfig('stream round trip (a new stream each)'),
  metrics: RTT_METRICS,
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, echoStream);
      const conn = await peers.nquicConnect(ctx, server);
      ctx.defer(() => conn.close());
      return roundTrips(cfg, ctx.signal, async (payload) => {
        const stream = await conn.openStream();
        const replyP = readAll(stream, ctx.signal);
        stream.end(payload);
        return replyP;
      });
    },

    'node:tls': tlsPingPong,

    async '@matrixai/quic'(ctx, cfg) {
      await mx.load();
      const server = await mx.mxServer(ctx, mx.echoWeb);
      const client = await mx.mxConnect(ctx, server);
      ctx.defer(() => mx.mxDestroy(client));
      return roundTrips(cfg, ctx.signal, async (payload) => {
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
