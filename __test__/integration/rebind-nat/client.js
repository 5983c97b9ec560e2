#!/usr/bin/env node
// The client of the conntrack-flush test, behind the masquerading NAT. It
// runs three transfers of cfg.size bytes on one connection: an echo (both
// sides send), a download and an upload (one side idle). In each it prints
// `PROGRESS <n>` once cfg.flushAfter bytes moved, so that the test flushes the
// NAT's conntrack table mid-transfer, and it ends with `RESULT <json>`. It then
// keeps the connection (PINGs every 50 ms while idle) until its stdin ends: a
// flush that a loaded test makes only after the last transfer ended still
// gets a packet from the new port, so the server can follow and validate it.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { connect } = require(path.resolve(__dirname, '../../../dist'));
const { pattern } = require('./pattern');

const cfg = JSON.parse(process.argv[2]);
setTimeout(() => {
  console.log(`RESULT ${JSON.stringify({ error: 'deadline', results })}`);
  process.exit(2);
}, cfg.deadlineMs).unref();
const results = [];

/** Reads to the end, hashing; calls `progress` once after `flushAfter` bytes. */
function digest(stream, progress) {
  return new Promise((resolve, reject) => {
    const hash = crypto.createHash('sha256');
    let received = 0;
    let told = false;
    stream.on('data', (chunk) => {
      hash.update(chunk);
      received += chunk.length;
      if (!told && received >= cfg.flushAfter) {
        told = true;
        progress();
      }
    });
    stream.on('end', () => resolve({ hex: hash.digest('hex'), received }));
    stream.on('error', reject);
  });
}

async function write(stream, first, total, progress) {
  const hash = crypto.createHash('sha256');
  stream.write(Buffer.from(first));
  let told = false;
  for (let sent = 0; sent < total; ) {
    const part = crypto.randomBytes(Math.min(1 << 20, total - sent));
    hash.update(part);
    sent += part.length;
    if (progress && !told && sent >= cfg.flushAfter) {
      told = true;
      progress();
    }
    if (!stream.write(part)) await new Promise((r) => stream.once('drain', r));
  }
  stream.end();
  return hash.digest('hex');
}

(async () => {
  const conn = await connect({
    host: cfg.host,
    port: cfg.port,
    alpn: ['rebind'],
    ca: fs.readFileSync(cfg.cert),
    serverName: 'localhost',
    keepAlive: 50,
  });
  let n = 0;
  const progress = () => console.log(`PROGRESS ${++n}`);

  let s = await conn.openStream();
  const [written, echoed] = await Promise.all([write(s, 'e', cfg.size), digest(s, progress)]);
  results.push({ transfer: 'echo', ok: written === echoed.hex, bytes: echoed.received });

  s = await conn.openStream();
  const request = Buffer.alloc(5);
  request.write('d');
  request.writeUInt32BE(cfg.size, 1);
  s.end(request);
  const got = await digest(s, progress);
  const want = crypto.createHash('sha256').update(pattern(0, cfg.size)).digest('hex');
  results.push({ transfer: 'download', ok: got.hex === want, bytes: got.received });

  s = await conn.openStream();
  const reply = digest(s, () => {});
  let text = '';
  s.on('data', (d) => (text += d));
  const uploaded = await write(s, 'u', cfg.size, progress);
  await reply;
  results.push({ transfer: 'upload', ok: text === uploaded, bytes: cfg.size });

  console.log(`RESULT ${JSON.stringify({ results, pathChanges: conn.stats().pathChanges })}`);
  await new Promise((resolve) => process.stdin.once('end', resolve).resume());
  await conn.close();
  process.exit(0);
})().catch((err) => {
  console.log(`RESULT ${JSON.stringify({ error: String(err && err.stack), results })}`);
  process.exit(1);
});
