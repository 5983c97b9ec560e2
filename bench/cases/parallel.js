'use strict';
// Parallel streams: BENCH_PARALLEL_STREAMS (default 100) concurrent uploads of BENCH_PARALLEL_KB KiB
// (default 1024) each, client -> server, same protocol as bulk (the server counts each stream's
// bytes and acks with {"bytes":n} after end-of-stream). Throughput = total bytes / (first write ->
// last ack). nquic multiplexes all of them over ONE connection (openStream() waits for stream
// credit; the server allows 100 concurrent bidi streams by default). node:tls has no streams, so it
// uses as many TLS connections, all set up before the timed region — the usual way to get
// parallelism over TCP, and a generous baseline (no head-of-line blocking between uploads, one
// congestion window per connection).
//
// @matrixai/quic is not run here: at its bulk rate (< 1 MB/s on this loopback) 100 MiB would not fit
// the time budget.

const { KiB, envInt, nowMs } = require('../lib/util');
const peers = require('../lib/peers');
const { countingSink, upload } = require('./bulk');

function config() {
  const streams = envInt('BENCH_PARALLEL_STREAMS', 100);
  const kb = envInt('BENCH_PARALLEL_KB', 1024);
  const chunkSize = Math.min(envInt('BENCH_CHUNK_KB', 64) * KiB, kb * KiB);
  return {
    streams, bytes: kb * KiB, chunkSize,
    label: `parallel ${streams} x ${kb >= 1024 && kb % 1024 === 0 ? `${kb / 1024} MiB` : `${kb} KiB`} c->s`,
  };
}

/** Run `cfg.streams` uploads concurrently on the given duplexes; time first write -> last ack. */
async function uploadAll(duplexes, cfg, signal) {
  const t0 = nowMs();
  const per = await Promise.all(duplexes.map((d) => upload(d, cfg, signal)));
  const seconds = (nowMs() - t0) / 1000;
  const total = cfg.bytes * cfg.streams;
  const slowest = Math.max(...per.map((p) => p.seconds));
  const fastest = Math.min(...per.map((p) => p.seconds));
  return { throughput: total / 1e6 / seconds, extra: { totalBytes: total, seconds, fastestStreamS: fastest, slowestStreamS: slowest } };
}

module.exports = {
  name: 'parallel',
  config,
  metrics: [
    { key: 'throughput', label: 'total throughput', unit: 'MB/s', better: 'higher', digits: 1 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const server = await peers.nquicServer(ctx, countingSink);
      const conn = await peers.nquicConnect(ctx, server);
      ctx.defer(() => conn.close());
      // Opening is part of the multiplexing cost but cheap; keep it outside the timed region like
      // the TLS handshakes are, so the number is transfer throughput.
      const streams = await Promise.all(Array.from({ length: cfg.streams }, () => conn.openStream()));
      const result = await uploadAll(streams, cfg, ctx.signal);
      try {
        const st = conn.stats();
        Object.assign(result.extra, { rttMs: st.rtt, packetsSent: st.packetsSent, packetsLost: st.packetsLost });
      } catch { /* informational */ }
      return result;
    },

    async 'node:tls'(ctx, cfg) {
      const server = await peers.tlsServer(ctx, countingSink);
      const sockets = [];
      ctx.defer(() => { for (const s of sockets) s.destroy(); });
      for (let i = 0; i < cfg.streams; i++) sockets.push(await peers.tlsConnect(ctx, server));
      const result = await uploadAll(sockets, cfg, ctx.signal);
      result.note = `${cfg.streams} TLS connections (TLS has no streams)`;
      return result;
    },
  },
};
