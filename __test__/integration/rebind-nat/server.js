#!/usr/bin/env node
// The server of the conntrack-flush test (__test__/integration/rebind-nat.test.ts),
// run in the public namespace. Each stream starts with one byte naming a transfer:
//   'e' echo what follows; 'u' reply with the sha256 (hex) of what follows;
//   'd' + 4-byte size (big-endian): send that many bytes of pattern(), then end.
// After each stream, and whenever the connection's path changes (looked at
// every 20 ms), it prints `STATS {"pathChanges":N,"remotePort":P}`: a path
// change counts once the new path is validated, which may come after the
// last transfer on that path has ended.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { listen } = require(path.resolve(__dirname, '../../../dist'));
const { pattern } = require('./pattern');

const cfg = JSON.parse(process.argv[2]);
setTimeout(() => process.exit(2), cfg.deadlineMs).unref();

function onStream(conn, stream) {
  let mode;
  let hash;
  const report = () => {
    const stats = conn.stats();
    console.log(`STATS ${JSON.stringify({ pathChanges: stats.pathChanges, remotePort: conn.remoteAddress.port })}`);
  };
  stream.on('data', (chunk) => {
    if (mode === undefined) {
      mode = String.fromCharCode(chunk[0]);
      chunk = chunk.subarray(1);
      hash = crypto.createHash('sha256');
    }
    if (mode === 'e') {
      if (chunk.length > 0 && !stream.write(chunk)) {
        stream.pause();
        stream.once('drain', () => stream.resume());
      }
    } else if (mode === 'u') hash.update(chunk);
    else if (mode === 'd' && chunk.length >= 4) {
      const size = chunk.readUInt32BE(0);
      let sent = 0;
      const more = () => {
        while (sent < size) {
          const part = pattern(sent, Math.min(1 << 20, size - sent));
          sent += part.length;
          if (!stream.write(part)) return void stream.once('drain', more);
        }
        stream.end(report);
      };
      more();
    }
  });
  stream.on('end', () => {
    if (mode === 'e') stream.end(report);
    else if (mode === 'u') stream.end(hash.digest('hex'), report);
  });
}

(async () => {
  const server = await listen({
    address: cfg.address,
    port: cfg.port,
    alpn: ['rebind'],
    key: fs.readFileSync(cfg.key),
    cert: fs.readFileSync(cfg.cert),
  });
  server.on('connection', (conn) => {
    conn.on('stream', (stream) => onStream(conn, stream));
    let seen = '';
    const watch = setInterval(() => {
      const now = JSON.stringify({ pathChanges: conn.stats().pathChanges, remotePort: conn.remoteAddress.port });
      if (now !== seen) console.log(`STATS ${(seen = now)}`);
    }, 20);
    watch.unref();
    conn.once('close', () => clearInterval(watch));
  });
  console.log('LISTENING');
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
