#!/usr/bin/env node
// One peer of the relayed-connection test (__test__/integration/relay-nat.test.ts),
// run inside its private namespace behind a (symmetric) NAT. Everything
// (STUN, punches, the direct attempt, the connection to the relay, relayed
// connections) uses ONE QuicSocket.
//
// Commands (see ../netns-rpc.js), driven step by step by the test:
//   bind                                  -> local address
//   listen {key, cert}                    server (ALPN "p2p") echoing streams and datagrams
//   stun {host, port}                     -> mapped address
//   punch {host, port, count, interval, ttl}  (ttl: awaited; otherwise started in the background)
//   connectDirect {host, port, ca, serverName, timeout} -> { connected, code, message }
//   connectRelay {host, port, ca, key?, cert?}   this socket's connection to the relay
//   acceptRelayed                         registers as a relay target
//   dialRelayed {peer, timeout}           connect({ via, peer }) -> { relayed, ... }
//   echoStream {bytes}                    -> sha256/length sent and received
//   echoDatagrams {count, size, tryMs, tries} -> per-datagram outcome
//   closeRelayed                          closes the relayed connection
//   report                                -> punches received, served connections, ...
'use strict';
const crypto = require('node:crypto');
const path = require('node:path');
const { serve, withTimeout } = require('../netns-rpc');

const { QuicSocket } = require(path.resolve(__dirname, '../../../dist'));
const { addr, readAll } = require('../netns-child');

const cfg = JSON.parse(process.argv[2]);
const sha = (buf) => crypto.createHash('sha256').update(buf).digest('hex');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let socket;
let relayConn; // this socket's connection to the relay
let relayed; // the dialer's relayed connection
const state = {
  punchesFrom: {}, // "address:port" -> punch packets received
  strayMessages: 0,
  served: [], // connections accepted by this peer's server
};

