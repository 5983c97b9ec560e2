'use strict';
// Small helpers shared by the benchmark cases. No dependencies beyond Node core.

const { once } = require('node:events');
const crypto = require('node:crypto');

const KiB = 1024;
const MiB = 1024 * KiB;

/** Read a positive integer from the environment, falling back to `def`. */
function envInt(name, def) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`${name} must be a positive number, got ${JSON.stringify(raw)}`);
  return Math.floor(n);
}

/** A monotonic clock in milliseconds (float, sub-µs resolution) that allocates nothing: no BigInt per reading. */
function nowMs() {
  return performance.now();
}

/** Percentile (0..100) of an array of numbers, nearest-rank on the sorted list. */
function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

function median(values) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** One chunk of random bytes, reused for every write so all implementations send identical payloads. */
const chunkCache = new Map();
function payloadChunk(size) {
  let buf = chunkCache.get(size);
  if (!buf) {
    buf = crypto.randomBytes(size);
    chunkCache.set(size, buf);
  }
  return buf;
}

/**
 * Write `total` bytes to a Writable in `chunkSize` writes, honouring backpressure ('drain').
 * Does not call end(). Rejects if the stream errors, closes early, or `signal` aborts.
 */
async function writeAll(stream, total, chunkSize, signal) {
  const chunk = payloadChunk(chunkSize);
  let sent = 0;
  while (sent < total) {
    if (signal && signal.aborted) throw signal.reason || new Error('aborted');
    const n = Math.min(chunkSize, total - sent);
    const ok = stream.write(n === chunkSize ? chunk : chunk.subarray(0, n));
    sent += n;
    if (!ok) await waitDrain(stream, signal);
  }
  return sent;
}

function waitDrain(stream, signal) {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('drain', onDrain);
      stream.off('error', onError);
      stream.off('close', onClose);
      if (signal) signal.removeEventListener('abort', onAbort);
    };
    const onDrain = () => { cleanup(); resolve(); };
    const onError = (err) => { cleanup(); reject(err); };
    const onClose = () => { cleanup(); reject(new Error('stream closed while waiting for drain')); };
    const onAbort = () => { cleanup(); reject(signal.reason || new Error('aborted')); };
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Collect a Readable to a Buffer until 'end'. */
async function readAll(stream, signal) {
  const parts = [];
  const done = once(stream, 'end', { signal });
  stream.on('data', (c) => parts.push(c));
  await done;
  return Buffer.concat(parts);
}

/** Resolve when `promise` settles or after `ms`, whichever first (never rejects). Used for cleanup. */
function settleWithin(promise, ms) {
  let timer;
  return Promise.race([
    Promise.resolve(promise).then(() => true, () => true),
    new Promise((resolve) => { timer = setTimeout(() => resolve(false), ms); timer.unref(); }),
  ]).finally(() => clearTimeout(timer));
}

/** An error that marks a (case, implementation) pair as skipped (not failed), with a reason. */
function skip(reason) {
  const err = new Error(reason);
  err.code = 'BENCH_SKIP';
  return err;
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(signal.reason || new Error('aborted')); return; }
    const onAbort = () => { clearTimeout(timer); reject(signal.reason || new Error('aborted')); };
    const timer = setTimeout(() => { if (signal) signal.removeEventListener('abort', onAbort); resolve(); }, ms);
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Buffer view of a Uint8Array without copying. */
function asBuffer(u8) {
  return Buffer.isBuffer(u8) ? u8 : Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength);
}

function errorMessage(err) {
  if (!err) return 'unknown error';
  const code = err.code ? ` [${err.code}]` : '';
  return `${err.message || String(err)}${code}`;
}

module.exports = {
  KiB, MiB, envInt, nowMs, percentile, median, payloadChunk, writeAll, waitDrain, readAll, settleWithin, errorMessage,
  skip, sleep, asBuffer,
};
