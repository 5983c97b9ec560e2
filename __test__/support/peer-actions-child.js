// The peer-action matrix of __test__/unobserved.test.ts, run in a process of
// its own so that every uncaught exception is counted, process-wide.
//
// Each scenario pairs a *passive* application — a server that listens to
// nothing beyond 'connection' (or to nothing at all), or a client that only
// awaited connect() — with an *active* peer that opens streams, writes,
// resets, stops, closes, vanishes (idle timeout) or floods. The passive side
// must never see an uncaught exception. Prints one JSON line per scenario:
//   { name, uncaught: string[], peerCodes: (number|string)[], refused, error? }
// `peerCodes` are the appCodes (or codes) of the errors the active peer's own
// streams saw; `refused` is the passive side's stats().streamsRefused.
//
// Usage: node peer-actions-child.js <path to lib/index.ts or dist/index.js> [scenario name…]
// (TypeScript is compiled on load with @swc/core, as jest does.)
'use strict';
const dgram = require('node:dgram');

if (process.argv[2].endsWith('.ts')) require('./ts-loader');
const nquic = require(process.argv[2]);

const uncaught = [];
process.on('uncaughtException', (err) => uncaught.push(`${err && err.code}: ${err && err.message}`));
process.on('unhandledRejection', (err) => uncaught.push(`unhandled rejection ${err && err.code}: ${err && err.message}`));

const ALPN = ['matrix'];
const creds = nquic.generateCertificate({ subjectAltNames: ['localhost'] });
const clientCreds = nquic.generateCertificate({ subjectAltNames: ['client'] });
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function bounded(promise, ms, label) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${label} did not settle within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Polls `fn` every 10 ms until it is true or `ms` have passed. */
async function until(fn, ms) {
  const deadline = Date.now() + ms;
  while (!fn() && Date.now() < deadline) await sleep(10);
  return fn();
}

function listen(extra = {}) {
  return nquic.listen({ address: '127.0.0.1', port: 0, alpn: ALPN, key: creds.key, cert: creds.cert, ...extra });
}

function connect(port, extra = {}) {
  return nquic.connect({ host: '127.0.0.1', port, alpn: ALPN, ca: creds.cert, serverName: 'localhost', ...extra });
}

/** The active peer's streams record their errors instead of throwing. */
function watch(stream, codes) {
  stream.on('error', (e) => codes.push(e.appCode ?? e.code));
  if (stream.readable) stream.resume();
  return stream;
}

/** Forwards UDP between a client and `port` until cut(), then drops everything (an idle-out). */
async function blackholeProxy(port) {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  await Promise.all([new Promise((r) => front.bind(0, '127.0.0.1', r)), new Promise((r) => back.bind(0, '127.0.0.1', r))]);
  let client;
  let open = true;
  front.on('message', (m, from) => {
    client = from;
    if (open) back.send(m, port, '127.0.0.1');
  });
  back.on('message', (m) => {
    if (open && client) front.send(m, client.port, client.address);
  });
  return {
    port: front.address().port,
    cut: () => (open = false),
    close: () => Promise.all([new Promise((r) => front.close(r)), new Promise((r) => back.close(r))]),
  };
}

function refusedOf(conns) {
  let n = 0;
  for (const c of conns) {
    try {
      n += c.stats().streamsRefused;
    } catch {
      n += c.lastRefused ?? 0;
    }
  }
  return n;
}

/** A server application that only listens for 'connection' (or, with `silent`, to nothing). */
async function passiveServer(extra = {}, silent = false) {
  const server = await listen(extra);
  const conns = [];
  if (!silent) server.on('connection', (c) => conns.push(c));
  return { server, conns, port: server.address.port };
}

// --- scenarios: the client is the active peer ---------------------------------------------

/** The client opens a stream, does `act` to it, and leaves; the server listens to 'connection' only. */
function clientStreamScenario(act, opts = {}) {
  return async () => {
    const { server, conns, port } = await passiveServer(opts.server, opts.silent);
    const codes = [];
    const c = await connect(port, opts.client);
    const s = watch(await c.openStream({ unidirectional: opts.uni === true }), codes);
    s.write('hello from the peer');
    await act({ c, s, codes, conns, server });
    const refused = refusedOf(conns);
    await bounded(c.close(), 3000, 'client close');
    await bounded(server.close(), 3000, 'server close');
    return { peerCodes: codes, refused };
  };
}

