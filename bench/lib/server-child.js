'use strict';
// Child process for the two-process cases (bench/cases/bulk-2proc.js), started with
// child_process.fork(). Protocol over the IPC channel:
//   parent -> { cmd: 'start', impl: 'nquic' | 'node:tls', sink: 'count', creds: { key, cert } }
//   child  -> { ready: true, port } | { error: message }
//   parent -> { cmd: 'stop' }  (or just disconnects / kills): the child closes and exits.
// The server logic is the same counting sink the in-process bulk case uses.

const peers = require('./peers');
const { countingSink } = require('../cases/bulk');
const { errorMessage } = require('./util');

const cleanups = [];
const ac = new AbortController();

async function start(msg) {
  const ctx = {
    nquic: msg.impl === 'nquic' ? require('../..') : null,
    creds: msg.creds,
    signal: ac.signal,
    defer: (f) => cleanups.push(f),
    fail: (err) => { console.error(`bench server child: ${errorMessage(err)}`); },
  };
  if (msg.impl === 'nquic') {
    const server = await peers.nquicServer(ctx, countingSink);
    return server.address.port;
  }
  if (msg.impl === 'node:tls') {
    const server = await peers.tlsServer(ctx, countingSink);
    return server.address().port;
  }
  throw new Error(`unknown impl ${msg.impl}`);
}

async function stop(code) {
  ac.abort(new Error('stopping'));
  const timer = setTimeout(() => process.exit(code), 3000);
  for (const f of cleanups.reverse()) { try { await f(); } catch { /* exiting */ } }
  clearTimeout(timer);
  process.exit(code);
}

process.on('message', (msg) => {
  if (msg && msg.cmd === 'start') {
    start(msg).then(
      (port) => process.send({ ready: true, port, pid: process.pid }),
      (err) => process.send({ error: errorMessage(err) }),
    );
  } else if (msg && msg.cmd === 'stop') {
    stop(0);
  }
});
process.on('disconnect', () => stop(0));
process.on('uncaughtException', (err) => { console.error(`bench server child: ${errorMessage(err)}`); stop(1); });
