#!/usr/bin/env node
// A rendezvous (and relay) of the dial-by-key test
// (__test__/integration/dial-nat.test.ts), run in the "pub" namespace.
//
// Commands (see ../netns-rpc.js):
//   start {address, port, key, cert, dropOnDial}
//       listen({ rendezvous, relay }). With dropOnDial, the rendezvous goes
//       away in the middle of the first dial it is asked about: its allow
//       policy waits holdMs, then the socket closes.
//   stats  -> { peers, flows, connections, dialsAsked }
'use strict';
const path = require('node:path');
const { serve } = require('../netns-rpc');

const { QuicSocket } = require(path.resolve(__dirname, '../../../dist'));

const cfg = JSON.parse(process.argv[2]);
let socket;
let server;
const seen = { connections: [], dialsAsked: 0 };

const log = serve(cfg.name, cfg.deadlineMs, {
  async start({ address, port, key, cert, dropOnDial, holdMs }) {
    socket = await QuicSocket.bind({ address, port });
    socket.on('error', (err) => log('socket error', err.message));
    const allow = async () => {
      seen.dialsAsked++;
      if (!dropOnDial) return true;
      await new Promise((r) => setTimeout(r, holdMs));
      log('dropping out');
      void socket.close();
      return new Promise(() => {});
    };
    server = socket.listen({ alpn: ['rdv'], key, cert, idleTimeout: 60_000, relay: true, rendezvous: { allow } });
    server.on('connection', (conn) => {
      seen.connections.push(`${conn.remoteAddress.address}:${conn.remoteAddress.port}`);
      log('connection from', conn.remoteAddress);
    });
    return socket.address;
  },

  stats() {
    return { ...server.relayStats(), rendezvousPeers: server.rendezvousStats().peers, ...seen };
  },
});
