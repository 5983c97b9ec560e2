'use strict';
// Native Rust baseline: bench/native-baseline/ is a standalone Cargo project running plain quiche
// 0.30 (same crate and BoringSSL as nquic) with client and server in one thread on two non-blocking
// std::net::UdpSockets, with nquic's default transport settings. It measures the bulk upload, the
// sequential handshakes, the datagram echo and the sequential stream round-trip workloads with the
// parameters of the bulk, handshake, datagram and stream-rtt cases, and prints JSON. This case runs
// that binary as a child process ('quiche (Rust)' column) and the same four workloads through nquic
// with the same parameters, so the ratio column shows what the Node binding costs over the raw
// library. The baseline busy-polls its sockets, so its round trips pay no event-loop wake-up: for
// them it is the ceiling, not a like-for-like peer.
//
// The nquic side runs in a fresh Node process too (bench/lib/native-nquic-child.js: parameters and
// certificate on stdin, one JSON object on stdout), not in the bench process: both columns then start
// from a fresh process, and the cases that ran before cannot move nquic's figures. Run in-process
// after the @matrixai/quic cases, its bulk fell (2-core machine, 5 runs: median 0.55x native, against
// 0.76x with BENCH_CASES=native) with nothing of theirs left running; the cause was not found. The
// environment (BENCH_*, NQUIC_*) reaches the child; it runs the parameters this process read.
//
// prepare() builds it once per run: `cargo build --release --manifest-path
// bench/native-baseline/Cargo.toml` (its own target dir, bench/native-baseline/target). The first
// build compiles BoringSSL and takes a few minutes; later runs are a no-op check. No cargo: skipped
// with a note. BENCH_NATIVE_BUILD=0 uses an existing binary without invoking cargo.

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');
const { envInt, skip, errorMessage } = require('../lib/util');
const { runProcess } = require('../lib/child');
const bulk = require('./bulk');
const handshake = require('./handshake');
const datagram = require('./datagram');
const streamRtt = require('./stream-rtt');

const NQUIC_DEFAULT_CC = 'bbr2';

const DIR = path.join(__dirname, '..', 'native-baseline');
const TARGET = path.join(DIR, 'target');
const BIN = path.join(TARGET, 'release', process.platform === 'win32' ? 'nquic-native-baseline.exe' : 'nquic-native-baseline');
const NQUIC_CHILD = path.join(__dirname, '..', 'lib', 'native-nquic-child.js');

function config() {
  const b = bulk.config();
  const h = handshake.config();
  const d = datagram.config();
  const r = streamRtt.config();
  return {
    bulk: { bytes: b.bytes, chunkSize: b.chunkSize },
    handshake: { count: h.count, warmup: h.warmup },
    datagram: { seconds: d.seconds, window: d.window, size: d.size },
    rtt: { count: r.count, seconds: r.seconds, bytes: r.bytes },
    label: 'vs native quiche',
  };
}

/** Each side prints one JSON object as the last line of its stdout. */
function lastJson(out, label) {
  const line = out.trim().split('\n').pop();
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`${label} printed no JSON result (last line: ${JSON.stringify(line.slice(0, 200))})`);
  }
}

async function prepare() {
  if (process.env.BENCH_NATIVE_BUILD === '0') {
    if (!fs.existsSync(BIN)) throw skip(`BENCH_NATIVE_BUILD=0 and no binary at ${path.relative(process.cwd(), BIN)}`);
    return { bin: BIN, info: 'prebuilt binary (BENCH_NATIVE_BUILD=0)' };
  }
  const probe = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) {
    if (fs.existsSync(BIN)) return { bin: BIN, info: 'cargo not found: using the existing binary, not rebuilt' };
    throw skip('cargo not found: install Rust (rustup) to run the native quiche baseline');
  }
  // The baseline runs the same patched quiche as the addon.
  await runProcess(process.execPath, [path.join(__dirname, '..', '..', 'scripts', 'patch-quiche.js')], { label: 'scripts/patch-quiche.js' }, 120000);
  const fresh = !fs.existsSync(BIN);
  if (fresh) console.error('  native       building bench/native-baseline (first build compiles BoringSSL: a few minutes)...');
  const timeoutMs = envInt('BENCH_NATIVE_BUILD_TIMEOUT_S', 900) * 1000;
  await runProcess('cargo', ['build', '--release', '--quiet', '--manifest-path', path.join(DIR, 'Cargo.toml')],
    { env: { ...process.env, CARGO_TARGET_DIR: TARGET }, label: 'cargo build' }, timeoutMs);
  return { bin: BIN, info: `${probe.stdout.trim()}${fresh ? ', built now' : ''}` };
}

