#!/usr/bin/env node
// One peer of the NAT hole-punching test (__test__/integration/nat.test.ts),
// run inside its private namespace behind a masquerading NAT.
//
// Everything (STUN, signaling with the rendezvous, punches, the direct QUIC
// connection) uses ONE QuicSocket, so the NAT mapping learned by STUN is the
// one the direct connection uses.
//
// Recipe ("robust"), which survives Linux conntrack masquerade however the two
// peers' clocks line up:
//   1. STUN the rendezvous -> own mapped (public) address.
//   2. Signaling connection to the rendezvous (QUIC, same socket): hello with
//      the mapped address; receive the other peer's mapped address.
//   3. Low-TTL punches to the other peer's mapped address. They leave this
//      side's NAT (creating the outgoing mapping, source port kept) and expire
//      at the router before the other NAT, so they create no state there.
//   4. Tell the rendezvous "ready"; wait for its "go" (sent when both sides
//      are ready, i.e. both NATs hold their outgoing mapping).
//   5. Normal punches; the client connects directly, the server accepts; one
//      stream echoes a payload.
// Since no packet reaches the other NAT before that NAT's own outgoing
// mapping exists, no inbound conntrack entry can steal the source port, so a
// late peer (cfg.lateMs, applied before step 3 and again after "go") does not
// break it.
//
// "naive" mode skips steps 3-4 (punch at full TTL as soon as the address is
// known): the test uses it as a control showing the NATs really reproduce the
// port-collision pitfall.
//
// Prints diagnostics on stderr and one `RESULT <json>` line on stdout.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const { QuicSocket } = require(path.resolve(__dirname, '../../../dist'));
const { addr, readAll } = require('../netns-child');

const cfg = JSON.parse(process.argv[2]);
const t0 = Date.now();
const log = (...a) => process.stderr.write(`[${cfg.name} +${Date.now() - t0}ms] ${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const result = { name: cfg.name, role: cfg.role, mode: cfg.mode, lateMs: cfg.lateMs, events: [], punchesFrom: {} };
const mark = (event, extra) => result.events.push({ event, at: Date.now() - t0, ...extra });

function finish(code) {
  process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
  process.exit(code);
}
setTimeout(() => {
  result.error = result.error || `deadline of ${cfg.deadlineMs} ms reached`;
  finish(3);
}, cfg.deadlineMs);
process.on('SIGTERM', () => {
  result.error = result.error || 'terminated by the test (the other peer had finished)';
  finish(4);
});

function withTimeout(promise, ms, label) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timeout: ${label} (${ms} ms)`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Newline-delimited JSON reader on a stream: next(type) resolves with the next message of that type. */
function messages(stream) {
  const queue = [];
  const waiters = [];
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const msg = JSON.parse(buf.slice(0, nl));
      buf = buf.slice(nl + 1);
      const i = waiters.findIndex((w) => w.type === msg.type);
      if (i >= 0) waiters.splice(i, 1)[0].resolve(msg);
      else queue.push(msg);
    }
  });
  return (type) => {
    const i = queue.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(queue.splice(i, 1)[0]);
    return new Promise((resolve) => waiters.push({ type, resolve }));
  };
}