const waitForRefusal = ({ codes }) => until(() => codes.length > 0, 3000);

async function flood({ c, codes, conns }) {
  // 300 streams of both kinds, each written and then ended, reset or
  // stopped, while the passive server refuses them all.
  const opened = [];
  for (let i = 0; i < 300; i++) {
    const s = watch(await bounded(c.openStream({ unidirectional: i % 2 === 1 }), 3000, `openStream #${i}`), codes);
    s.write(Buffer.alloc(1000, i));
    if (i % 3 === 0) s.end();
    else if (i % 3 === 1) s.reset(i);
    else if (s.readable) s.stopSending(i);
    opened.push(s);
  }
  await until(() => refusedOf(conns) >= 300, 5000);
}

async function idleOut(opts = {}) {
  const server = await listen({ idleTimeout: 300, ...opts.server });
  const conns = [];
  if (!opts.silent) server.on('connection', (c) => conns.push(c));
  const proxy = await blackholeProxy(server.address.port);
  const codes = [];
  const c = await connect(proxy.port, { idleTimeout: 300 });
  const s = watch(await c.openStream(), codes);
  s.write('hello before vanishing');
  await sleep(100);
  const refused = refusedOf(conns);
  proxy.cut();
  await bounded(c.closed, 5000, 'client idle-out');
  // The server's connection (held or handed out) idles out too.
  await until(() => server.socket.nativeConnectionCount === 0, 5000);
  await proxy.close();
  await bounded(server.close(), 3000, 'server close');
  return { peerCodes: codes, refused, serverConnections: server.socket.nativeConnectionCount };
}

async function zeroRtt() {
  const { server, conns, port } = await passiveServer({ earlyData: true });
  const first = await connect(port);
  const ticket = first.sessionTicket ?? (await bounded(new Promise((r) => first.once('sessionTicket', r)), 3000, 'ticket'));
  await first.close();
  const codes = [];
  const c = await connect(port, { sessionTicket: ticket, earlyData: true });
  const s = watch(await c.openStream(), codes);
  s.write('0-RTT data');
  await until(() => codes.length > 0, 3000);
  const refused = refusedOf(conns);
  await c.close();
  await server.close();
  return { peerCodes: codes, refused, resumed: c.resumed };
}

async function serverClosing() {
  const { server, conns, port } = await passiveServer();
  const codes = [];
  const c = await connect(port);
  const streams = [];
  for (let i = 0; i < 50; i++) {
    const s = watch(await c.openStream({ unidirectional: i % 2 === 1 }), codes);
    s.write(Buffer.alloc(2000, i));
    streams.push(s);
    if (i === 25) void server.close();
  }
  await bounded(c.closed, 5000, 'client sees the server close');
  await bounded(server.close(), 3000, 'server close');
  return { peerCodes: codes, refused: refusedOf(conns) };
}

async function verifyRefused() {
  const server = await listen({ verify: () => false });
  let connections = 0;
  server.on('connection', () => connections++);
  const codes = [];
  const c = await connect(server.address.port, { key: clientCreds.key, cert: clientCreds.cert });
  // TLS 1.3: the client finishes first and writes before it hears the refusal.
  for (let i = 0; i < 5; i++) {
    try {
      const s = watch(await c.openStream(), codes);
      s.write('early');
    } catch (err) {
      codes.push(err.code);
    }
  }
  const info = await bounded(c.closed, 5000, 'refused client closed');
  await server.close();
  return { peerCodes: codes, refused: 0, connections, closeCode: info.error && info.error.code };
}

