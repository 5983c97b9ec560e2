'use strict';
// Server/client setup shared by the cases, one pair of helpers per implementation. Every helper
// registers its own cleanup with ctx.defer(), so an aborted (timed-out) case still releases its
// sockets and the process can exit.

const tls = require('node:tls');
const { once } = require('node:events');

const ALPN = 'bench';
const HOST = '127.0.0.1';
const SERVER_NAME = 'localhost';

// ---------------------------------------------------------------------------------------- nquic
async function nquicServer(ctx, onStream, extra = {}, onConnection = null) {
  const { listen } = ctx.nquic;
  const server = await listen({
    address: HOST, port: 0, alpn: [ALPN], key: ctx.creds.key, cert: ctx.creds.cert, ...extra,
  });
  ctx.defer(() => server.close());
  if (typeof server.on === 'function') server.on('error', (err) => ctx.fail(err));
  server.on('connection', (conn) => {
    conn.on('error', () => {}); // connection faults surface on the client side of each case
    if (onStream) conn.on('stream', (stream) => onStream(stream, conn));
    if (onConnection) onConnection(conn);
  });
  return server;
}

async function nquicConnect(ctx, server, extra = {}) {
  const { connect } = ctx.nquic;
  const conn = await connect({
    host: HOST, port: server.address.port, alpn: [ALPN], ca: ctx.creds.cert, serverName: SERVER_NAME,
    signal: ctx.signal, ...extra,
  });
  conn.on('error', (err) => ctx.fail(err));
  return conn;
}

// ------------------------------------------------------------------------------------- node:tls
async function tlsServer(ctx, onSocket) {
  const server = tls.createServer({
    key: ctx.creds.key, cert: ctx.creds.cert, minVersion: 'TLSv1.3', ALPNProtocols: [ALPN], allowHalfOpen: true,
  }, (socket) => {
    socket.on('error', () => {});
    if (onSocket) onSocket(socket);
    else socket.on('end', () => socket.end());
  });
  server.on('tlsClientError', () => {});
  const sockets = new Set();
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  ctx.defer(() => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  }));
  server.listen(0, HOST);
  await once(server, 'listening', { signal: ctx.signal });
  return server;
}

async function tlsConnect(ctx, server) {
  const socket = tls.connect({
    host: HOST, port: server.address().port, ca: ctx.creds.cert, servername: SERVER_NAME,
    minVersion: 'TLSv1.3', ALPNProtocols: [ALPN],
  });
  try {
    await once(socket, 'secureConnect', { signal: ctx.signal });
  } catch (err) {
    socket.destroy();
    throw err;
  }
  return socket;
}

/** Gracefully close a TLS client socket (close_notify + FIN) and wait until it is fully closed. */
async function tlsClose(socket) {
  if (socket.destroyed) return;
  const closed = once(socket, 'close');
  socket.end();
  socket.resume(); // consume anything left so 'end' (and then 'close') can happen
  await closed;
}

module.exports = { ALPN, HOST, SERVER_NAME, nquicServer, nquicConnect, tlsServer, tlsConnect, tlsClose };