async function main() {
  const socket = await QuicSocket.bind(cfg.bind ? { address: cfg.bind, port: 0 } : { port: 0 });
  result.local = socket.address;
  log('bound', socket.address);
  socket.on('error', (err) => log('socket error', err.message));
  socket.on('message', (data, from) => log('unexpected datagram from', from, data.length));
  const punchesFrom = new Map();
  let firstPunch;
  const punchArrived = new Promise((resolve) => {
    firstPunch = resolve;
  });
  socket.on('punch', (from) => {
    const key = addr(from);
    if (!punchesFrom.has(key)) {
      mark('first punch received', { from: key });
      log('punch from', key);
    }
    punchesFrom.set(key, (punchesFrom.get(key) || 0) + 1);
    result.punchesFrom[key] = punchesFrom.get(key);
    firstPunch(from);
  });

  // The server side listens from the start: the other peer's Initial may
  // arrive as soon as "go" is sent.
  let served;
  if (cfg.role === 'server') {
    const server = socket.listen({ alpn: ['nq-p2p'], key: fs.readFileSync(cfg.key), cert: fs.readFileSync(cfg.cert) });
    served = new Promise((resolve, reject) => {
      server.on('connection', (conn) => {
        mark('direct connection accepted', { remote: addr(conn.remoteAddress) });
        log('direct connection from', conn.remoteAddress);
        result.direct = { remoteAddress: conn.remoteAddress, localAddress: conn.localAddress };
        conn.on('stream', (s) => {
          s.on('error', reject);
          s.on('finish', () => {
            result.direct.stats = conn.stats();
          });
          s.pipe(s); // echo
        });
        conn.closed.then((info) => {
          result.direct.close = { code: info.code, remote: info.remote, reason: info.reason };
          resolve();
        }, reject);
      });
    });
  }

  // 1. STUN
  const mapped = await socket.stun(cfg.rendezvous.port, cfg.rendezvous.host, { timeout: 3000 });
  result.mapped = mapped;
  mark('stun', { mapped: addr(mapped) });
  log('mapped address', mapped);

  // 2. Signaling with the rendezvous, on the same socket.
  const rdv = await socket.connect({
    host: cfg.rendezvous.host,
    port: cfg.rendezvous.port,
    alpn: ['nq-rdv'],
    ca: fs.readFileSync(cfg.rendezvous.ca),
    idleTimeout: 60_000,
    timeout: 5000,
  });
  const control = await rdv.openStream();
  control.on('error', (err) => log('signaling stream error', err.message));
  const next = messages(control);
  control.write(`${JSON.stringify({ type: 'hello', name: cfg.name, mapped })}\n`);
  const intro = await withTimeout(next('peer'), 8000, 'introduction by the rendezvous');
  const other = intro.mapped;
  result.other = other;
  mark('introduced', { other: addr(other) });
  log('other peer', intro.name, other);

  if (cfg.lateMs) await sleep(cfg.lateMs);

  if (cfg.mode === 'robust') {
    // 3. Low-TTL punches: open our NAT toward the other's mapping, die before its NAT.
    await socket.punch(other.port, other.address, { count: 3, interval: 10, ttl: cfg.lowTtl });
    mark('low-ttl punches sent', { ttl: cfg.lowTtl });
    // 4. Ready / go.
    control.write(`${JSON.stringify({ type: 'ready' })}\n`);
    await withTimeout(next('go'), 8000, '"go" from the rendezvous');
    mark('go');
    if (cfg.lateMs) await sleep(cfg.lateMs);
  }

  // 5. Normal punches (kept going in the background while the handshake runs).
  mark('normal punches start');
  const punching = socket.punch(other.port, other.address, { count: 100, interval: 50 }).catch(() => {});

  if (cfg.role === 'client') {
    // Wait (bounded) for the first punch from the peer: the path is open both ways.
    const first = await Promise.race([punchArrived, sleep(cfg.punchWaitMs).then(() => undefined)]);
    if (!first) log('no punch from the peer yet; connecting anyway');
    const conn = await socket.connect({
      host: other.address,
      port: other.port,
      alpn: ['nq-p2p'],
      ca: fs.readFileSync(cfg.peerCa),
      serverName: cfg.peerServerName,
      timeout: cfg.connectTimeoutMs,
    });
    mark('direct connection established', { remote: addr(conn.remoteAddress) });
    log('direct connection to', conn.remoteAddress);
    result.direct = { remoteAddress: conn.remoteAddress, localAddress: conn.localAddress };
    const payload = crypto.randomBytes(cfg.payloadBytes);
    const s = await conn.openStream();
    const echoed = readAll(s);
    s.end(payload);
    const back = await withTimeout(echoed, 10_000, 'echo over the direct connection');
    result.echo = {
      sent: payload.length,
      received: back.length,
      equal: back.equals(payload),
      sha256: crypto.createHash('sha256').update(payload).digest('hex'),
    };
    mark('echo done', { bytes: back.length });
    result.direct.stats = conn.stats();
    await withTimeout(conn.close({ code: 0, reason: 'done' }), 3000, 'closing the direct connection');
  } else {
    await withTimeout(served, cfg.serveTimeoutMs, 'the direct connection to be served and closed');
  }
  void punching;
}

main().then(
  () => finish(0),
  (err) => {
    result.error = `${err.code ? `${err.code}: ` : ''}${err.message}`;
    log('failed:', result.error);
    finish(1);
  },
);
