#!/usr/bin/env node
// Rendezvous for the NAT hole-punching test (__test__/integration/nat.test.ts).
// Runs in the "public" namespace. One nquic QuicSocket does two jobs:
//   - answers STUN binding requests (its 'message' event) with the address
//     and port the request came from, i.e. the peer's NAT mapping;
//   - serves a small QUIC signaling protocol (ALPN "nq-rdv"): each peer opens
//     one bidirectional stream and exchanges newline-delimited JSON:
//       peer → {type:'hello', name, mapped}     rdv → {type:'peer', name, mapped}   (once both said hello)
//       peer → {type:'ready'}                   rdv → {type:'go'}                    (once both are ready)
// It never forwards application data. On SIGTERM (or its own deadline) it
// prints `RESULT <json>` with everything it saw, so the test can prove the
// direct connection never went through it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const DIST = path.resolve(__dirname, '../../../dist');
const { QuicSocket } = require(DIST);
const { stunBindingResponse: bindingResponse, isStunBindingRequest: isBindingRequest } = require(DIST);

const cfg = JSON.parse(process.argv[2]);
const t0 = Date.now();
const log = (...a) => process.stderr.write(`[rdv +${Date.now() - t0}ms] ${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}\n`);

const seen = {
  stunRequests: [], // "address:port" of each binding request
  otherMessages: 0, // non-QUIC datagrams that are not STUN requests
  punches: [], // punch packets addressed to the rendezvous (there should be none)
  connections: [], // remote addresses of accepted signaling connections
  hellos: {}, // name -> { mapped (as the peer learned it by STUN), remote (as seen here) }
  ready: [],
  goSent: false,
};

let socket;
function finish(code) {
  process.stdout.write(`RESULT ${JSON.stringify(seen)}\n`);
  process.exit(code);
}
process.on('SIGTERM', () => finish(0));
setTimeout(() => {
  log('deadline reached');
  finish(3);
}, cfg.deadlineMs);

async function main() {
  socket = await QuicSocket.bind({ address: cfg.address, port: cfg.port });
  socket.on('message', (data, from) => {
    if (isBindingRequest(data)) {
      seen.stunRequests.push(`${from.address}:${from.port}`);
      socket.send(bindingResponse(data, from), from.port, from.address).catch((err) => log('STUN reply failed', err.message));
    } else {
      seen.otherMessages++;
    }
  });
  socket.on('punch', (from) => seen.punches.push(`${from.address}:${from.port}`));
  socket.on('error', (err) => log('socket error', err.message));

  const server = socket.listen({
    alpn: ['nq-rdv'],
    key: fs.readFileSync(cfg.key),
    cert: fs.readFileSync(cfg.cert),
    idleTimeout: 60_000,
  });
  const peers = new Map(); // name -> { stream, mapped }
  const send = (stream, msg) => stream.write(`${JSON.stringify(msg)}\n`);
  const maybeIntroduce = () => {
    if (peers.size !== 2) return;
    const [a, b] = [...peers.entries()];
    send(a[1].stream, { type: 'peer', name: b[0], mapped: b[1].mapped });
    send(b[1].stream, { type: 'peer', name: a[0], mapped: a[1].mapped });
    log('introduced', a[0], a[1].mapped, b[0], b[1].mapped);
  };
  const maybeGo = () => {
    if (seen.ready.length !== 2 || seen.goSent) return;
    seen.goSent = true;
    for (const { stream } of peers.values()) send(stream, { type: 'go' });
    log('go');
  };

  server.on('connection', (conn) => {
    const remote = conn.remoteAddress;
    seen.connections.push(`${remote.address}:${remote.port}`);
    log('signaling connection from', remote);
    conn.on('stream', (stream) => {
      let buf = '';
      let name;
      stream.setEncoding('utf8');
      stream.on('error', () => {});
      stream.on('data', (chunk) => {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const msg = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          if (msg.type === 'hello') {
            name = msg.name;
            seen.hellos[name] = { mapped: msg.mapped, remote: `${remote.address}:${remote.port}` };
            peers.set(name, { stream, mapped: msg.mapped });
            maybeIntroduce();
          } else if (msg.type === 'ready') {
            log('ready', name);
            if (!seen.ready.includes(name)) seen.ready.push(name);
            maybeGo();
          }
        }
      });
    });
    conn.on('close', () => log('signaling connection closed', remote));
  });
  process.stdout.write(`LISTENING ${JSON.stringify(socket.address)}\n`);
}

main().catch((err) => {
  log('fatal', err.stack || String(err));
  seen.fatal = String(err);
  finish(2);
});
