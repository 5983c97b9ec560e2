'use strict';
// Unreliable datagrams (RFC 9221): for BENCH_DGRAM_SECONDS (default 2) the client keeps
// BENCH_DGRAM_WINDOW (default 64) datagrams of BENCH_DGRAM_SIZE bytes (default 256) in flight; the
// server echoes each one back on the same connection. Each carries a sequence number; a datagram not
// echoed within 200 ms is counted lost and frees its window slot. Reported: echoes per second and
// the median round-trip time of echoed datagrams. node:tls (TCP) and @matrixai/quic 2.0.9 (no
// datagram API, only a config flag) have no datagrams: reported as n/a.

const { envInt, nowMs, percentile, median, skip, asBuffer } = require('../lib/util');
const peers = require('../lib/peers');

const LOSS_AFTER_MS = 200;

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
  const sentAt = new Map(); // seq -> ms
  const rtts = [];
  let seq = 0;
  let lost = 0;
  let refused = 0;
  let stopped = false;
  const start = nowMs();
  const stopAt = start + cfg.seconds * 1000;

  const fill = () => {
    while (!stopped && sentAt.size < cfg.window) {
      payload.writeUInt32LE(seq >>> 0, 0);
      payload.writeUInt32LE(Math.floor(seq / 2 ** 32), 4);
      if (!conn.sendDatagram(payload)) { refused++; return; } // send queue full: retry on next echo/tick
      sentAt.set(seq, nowMs());
      seq++;
    }
  };
  conn.on('datagram', (d) => {
    const b = asBuffer(d);
    if (b.length < 8) return;
    const s = b.readUInt32LE(0) + b.readUInt32LE(4) * 2 ** 32;
    const t = sentAt.get(s);
    if (t === undefined) return; // already counted lost
    sentAt.delete(s);
    if (!stopped) rtts.push(nowMs() - t);
    fill();
  });

  await new Promise((resolve, reject) => {
    const onAbort = () => { clearInterval(tick); reject(ctx.signal.reason); };
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    const tick = setInterval(() => {
      const now = nowMs();
      for (const [s, t] of sentAt) { // insertion order = oldest first
        if (now - t <= LOSS_AFTER_MS) break;
        sentAt.delete(s);
        lost++;
      }
      if (now >= stopAt) {
        stopped = true;
        clearInterval(tick);
        ctx.signal.removeEventListener('abort', onAbort);
        resolve();
      } else fill();
    }, 10);
    fill();
  });
  const seconds = (nowMs() - start) / 1000;
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
