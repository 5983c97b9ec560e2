'use strict';
// Relayed connection: the same single-stream upload as `bulk` (BENCH_RELAY_MB MiB, default 16),
// but end to end through a relay (`listen({ relay })`): dialer -> relay -> target, the inner
// connection's packets carried in QUIC datagrams of each peer's connection to the relay. All three
// sockets live in this one process (one event loop drives all of them), the relay without a rate
// limit. Also reported: the time to open the relayed connection (handshake through the relay, after
// one warm-up connection).
// Compare with the `bulk` row for the direct path.

const { MiB, KiB, envInt, nowMs } = require('../lib/util');
const { countingSink, upload } = require('./bulk');

const HOST = '127.0.0.1';

function config() {
  const mb = envInt('BENCH_RELAY_MB', 16);
  return { bytes: mb * MiB, chunkSize: envInt('BENCH_CHUNK_KB', 64) * KiB, label: `relayed bulk ${mb} MiB, 1 stream` };
}

async function bound(ctx, QuicSocket) {
  const socket = await QuicSocket.bind({ address: HOST });
  ctx.defer(() => socket.close());
  return socket;
}

module.exports = {
  name: 'relay',
  config,
  metrics: [
    { key: 'throughput', label: 'throughput', unit: 'MB/s', better: 'higher', digits: 1 },
    { key: 'connectMs', label: 'relayed connect', unit: 'ms', better: 'lower', digits: 2 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const { QuicSocket, generateCertificate } = ctx.nquic;
      const relayOptions = { alpn: ['relay'], key: ctx.creds.key, cert: ctx.creds.cert, relay: { maxFlowRate: 0 } };
      const joinOptions = { host: HOST, alpn: ['relay'], ca: ctx.creds.cert, serverName: 'localhost' };

      const relaySocket = await bound(ctx, QuicSocket);
      relaySocket.listen(relayOptions).on('connection', () => {});

      const id = generateCertificate({ subjectAltNames: ['target'] });
      const targetSocket = await bound(ctx, QuicSocket);
      targetSocket.listen({ alpn: ['bench'], key: id.key, cert: id.cert }).on('connection', (conn) => {
        conn.on('stream', (stream) => countingSink(stream));
      });
      const targetVia = await targetSocket.connect({ ...joinOptions, port: relaySocket.address.port, key: id.key, cert: id.cert });
      await targetVia.acceptRelayed();

      const dialer = await bound(ctx, QuicSocket);
      const via = await dialer.connect({ ...joinOptions, port: relaySocket.address.port });
      // One warm-up connection first (code paths, TLS contexts), as the handshake case does.
      await (await dialer.connect({ via, peer: id.fingerprint, alpn: ['bench'], signal: ctx.signal })).close();
      const t0 = nowMs();
      const conn = await dialer.connect({ via, peer: id.fingerprint, alpn: ['bench'], signal: ctx.signal });
      const connectMs = nowMs() - t0;
      ctx.defer(() => conn.close());
      const stream = await conn.openStream();
      const result = await upload(stream, cfg, ctx.signal);
      const st = conn.stats();
      return { ...result, connectMs, extra: { rttMs: st.rtt, packetsSent: st.packetsSent, packetsLost: st.packetsLost } };
    },
  },
};
