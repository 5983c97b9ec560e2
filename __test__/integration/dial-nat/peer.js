#!/usr/bin/env node
// One peer of the dial-by-key test (__test__/integration/dial-nat.test.ts),
// run inside its namespace (behind a NAT, or public). One QuicSocket does
// everything: its server (echoing streams), its connections to the
// rendezvous peers (register()) and its dials (socket.dial()).
//
// Commands (see ../netns-rpc.js):
//   start {key, cert, bind}          binds ('::' dual-stack by default) and listens (ALPN "p2p")
//   join {name, host, port, ca}      connects to a rendezvous with this peer's certificate and registers
//   dial {peer, via, punchTimeout, relay, watchUpgrade, keep}
//                                    socket.dial(); echoes 64 KiB over the result -> { ok, path, remoteAddress, ms, echoOk } | { ok: false, code }
//   upgraded {ms}                    waits (bounded) for 'upgrade' on the last kept dial -> { upgraded, path, remoteAddress, echoOk }
//   report                           -> connections the server accepted (path, remote, dialer fingerprint), punches seen
'use strict';
const crypto = require('node:crypto');
const path = require('node:path');
const { serve, withTimeout } = require('../netns-rpc');

const { QuicSocket, certificateFingerprint } = require(path.resolve(__dirname, '../../../dist'));
const { readAll } = require('../netns-child');

const cfg = JSON.parse(process.argv[2]);
const ECHO_BYTES = 64 * 1024;

let socket;
let identity;
const rendezvous = new Map(); // name -> connection
let kept; // the last dial's connection, when kept
let upgrade; // promise of its 'upgrade'
const state = { served: [], appPunches: 0, strayMessages: 0 };

async function echo(conn) {
  const payload = crypto.randomBytes(ECHO_BYTES);
  const s = await conn.openStream();
  const back = readAll(s);
  s.end(payload);
  return (await withTimeout(back, 10_000, 'echo')).equals(payload);
}

const log = serve(cfg.name, cfg.deadlineMs, {
  async start({ key, cert, bind }) {
    identity = { key, cert };
    socket = await QuicSocket.bind({ address: bind || '::', port: 0 });
    socket.on('error', (err) => log('socket error', err.message));
    socket.on('punch', () => state.appPunches++);
    socket.on('message', () => state.strayMessages++);
    // `verify` asks dialers for their certificate (it names them) and could refuse them.
    const server = socket.listen({ alpn: ['p2p'], key, cert, verify: () => true });
    server.on('connection', (conn) => {
      const leaf = conn.peerCertificates[0];
      const record = { path: conn.path, remoteAddress: conn.remoteAddress, dialer: leaf ? certificateFingerprint(leaf) : undefined };
      state.served.push(record);
      log('accepted', conn.path, 'connection from', conn.remoteAddress);
      conn.on('stream', (s) => {
        s.on('error', () => {});
        s.pipe(s);
      });
      conn.on('upgrade', (direct) => {
        record.upgradedTo = { path: direct.path, remoteAddress: direct.remoteAddress };
      });
    });
    return socket.address;
  },

  async join({ name, host, port, ca }) {
    const conn = await socket.connect({ host, port, alpn: ['rdv'], ca, key: identity.key, cert: identity.cert, keepAlive: 1000, idleTimeout: 60_000, timeout: 5000 });
    conn.on('close', (info) => log('rendezvous', name, 'closed', info.error ? info.error.code : 'clean'));
    rendezvous.set(name, conn);
    await conn.register();
    return { localAddress: conn.localAddress };
  },

  async dial({ peer, via, punchTimeout, relay, watchUpgrade, keep }) {
    const started = Date.now();
    let conn;
    try {
      conn = await socket.dial({ peer, via: via.map((n) => rendezvous.get(n)), alpn: ['p2p'], key: identity.key, cert: identity.cert, punchTimeout, relay });
    } catch (err) {
      return { ok: false, code: err.code, message: err.message, ms: Date.now() - started };
    }
    const ms = Date.now() - started;
    if (watchUpgrade) upgrade = new Promise((resolve) => conn.once('upgrade', resolve));
    const result = { ok: true, ms, path: conn.path, remoteAddress: conn.remoteAddress, peerFingerprint: certificateFingerprint(conn.peerCertificates[0]) };
    result.echoOk = await echo(conn);
    if (keep) kept = conn;
    else await withTimeout(conn.close(), 3000, 'closing the dialed connection');
    return result;
  },

  async upgraded({ ms }) {
    let timer;
    const direct = await Promise.race([upgrade, new Promise((r) => (timer = setTimeout(r, ms)))]).finally(() => clearTimeout(timer));
    if (!direct) return { upgraded: false, relayedOpen: !kept.destroyed };
    const result = { upgraded: true, path: direct.path, remoteAddress: direct.remoteAddress, echoOk: await echo(direct), relayedOpen: !kept.destroyed };
    await Promise.all([direct.close(), kept.close()]);
    return result;
  },

  report() {
    return state;
  },
});
