#!/usr/bin/env node
// The public side of the relayed-connection test
// (__test__/integration/relay-nat.test.ts), run in the "pub" namespace.
//
// - An nquic relay: QuicSocket on cfg.relay (10.99.0.1:4433) with
//   listen({ relay: true }). The same socket answers STUN binding requests
//   (its 'message' event), so a peer's STUN mapping toward the relay is the
//   one its relay connection uses.
// - A second, independent STUN responder (plain node:dgram) on another
//   address AND port (cfg.stun2, 10.99.0.2:3478): STUN to both from one
//   socket shows whether the peer's NAT keeps one mapping for all
//   destinations (cone) or makes a new one per destination (symmetric).
//
// Commands (see ../netns-rpc.js): start {key, cert}, stats, exit.
'use strict';
const dgram = require('node:dgram');
const path = require('node:path');
const { serve } = require('../netns-rpc');

const DIST = path.resolve(__dirname, '../../../dist');
const { QuicSocket, stunBindingResponse, isStunBindingRequest } = require(DIST);

const cfg = JSON.parse(process.argv[2]);
const seen = {
  stun: { relay: [], second: [] }, // "address:port" of each binding request, per responder
  otherMessages: 0, // non-QUIC datagrams at the relay socket that are not STUN requests
  punches: [], // punch packets that reached the relay socket
  connections: [], // { remote, relayed } of each connection the relay accepted
  closed: [], // remote of each connection that ended
};
let socket;
let server;

const log = serve('relay', cfg.deadlineMs, {
  async start({ key, cert }) {
    socket = await QuicSocket.bind({ address: cfg.relay.address, port: cfg.relay.port });
    socket.on('error', (err) => log('relay socket error', err.message));
    socket.on('message', (data, from) => {
      if (isStunBindingRequest(data)) {
        seen.stun.relay.push(`${from.address}:${from.port}`);
        socket.send(stunBindingResponse(data, from), from.port, from.address).catch((err) => log('STUN reply failed', err.message));
      } else {
        seen.otherMessages++;
      }
    });
    socket.on('punch', (from) => seen.punches.push(`${from.address}:${from.port}`));
    server = socket.listen({ alpn: ['relay'], key, cert, relay: true, idleTimeout: 60_000 });
    server.on('connection', (conn) => {
      const remote = `${conn.remoteAddress.address}:${conn.remoteAddress.port}`;
      seen.connections.push({ remote, relayed: conn.relayed });
      log('connection from', remote);
      conn.on('close', () => {
        seen.closed.push(remote);
        log('connection closed', remote);
      });
    });

    const second = dgram.createSocket('udp4');
    second.on('error', (err) => log('second STUN socket error', err.message));
    second.on('message', (data, rinfo) => {
      if (!isStunBindingRequest(data)) return;
      const from = { address: rinfo.address, port: rinfo.port, family: 'IPv4' };
      seen.stun.second.push(`${from.address}:${from.port}`);
      second.send(stunBindingResponse(data, from), from.port, from.address);
    });
    await new Promise((resolve, reject) => {
      second.once('error', reject);
      second.bind(cfg.stun2.port, cfg.stun2.address, () => {
        second.off('error', reject);
        resolve();
      });
    });
    log('listening', socket.address, second.address());
    return { relay: socket.address, stun2: second.address() };
  },

  stats() {
    return { ...server.relayStats(), seen };
  },
});
