'use strict';
// Two-process bulk: the same upload as the bulk case (BENCH_BULK_MB MiB, BENCH_CHUNK_KB KiB writes,
// one stream, byte-count ack), but the server runs in a child process (child_process.fork of
// bench/lib/server-child.js), so client and server each get their own event loop and thread, as
// they would in production. Child start-up and connection setup are outside the timed region.

const path = require('node:path');
const { MiB } = require('../lib/util');
const peers = require('../lib/peers');
const { forkChild, request } = require('../lib/child');
const bulk = require('./bulk');

const CHILD = path.join(__dirname, '..', 'lib', 'server-child.js');

function config() {
  const base = bulk.config();
  return { bytes: base.bytes, chunkSize: base.chunkSize, label: `bulk ${base.bytes / MiB} MiB c->s, server in child proc` };
}

/** Fork the server child for `impl`; resolves to its port. Cleanup kills it. */
async function startChild(ctx, impl) {
  const child = forkChild(ctx, CHILD, { label: 'server child' });
  const msg = await request(ctx, child, { cmd: 'start', impl, creds: { key: ctx.creds.key, cert: ctx.creds.cert } }, 'server child');
  return { port: msg.port, pid: msg.pid };
}

module.exports = {
  name: 'bulk-2proc',
  config,
  metrics: [
    { key: 'throughput', label: 'throughput', unit: 'MB/s', better: 'higher', digits: 1 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const { port } = await startChild(ctx, 'nquic');
      const conn = await peers.nquicConnect(ctx, { address: { port } });
      ctx.defer(() => conn.close());
      const stream = await conn.openStream();
      const result = await bulk.upload(stream, cfg, ctx.signal);
      try {
        const st = conn.stats();
        result.extra = { rttMs: st.rtt, packetsSent: st.packetsSent, packetsLost: st.packetsLost, bytesSent: st.bytesSent };
      } catch { /* informational */ }
      return result;
    },

    async 'node:tls'(ctx, cfg) {
      const { port } = await startChild(ctx, 'node:tls');
      const socket = await peers.tlsConnect(ctx, { address: () => ({ port }) });
      ctx.defer(() => socket.destroy());
      return bulk.upload(socket, cfg, ctx.signal);
    },
  },
};