async function runNative(ctx, cfg) {
  const p = ctx.prepared;
  if (!p) throw new Error('native case was not prepared');
  if (!p.ok) throw p.error.code === 'BENCH_SKIP' ? p.error : new Error(`native baseline build failed: ${errorMessage(p.error)}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nquic-bench-native-'));
  ctx.defer(() => fs.rmSync(dir, { recursive: true, force: true }));
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  fs.writeFileSync(certFile, ctx.creds.cert);
  fs.writeFileSync(keyFile, ctx.creds.key, { mode: 0o600 });
  const timeoutS = envInt('BENCH_TIMEOUT_S', 60);
  const args = [
    '--cert', certFile, '--key', keyFile,
    '--bulk-mb', String(cfg.bulk.bytes / (1024 * 1024)), '--chunk-kb', String(cfg.bulk.chunkSize / 1024),
    '--handshakes', String(cfg.handshake.count), '--warmup', String(cfg.handshake.warmup),
    '--dgram-seconds', String(cfg.datagram.seconds), '--dgram-window', String(cfg.datagram.window),
    '--dgram-size', String(cfg.datagram.size),
    '--rtt-seconds', String(cfg.rtt.seconds), '--rtt-bytes', String(cfg.rtt.bytes), '--timeout-s', String(Math.max(5, timeoutS - 5)),
    // nquic's default congestion control (src/config.rs), so both run the same algorithm.
    '--cc', NQUIC_DEFAULT_CC,
  ];
  const { out } = await runProcess(p.value.bin, args, { signal: ctx.signal, label: 'native baseline' }, timeoutS * 1000);
  const r = lastJson(out, 'native baseline');
  return {
    bulk: r.bulk.throughput,
    bulkCold: r.bulk.coldThroughput,
    hsMedian: r.handshake.median,
    hsP99: r.handshake.p99,
    dgramRate: r.datagram.rate,
    dgramRtt: r.datagram.rttMedianMs,
    rttRate: r.rtt.rate,
    extra: r,
  };
}

/**
 * The nquic side's four workloads, in the baseline's order; runs in the child
 * (bench/lib/native-nquic-child.js). `stage(name)` is told which one is running.
 */
async function nquicWorkloads(ctx, cfg, stage = () => {}) {
  stage('bulk');
  const b = await bulk.impls.nquic(ctx, { ...cfg.bulk });
  stage('handshake');
  const h = await handshake.impls.nquic(ctx, { ...cfg.handshake });
  stage('datagram');
  const d = await datagram.nquicDatagrams(ctx, { ...cfg.datagram });
  stage('stream round trips');
  const r = await streamRtt.impls.nquic(ctx, { ...cfg.rtt });
  return { bulk: b, handshake: h, datagram: d, rtt: r };
}

async function runNquic(ctx, cfg) {
  const timeoutS = envInt('BENCH_TIMEOUT_S', 60);
  // The certificate goes over stdin, not the command line; the child gives up a little before the
  // kill, as the baseline does (--timeout-s), so a hang is reported with the workload it was in.
  const input = JSON.stringify({ cfg, creds: { key: ctx.creds.key, cert: ctx.creds.cert }, timeoutS: Math.max(5, timeoutS - 5) });
  const { out } = await runProcess(process.execPath, [NQUIC_CHILD], { input, signal: ctx.signal, label: 'nquic child' }, timeoutS * 1000);
  const { bulk: b, handshake: h, datagram: d, rtt: r } = lastJson(out, 'nquic child');
  return {
    bulk: b.throughput,
    bulkCold: b.coldThroughput,
    hsMedian: h.median,
    hsP99: h.p99,
    dgramRate: d.rate,
    dgramRtt: d.rtt,
    rttRate: r.rate,
    extra: { bulk: b.extra, handshake: h.extra, datagram: d.extra, rtt: r.extra },
  };
}

module.exports = {
  name: 'native',
  config,
  prepare,
  metrics: [
    { key: 'bulk', label: 'bulk 1 stream throughput (second upload)', unit: 'MB/s', better: 'higher', digits: 1 },
    { key: 'bulkCold', label: 'bulk 1 stream throughput (first upload, cold)', unit: 'MB/s', better: 'higher', digits: 1 },
    { key: 'hsMedian', label: 'handshake median', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'hsP99', label: 'handshake p99', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'dgramRate', label: 'datagram echoes', unit: '/s', better: 'higher', digits: 0 },
    { key: 'dgramRtt', label: 'datagram median RTT', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'rttRate', label: 'sequential stream round trips', unit: '/s', better: 'higher', digits: 0 },
  ],
  impls: {
    nquic: runNquic,
    native: runNative,
  },
};

module.exports.nquicWorkloads = nquicWorkloads;
