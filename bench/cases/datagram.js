'use strict';
// Unreliable datagrams (RFC 9221): for BENCH_DGRAM_SECONDS (default 2) the client keeps
// BENCH_DGRAM_WINDOW (default 64) datagrams of BENCH_DGRAM_SIZE bytes (default 256) in flight; the
// server echoes each one back on the same connection. Each carries a sequence number; a datagram not
// echoed within 200 ms is counted lost and frees its window slot. Reported: echoes per second and
// the median round-trip time of echoed datagrams. node:tls (TCP) and @matrixai/quic 2.0.9 (no
// datagram API, only a config flag) have no datagrams: reported as n/a.

const { envInt, percentile, median, skip, asBuffer } = require('../lib/util');
const { echoWindow } = require('../lib/echo-window');
const peers = require('../lib/peers');

function config() {
  const seconds = envInt('BENCH_DGRAM_SECONDS', 2);
  const window = envInt('BENCH_DGRAM_WINDOW', 64);
  const size = Math.max(8, envInt('BENCH_DGRAM_SIZE', 256));
  return { seconds, window, size, label: `datagram echo ${size} B, ${window} in flight` };
}

/** The nquic measurement; also used by the native case with the same parameters. */
async function nquicDatagrams(ctx, cfg) {
  const server = await peers.nquicServer(ctx, null, {}, (conn) => {
    conn.on('datagram', (d) => { try { conn.sendDatagram(d); } catch { /* closing */ } });
  });
  const conn = await peers.nquicConnect(ctx, server);
  ctx.defer(() => conn.close());
  if (typeof conn.maxDatagramSize === 'number' && conn.maxDatagramSize < cfg.size) {
    throw new Error(`maxDatagramSize ${conn.maxDatagramSize} < BENCH_DGRAM_SIZE ${cfg.size}`);
  }

  const payload = Buffer.alloc(cfg.size, 0x5a);
  const flight = echoWindow(ctx, cfg, (seq) => {
    payload.writeUInt32LE(seq >>> 0, 0);
    payload.writeUInt32LE(Math.floor(seq / 2 ** 32), 4);
    return conn.sendDatagram(payload); // false: send queue full, retried on the next echo or tick
  });
  conn.on('datagram', (d) => {
    const b = asBuffer(d);
    if (b.length >= 8) flight.echoed(b.readUInt32LE(0) + b.readUInt32LE(4) * 2 ** 32);
  });
  const { rtts, sent: seq, lost, refused, seconds } = await flight.done;
  const extra = { size: cfg.size, window: cfg.window, sent: seq, echoes: rtts.length, lost, queueFull: refused, rttP99: percentile(rtts, 99) };
  try {
    const st = conn.stats();
    Object.assign(extra, { datagramsSent: st.datagramsSent, datagramsReceived: st.datagramsReceived, packetsLost: st.packetsLost });
  } catch { /* informational */ }
  if (!rtts.length) throw new Error(`no datagram echoed (sent ${seq}, queue full ${refused} times)`);
  return { rate: rtts.length / seconds, rtt: median(rtts), extra };
}

module.exports = {
  name: 'datagram',
  config,
  metrics: [
    { key: 'rate', label: 'echoes', unit: '/s', better: 'higher', digits: 0 },
    { key: 'rtt', label: 'median RTT', unit: 'ms', better: 'lower', digits: 3 },
  ],
  impls: {
    nquic: nquicDatagrams,
    async 'node:tls'() { throw skip('TCP has no unreliable datagrams'); },
    async '@matrixai/quic'() { throw skip('2.0.9 exposes no datagram send/receive API'); },
  },
};

module.exports.nquicDatagrams = nquicDatagrams;