const log = serve(cfg.name, cfg.deadlineMs, {
  async bind() {
    socket = await QuicSocket.bind({ address: '0.0.0.0', port: 0 });
    socket.on('error', (err) => log('socket error', err.message));
    socket.on('punch', (from) => {
      const key = addr(from);
      if (!state.punchesFrom[key]) log('punch from', key);
      state.punchesFrom[key] = (state.punchesFrom[key] || 0) + 1;
    });
    socket.on('message', (data, from) => {
      state.strayMessages++;
      log('stray datagram from', from, data.length);
    });
    return socket.address;
  },

  listen({ key, cert }) {
    const server = socket.listen({ alpn: ['p2p'], key, cert });
    server.on('connection', (conn) => {
      const record = {
        relayed: conn.relayed,
        remoteAddress: conn.remoteAddress,
        alpn: conn.alpnProtocol,
        streamBytesEchoed: 0,
        datagramsEchoed: 0,
        close: undefined,
      };
      state.served.push(record);
      log('accepted connection, relayed =', conn.relayed, 'from', conn.remoteAddress);
      conn.on('stream', (s) => {
        s.on('error', (err) => log('served stream error', err.message));
        s.on('data', (d) => (record.streamBytesEchoed += d.length));
        s.pipe(s); // echo
      });
      conn.on('datagram', (d) => {
        record.datagramsEchoed++;
        conn.sendDatagram(d);
      });
      conn.closed.then((info) => {
        record.close = { code: info.code, remote: info.remote, reason: info.reason, error: info.error && info.error.code };
        log('served connection closed', record.close);
      });
    });
    return null;
  },

  stun({ host, port }) {
    return socket.stun(port, host, { timeout: 3000 });
  },

  async punch({ host, port, count, interval, ttl }) {
    const p = socket.punch(port, host, { count, interval, ttl });
    if (ttl !== undefined) await p;
    else p.catch((err) => log('punching failed', err.message));
    return null;
  },

  async connectDirect({ host, port, ca, serverName, timeout }) {
    const started = Date.now();
    try {
      const conn = await socket.connect({ host, port, alpn: ['p2p'], ca, serverName, timeout });
      const result = { connected: true, ms: Date.now() - started, remoteAddress: conn.remoteAddress, relayed: conn.relayed };
      // The control echoes a little data over it before closing.
      const s = await conn.openStream();
      const payload = crypto.randomBytes(4096);
      const back = readAll(s);
      s.end(payload);
      result.echoOk = (await withTimeout(back, 5000, 'direct echo')).equals(payload);
      await withTimeout(conn.close({ code: 0, reason: 'done' }), 3000, 'closing the direct connection');
      return result;
    } catch (err) {
      return { connected: false, ms: Date.now() - started, code: err.code, message: err.message };
    }
  },

  async connectRelay({ host, port, ca, key, cert }) {
    relayConn = await socket.connect({ host, port, alpn: ['relay'], ca, key, cert, keepAlive: 1000, idleTimeout: 60_000, timeout: 5000 });
    relayConn.on('close', (info) => log('connection to the relay closed', info && info.error ? info.error.code : 'clean'));
    return { localAddress: relayConn.localAddress, remoteAddress: relayConn.remoteAddress, relayed: relayConn.relayed };
  },

  async acceptRelayed() {
    await relayConn.acceptRelayed();
    return null;
  },

  async dialRelayed({ peer, timeout }) {
    relayed = await socket.connect({ via: relayConn, peer, alpn: ['p2p'], timeout });
    const certs = relayed.peerCertificates;
    return {
      relayed: relayed.relayed,
      alpn: relayed.alpnProtocol,
      remoteAddress: relayed.remoteAddress,
      peerFingerprint: certs.length > 0 ? sha(certs[0]) : undefined,
      maxDatagramSize: relayed.maxDatagramSize,
    };
  },

  async echoStream({ bytes }) {
    const payload = crypto.randomBytes(bytes);
    const started = Date.now();
    const s = await relayed.openStream();
    const back = readAll(s);
    s.end(payload);
    const received = await withTimeout(back, 20_000, 'stream echo through the relay');
    return {
      sent: payload.length,
      received: received.length,
      sentSha256: sha(payload),
      receivedSha256: sha(received),
      ms: Date.now() - started,
    };
  },

  // One datagram at a time: send, wait up to tryMs for the identical echo,
  // resend (up to `tries` times) if it does not come. Every datagram that
  // arrives is checked against those sent.
  async echoDatagrams({ count, size, tryMs, tries }) {
    const sent = new Set();
    const outcome = { count, size, echoed: 0, failed: [], attempts: 0, unknown: 0, received: 0, notQueued: 0 };
    let waiting;
    const onDatagram = (d) => {
      outcome.received++;
      const hex = Buffer.from(d).toString('hex');
      if (!sent.has(hex)) outcome.unknown++;
      if (waiting && hex === waiting.hex) waiting.resolve(true);
    };
    relayed.on('datagram', onDatagram);
    try {
      for (let i = 0; i < count; i++) {
        const payload = crypto.randomBytes(size);
        payload.writeUInt32BE(i, 0);
        const hex = payload.toString('hex');
        sent.add(hex);
        let ok = false;
        for (let t = 0; t < tries && !ok; t++) {
          outcome.attempts++;
          const echoed = new Promise((resolve) => (waiting = { hex, resolve }));
          if (!relayed.sendDatagram(payload)) outcome.notQueued++;
          ok = await Promise.race([echoed, sleep(tryMs).then(() => false)]);
        }
        waiting = undefined;
        if (ok) outcome.echoed++;
        else outcome.failed.push(i);
      }
      await sleep(100); // late duplicates are checked too
    } finally {
      relayed.off('datagram', onDatagram);
    }
    return outcome;
  },

  async closeRelayed() {
    const info = await withTimeout(relayed.close({ code: 0, reason: 'done' }), 5000, 'closing the relayed connection');
    return { code: info.code, remote: info.remote, error: info.error && info.error.code };
  },

  report() {
    return {
      ...state,
      relayConnOpen: relayConn ? !relayConn.destroyed : undefined,
    };
  },
});