async function relayed(target) {
  const relay = await listen({ relay: true });
  const relayConns = [];
  relay.on('connection', (c) => relayConns.push(c));
  const targetCreds = nquic.generateCertificate({ subjectAltNames: ['target'] });
  const targetSocket = await nquic.QuicSocket.bind({ address: '127.0.0.1' });
  const targetServer = targetSocket.listen({ alpn: ALPN, key: targetCreds.key, cert: targetCreds.cert });
  const targetConns = [];
  targetServer.on('connection', (c) => targetConns.push(c));
  const toRelay = await targetSocket.connect({
    host: '127.0.0.1', port: relay.address.port, alpn: ALPN, ca: creds.cert, serverName: 'localhost',
    key: targetCreds.key, cert: targetCreds.cert,
  });
  await bounded(toRelay.acceptRelayed(), 3000, 'acceptRelayed');
  const dialerSocket = await nquic.QuicSocket.bind({ address: '127.0.0.1' });
  const via = await dialerSocket.connect({ host: '127.0.0.1', port: relay.address.port, alpn: ALPN, ca: creds.cert, serverName: 'localhost' });
  const conn = await dialerSocket.connect({ via, peer: targetCreds.fingerprint, alpn: ALPN });
  const codes = [];
  const on = target === 'relay connection' ? via : conn;
  for (let i = 0; i < 4; i++) {
    const s = watch(await on.openStream({ unidirectional: i % 2 === 1 }), codes);
    s.write('through the relay');
    if (i === 2) s.reset(3);
  }
  await until(() => refusedOf(target === 'relay connection' ? relayConns : targetConns) >= 4, 3000);
  const refused = refusedOf(target === 'relay connection' ? relayConns : targetConns);
  await conn.close();
  await dialerSocket.close();
  await targetSocket.close();
  await relay.close();
  return { peerCodes: codes, refused };
}

// --- scenarios: the server is the active peer, the client app is passive ------------------

/** The server opens a stream to a client that only awaited connect(), and does `act`. */
function serverStreamScenario(act, opts = {}) {
  return async () => {
    const server = await listen(opts.server);
    const codes = [];
    const done = new Promise((resolve) => {
      server.on('connection', async (conn) => {
        try {
          const s = watch(await conn.openStream({ unidirectional: opts.uni === true }), codes);
          s.write('hello from the server');
          await act({ conn, s, codes });
        } catch (err) {
          codes.push(`server: ${err.code}`);
        }
        resolve();
      });
    });
    const c = await connect(server.address.port, opts.client);
    await bounded(done, 5000, 'server actions');
    await until(() => c.destroyed || c.stats().streamsRefused > 0, 2000);
    const refused = c.destroyed ? 0 : c.stats().streamsRefused;
    await c.close();
    await server.close();
    return { peerCodes: codes, refused };
  };
}

async function serverFlood({ conn, codes }) {
  for (let i = 0; i < 300; i++) {
    const s = watch(await bounded(conn.openStream({ unidirectional: i % 2 === 1 }), 3000, `server openStream #${i}`), codes);
    s.write(Buffer.alloc(500, i));
    if (i % 2 === 0) s.reset(i);
    else s.end();
  }
}

async function serverIdleOut() {
  const server = await listen({ idleTimeout: 300 });
  const codes = [];
  server.on('connection', async (conn) => {
    const s = watch(await conn.openStream(), codes);
    s.write('then silence');
  });
  const proxy = await blackholeProxy(server.address.port);
  const c = await connect(proxy.port, { idleTimeout: 300 });
  await until(() => c.stats().streamsRefused > 0, 2000);
  const refused = c.stats().streamsRefused;
  proxy.cut();
  const info = await bounded(c.closed, 5000, 'client idle-out');
  await proxy.close();
  await server.close();
  return { peerCodes: codes, refused, closeCode: info.error && info.error.code };
}

/**
 * Not a peer action: the application's own 'stream' handler throws for one
 * connection while another connection's events come in the same batches.
 * The exception surfaces once, uncaught, and nothing else is lost.
 */
