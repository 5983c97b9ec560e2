'use strict';
// @matrixai/quic (js-quic, also over quiche) as a comparison implementation. It is an optional
// devDependency: `npm install --no-save @matrixai/quic@2.0.9`. When it cannot be loaded every pair
// using it is reported as skipped with the reason, never as failed.
//
// js-quic is ESM-only, so it is loaded with a dynamic import(). Its servers need `crypto.key` plus
// HMAC sign/verify ops (for retry/stateless-reset tokens) and its clients a randomBytes op; those
// are provided here from node:crypto. Streams are WHATWG streams (stream.readable / stream.writable).
// Transport settings are aligned with nquic's defaults where js-quic exposes them.

const crypto = require('node:crypto');
const { HOST, SERVER_NAME, ALPN } = require('./peers');
const { skip, errorMessage, asBuffer } = require('./util');

const PACKAGE = '@matrixai/quic';
const TESTED_VERSION = '2.0.9';
const MiB = 1024 * 1024;

let loading = null;

/** Resolve to { m, logger, version } or reject with a BENCH_SKIP error saying why. */
function load() {
  if (!loading) {
    loading = (async () => {
      let m;
      try {
        m = await import(PACKAGE);
      } catch (err) {
        const missing = err && (err.code === 'ERR_MODULE_NOT_FOUND' || err.code === 'MODULE_NOT_FOUND')
          && String(err.message).includes(PACKAGE);
        throw skip(missing
          ? `${PACKAGE} not installed (npm install --no-save ${PACKAGE}@${TESTED_VERSION})`
          : `${PACKAGE} failed to load: ${errorMessage(err)}`);
      }
      let version = '?';
      try { version = require(`${PACKAGE}/package.json`).version; } catch { /* informational only */ }
      return { m, logger: await silentLogger(), version };
    })();
    loading.catch(() => {});
  }
  return loading;
}

/** js-quic logs INFO lines by default; give it a silent @matrixai/logger (or a no-op stand-in). */
async function silentLogger() {
  try {
    const mod = await import('@matrixai/logger');
    const Logger = mod.default;
    return new Logger('bench', mod.LogLevel.SILENT, []);
  } catch {
    const noop = () => {};
    const fake = {
      getChild: () => fake, debug: noop, info: noop, warn: noop, error: noop, log: noop,
      setLevel: noop, key: 'bench', level: 0,
    };
    return fake;
  }
}

function arrayBufferOf(buf) {
  return buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
}

const serverCryptoOps = {
  async sign(key, data) {
    return arrayBufferOf(crypto.createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest());
  },
  async verify(key, data, sig) {
    const mac = crypto.createHmac('sha256', Buffer.from(key)).update(Buffer.from(data)).digest();
    const s = Buffer.from(sig);
    return s.length === mac.length && crypto.timingSafeEqual(mac, s);
  },
};
const clientCryptoOps = {
  async randomBytes(data) { crypto.randomFillSync(new Uint8Array(data)); },
};

/** nquic's defaults (src/config.rs), in js-quic's config vocabulary. */
const transportConfig = {
  applicationProtos: [ALPN],
  maxIdleTimeout: 30000,
  maxSendUdpPayloadSize: 1350,
  initialMaxData: 4 * MiB,
  initialMaxStreamDataBidiLocal: MiB,
  initialMaxStreamDataBidiRemote: MiB,
  initialMaxStreamDataUni: MiB,
  initialMaxStreamsBidi: 100,
  initialMaxStreamsUni: 100,
  maxStreamWindow: 16 * MiB,
  maxConnectionWindow: 24 * MiB,
};

/**
 * Start a js-quic server on 127.0.0.1; `onStream(stream, conn)` for each peer-opened stream.
 * Returns the QUICServer (`.port`). Registers its stop with ctx.defer().
 */
async function mxServer(ctx, onStream) {
  const { m, logger } = await load();
  const server = new m.QUICServer({
    config: { ...transportConfig, key: ctx.creds.key, cert: ctx.creds.cert, verifyPeer: false },
    crypto: { key: arrayBufferOf(crypto.randomBytes(32)), ops: serverCryptoOps },
    logger,
  });
  const conns = new Set();
  server.addEventListener(m.events.EventQUICServerConnection.name, (evt) => {
    const conn = evt.detail;
    conns.add(conn);
    conn.addEventListener(m.events.EventQUICConnectionStopped.name, () => conns.delete(conn), { once: true });
    conn.addEventListener(m.events.EventQUICConnectionError.name, () => {}); // surfaces client-side
    if (onStream) {
      conn.addEventListener(m.events.EventQUICConnectionStream.name, (e) => {
        Promise.resolve().then(() => onStream(e.detail, conn)).catch(() => {});
      });
    }
  });
  server.addEventListener(m.events.EventQUICServerError.name, (evt) => ctx.fail(evt.detail || new Error('QUICServer error')));
  await server.start({ host: HOST, port: 0 });
  ctx.defer(() => server.stop({ force: true }));
  return server;
}

/** Connect a js-quic client (own UDP socket, like nquic's connect()). Caller destroys it. */
async function mxConnect(ctx, server) {
  const { m, logger } = await load();
  const client = await m.QUICClient.createQUICClient({
    host: HOST, port: server.port, localHost: HOST, serverName: SERVER_NAME,
    config: { ...transportConfig, ca: ctx.creds.cert, verifyPeer: true },
    crypto: { ops: clientCryptoOps },
    logger,
  }, { signal: ctx.signal });
  return client;
}

async function mxDestroy(client) {
  if (client && !client.closed) await client.destroy({ force: true });
}

/** Collect a web ReadableStream to a Buffer. */
async function readAllWeb(readable) {
  const parts = [];
  const reader = readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    parts.push(asBuffer(value));
  }
  reader.releaseLock();
  return Buffer.concat(parts);
}

/** Server side of bulk: count bytes, reply {"bytes":n}, close. */
async function countingSinkWeb(stream) {
  let n = 0;
  const reader = stream.readable.getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    n += value.byteLength;
  }
  const writer = stream.writable.getWriter();
  await writer.write(Buffer.from(JSON.stringify({ bytes: n })));
  await writer.close();
}

/** Server side of round trips: read the whole request, echo it, close. */
async function echoWeb(stream) {
  const body = await readAllWeb(stream.readable);
  const writer = stream.writable.getWriter();
  if (body.length) await writer.write(body);
  await writer.close();
}

module.exports = {
  PACKAGE, TESTED_VERSION, load, mxServer, mxConnect, mxDestroy, readAllWeb, countingSinkWeb, echoWeb,
};
