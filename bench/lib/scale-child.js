'use strict';
// Child processes of the scale case (bench/cases/scale.js), one per role, forked with --expose-gc.
// Requests over IPC, each answered by { reply: value } or { error: message }:
//   server: { cmd: 'start', creds }          -> { port }  (server started, GC'd, memory baseline taken)
//           { cmd: 'measure', idleSeconds }  -> { connections, rssPerConn, heapPerConn, idleCpuMsPerS,
//                                                loopDelayP99, loopDelayMax }
//   client: { cmd: 'ramp', port, count, concurrency, creds } -> { latencies, seconds }
//           { cmd: 'probe', count }          -> { latencies }  (sequential handshakes, the others open)
//   both:   { cmd: 'stop' } (or a disconnect): close everything and exit.
// The server's connections all share its one socket, as do the client's: each process carries the
// whole load on one UDP socket.

const { monitorEventLoopDelay } = require('node:perf_hooks');
const nquic = require('../..');
const { nowMs, sleep, errorMessage } = require('./util');
const peers = require('./peers');

let server;
let clientSocket;
let port;
let cert;
let baseline;
const held = [];
const loopDelay = monitorEventLoopDelay({ resolution: 10 });

async function settledMemory() {
  await sleep(300);
  for (let i = 0; i < 4; i++) {
    global.gc();
    await new Promise((r) => setImmediate(r));
  }
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed + m.external };
}

const handlers = {
  async start(msg) {
    server = await nquic.listen({
      address: peers.HOST, port: 0, alpn: [peers.ALPN], key: msg.creds.key, cert: msg.creds.cert,
      handshakeRateLimit: 0,
    });
    server.on('connection', (conn) => conn.on('error', () => {}));
    baseline = await settledMemory();
    loopDelay.enable();
    return { port: server.address.port };
  },

  async measure(msg) {
    loopDelay.disable();
    const after = await settledMemory();
    const connections = server.socket.nativeConnectionCount;
    const cpu0 = process.cpuUsage();
    const t0 = nowMs();
    await sleep(msg.idleSeconds * 1000);
    const cpu = process.cpuUsage(cpu0);
    const seconds = (nowMs() - t0) / 1000;
    return {
      connections,
      rssPerConn: (after.rss - baseline.rss) / connections,
      heapPerConn: (after.heap - baseline.heap) / connections,
      idleCpuMsPerS: (cpu.user + cpu.system) / 1000 / seconds,
      loopDelayP99: loopDelay.percentile(99) / 1e6,
      loopDelayMax: loopDelay.max / 1e6,
    };
  },

  async ramp(msg) {
    ({ port } = msg);
    cert = msg.creds.cert;
    clientSocket = await nquic.QuicSocket.bind({ address: peers.HOST, port: 0 });
    const latencies = [];
    let started = 0;
    const t0 = nowMs();
    const worker = async () => {
      while (started < msg.count) {
        started++;
        const t = nowMs();
        const conn = await connectOnce();
        latencies.push(nowMs() - t);
        conn.on('error', () => {});
        held.push(conn);
      }
    };
    await Promise.all(Array.from({ length: Math.min(msg.concurrency, msg.count) }, worker));
    return { latencies, seconds: (nowMs() - t0) / 1000 };
  },

  async probe(msg) {
    const latencies = [];
    for (let i = 0; i < msg.count; i++) {
      const t = nowMs();
      const conn = await connectOnce();
      latencies.push(nowMs() - t);
      await conn.close();
    }
    return { latencies };
  },
};

function connectOnce() {
  return clientSocket.connect({ host: peers.HOST, port, alpn: [peers.ALPN], ca: cert, serverName: peers.SERVER_NAME });
}

async function stop(code) {
  const timer = setTimeout(() => process.exit(code), 15000);
  try {
    await Promise.all([server?.close(), clientSocket?.close()]);
  } catch { /* exiting */ }
  clearTimeout(timer);
  process.exit(code);
}

process.on('message', (msg) => {
  if (msg && msg.cmd === 'stop') {
    stop(0);
    return;
  }
  const handler = msg && handlers[msg.cmd];
  if (!handler) return;
  handler(msg).then((reply) => process.send({ reply }), (err) => process.send({ error: errorMessage(err) }));
});
process.on('disconnect', () => stop(0));
process.on('uncaughtException', (err) => { console.error(`bench scale child: ${errorMessage(err)}`); stop(1); });