async function throwingHandler() {
  const { server, port } = await passiveServer();
  let accepted = 0;
  server.on('connection', (conn) => {
    const throws = accepted++ === 0;
    conn.on('stream', (s) => {
      if (throws) throw Object.assign(new Error('thrown by the application'), { code: 'APP_BOOM' });
      s.pipe(s);
    });
  });
  const a = await connect(port);
  const b = await connect(port);
  const sa = await a.openStream({ unidirectional: true });
  const sb = await b.openStream();
  const echoed = [];
  sb.on('data', (d) => echoed.push(String(d)));
  const ended = new Promise((r) => sb.once('end', r));
  sa.end('to the throwing handler');
  sb.end('echo me');
  await bounded(ended, 3000, 'echo on the other connection');
  // Timers stay armed: a connection with a short idle timeout still ends.
  const idle = await connect(port, { idleTimeout: 200 });
  const info = await bounded(idle.closed, 3000, 'idle timeout after the exception');
  await a.close();
  await b.close();
  await server.close();
  return { peerCodes: [], refused: 0, echoed: echoed.join(''), idleCode: info.error && info.error.code };
}

const scenarios = {
  'an application handler that throws': throwingHandler,
  // client active, server passive ('connection' listener only)
  'client opens a bidi stream and writes': clientStreamScenario(waitForRefusal),
  'client opens a uni stream, writes and ends': clientStreamScenario(async ({ s, conns }) => {
    s.end();
    await until(() => refusedOf(conns) > 0, 3000);
  }, { uni: true }),
  'client writes, then resets': clientStreamScenario(async ({ s, conns }) => {
    s.reset(7);
    await until(() => refusedOf(conns) > 0, 3000);
  }),
  'client writes, then stops sending': clientStreamScenario(async ({ s, conns }) => {
    s.stopSending(8);
    await until(() => refusedOf(conns) > 0, 3000);
  }),
  'client writes, then closes the connection cleanly': clientStreamScenario(async ({ c }) => {
    await c.close();
  }),
  'client writes, then closes with an application error': clientStreamScenario(async ({ c }) => {
    await c.close({ code: 99, reason: 'bye' });
  }),
  'client floods 300 streams (end, reset, stopSending)': clientStreamScenario(flood, { client: {} }),
  'client vanishes: the server idles out': () => idleOut(),
  // server with no listener at all: connections queue, streams wait, nothing fails
  'no listener at all: client writes then resets': clientStreamScenario(async ({ s }) => {
    s.reset(9);
    await sleep(200);
  }, { silent: true }),
  'no listener at all: client writes then closes': clientStreamScenario(async ({ c }) => {
    await sleep(100);
    await c.close({ code: 5 });
  }, { silent: true }),
  'no listener at all: client vanishes, the server idles out': () => idleOut({ silent: true }),
  '0-RTT stream data on a resumed connection': zeroRtt,
  'streams arriving while the server closes': serverClosing,
  'connection refused by verify, client writes early': verifyRefused,
  'streams on a connection to a relay': () => relayed('relay connection'),
  'streams on a relayed connection to a passive target': () => relayed('relayed connection'),
  // server active, client passive (it only awaited connect())
  'server opens a bidi stream and writes': serverStreamScenario(async ({ codes }) => {
    await until(() => codes.length > 0, 3000);
  }),
  'server opens a uni stream, writes and ends': serverStreamScenario(async ({ s }) => s.end(), { uni: true }),
  'server writes, then resets': serverStreamScenario(async ({ s }) => s.reset(11)),
  'server writes, then closes the connection': serverStreamScenario(async ({ conn }) => {
    await sleep(50);
    await conn.close({ code: 12 });
  }),
  'server floods 300 streams': serverStreamScenario(serverFlood),
  'server vanishes: the client idles out': serverIdleOut,
};

async function main() {
  const names = process.argv.length > 3 ? process.argv.slice(3) : Object.keys(scenarios);
  for (const name of names) {
    const before = uncaught.length;
    let result;
    try {
      result = await bounded(scenarios[name](), 20000, name);
    } catch (err) {
      result = { error: `${err && err.code}: ${err && err.message}` };
    }
    // Errors are emitted on process.nextTick or later: give them time to surface.
    await sleep(50);
    process.stdout.write(`${JSON.stringify({ name, ...result, uncaught: uncaught.slice(before) })}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stdout.write(`${JSON.stringify({ name: 'main', error: String(err && err.stack), uncaught })}\n`);
    process.exit(1);
  },
);
