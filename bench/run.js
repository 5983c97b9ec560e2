#!/usr/bin/env node
'use strict';
// nquic benchmark runner: `npm run bench` (or `node bench/run.js [case ...]`).
//
// Every case module in bench/cases/ exports
//   { name, config(): { label, ... }, metrics: [{ key, label, unit, better, digits }],
//     impls: { [implName]: async (ctx, cfg) => ({ [metricKey]: number, extra?: object }) } }
// and each (case, implementation) pair runs in this process on loopback, bounded by BENCH_TIMEOUT_S
// (default 60 s): on timeout it is aborted, cleaned up and reported as failed. The runner prints a
// table (case | nquic | node:tls | ... | ratio nquic/tls) and writes bench/results/latest.json.
// Exit code 0 only if every pair ran.
//
// Environment: BENCH_BULK_MB (64), BENCH_CHUNK_KB (64), BENCH_HANDSHAKES (200),
// BENCH_HANDSHAKE_WARMUP (5), BENCH_TIMEOUT_S (60), BENCH_CASES / argv (comma or space separated
// case names, default all), BENCH_IMPLS (default all), BENCH_OUT (JSON path).

const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { envInt, nowMs, settleWithin, errorMessage } = require('./lib/util');
const { makeCredentials } = require('./lib/creds');

// Add later cases (datagrams, parallel streams, ...) here, in display order.
const CASES = [
  require('./cases/bulk'),
  require('./cases/handshake'),
];
// Column order; implementations a case does not provide show as '-'. Later: '@matrixai/quic', 'native'.
const IMPL_ORDER = ['nquic', 'node:tls'];
const RATIO = ['nquic', 'node:tls'];

const TIMEOUT_MS = envInt('BENCH_TIMEOUT_S', 60) * 1000;
const CLEANUP_MS = 5000;
const OUT = process.env.BENCH_OUT || path.join(__dirname, 'results', 'latest.json');

function listFilter(envName, argv) {
  const raw = [...(process.env[envName] || '').split(','), ...argv].map((s) => s.trim()).filter(Boolean);
  return raw.length ? new Set(raw) : null;
}

// ---- crash routing: an async error thrown anywhere while a pair runs fails that pair only ----------
let currentFail = null;
function onStray(err) {
  if (currentFail) currentFail(err);
  else {
    console.error(`bench: error outside any case: ${errorMessage(err)}`);
    process.exitCode = 1;
  }
}
process.on('uncaughtException', onStray);
process.on('unhandledRejection', onStray);

async function runPair(caseMod, implName, fn, cfg, shared) {
  const ac = new AbortController();
  const cleanups = [];
  let fail;
  const failed = new Promise((_, reject) => { fail = reject; });
  failed.catch(() => {});
  const ctx = {
    nquic: shared.nquic,
    creds: shared.creds,
    signal: ac.signal,
    defer: (f) => cleanups.push(f),
    fail: (err) => fail(err instanceof Error ? err : new Error(String(err))),
  };
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      const err = new Error(`timed out after ${TIMEOUT_MS / 1000} s`);
      err.code = 'BENCH_TIMEOUT';
      reject(err);
    }, TIMEOUT_MS);
  });
  timeout.catch(() => {});

  const started = nowMs();
  const record = { case: caseMod.name, label: cfg.label, impl: implName, ok: false };
  currentFail = ctx.fail;
  try {
    if (shared.nquicError && implName === 'nquic') throw shared.nquicError;
    const work = Promise.resolve().then(() => fn(ctx, cfg));
    work.catch(() => {});
    const result = await Promise.race([work, timeout, failed]);
    const metrics = {};
    for (const m of caseMod.metrics) {
      const v = result[m.key];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`case returned no valid '${m.key}'`);
      metrics[m.key] = v;
    }
    Object.assign(record, { ok: true, metrics, extra: result.extra });
  } catch (err) {
    record.error = errorMessage(err);
    if (!ac.signal.aborted) ac.abort(err);
  } finally {
    clearTimeout(timer);
    if (!ac.signal.aborted) ac.abort(new Error('case finished'));
    for (const f of cleanups.reverse()) {
      const done = await settleWithin(Promise.resolve().then(f), CLEANUP_MS);
      if (!done) record.cleanupTimedOut = true;
    }
    currentFail = null;
    record.durationMs = Math.round(nowMs() - started);
  }
  const status = record.ok ? 'ok' : `FAILED: ${record.error}`;
  console.error(`  ${caseMod.name.padEnd(12)} ${implName.padEnd(10)} ${String(record.durationMs).padStart(6)} ms  ${status}${record.cleanupTimedOut ? ' (cleanup timed out)' : ''}`);
  return record;
}

function fmt(v, digits) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '-';
  return v.toFixed(digits);
}

function buildRows(records) {
  const rows = [];
  for (const caseMod of CASES) {
    const recs = records.filter((r) => r.case === caseMod.name);
    if (!recs.length) continue;
    for (const m of caseMod.metrics) {
      const row = {
        case: `${recs[0].label}: ${m.label} (${m.unit}, ${m.better} is better)`,
        metric: m.key, unit: m.unit, better: m.better, values: {},
      };
      const cells = {};
      for (const impl of IMPL_ORDER) {
        const r = recs.find((x) => x.impl === impl);
        if (!r) { cells[impl] = '-'; continue; }
        if (!r.ok) { cells[impl] = 'FAILED'; row.values[impl] = null; continue; }
        row.values[impl] = r.metrics[m.key];
        cells[impl] = fmt(r.metrics[m.key], m.digits);
      }
      const [a, b] = RATIO.map((i) => row.values[i]);
      row.ratio = typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
      row.cells = cells;
      rows.push(row);
    }
  }
  return rows;
}

function printTable(rows) {
  const header = ['case', ...IMPL_ORDER, `ratio (${RATIO[0]}/${RATIO[1] === 'node:tls' ? 'tls' : RATIO[1]})`];
  const lines = rows.map((r) => [r.case, ...IMPL_ORDER.map((i) => r.cells[i]), r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cols) => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const l of lines) console.log(line(l));
}

async function main() {
  const caseFilter = listFilter('BENCH_CASES', process.argv.slice(2));
  const implFilter = listFilter('BENCH_IMPLS', []);
  if (caseFilter) {
    const unknown = [...caseFilter].filter((n) => !CASES.some((c) => c.name === n));
    if (unknown.length) throw new Error(`unknown case(s): ${unknown.join(', ')}; known: ${CASES.map((c) => c.name).join(', ')}`);
  }

  const shared = { nquic: null, nquicError: null, creds: null };
  try {
    shared.nquic = require('..');
  } catch (err) {
    shared.nquicError = new Error(`cannot load nquic (require('..')): ${errorMessage(err)}`);
    console.error(`bench: ${shared.nquicError.message}`);
  }
  shared.creds = makeCredentials(shared.nquic);

  let version = null;
  try { version = require('../package.json').version; } catch { /* ignore */ }
  console.error(`nquic ${version} bench on node ${process.version}, ${os.platform()}-${os.arch()}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}); certificate from ${shared.creds.source}; timeout ${TIMEOUT_MS / 1000} s per case`);

  const records = [];
  const configs = {};
  for (const caseMod of CASES) {
    if (caseFilter && !caseFilter.has(caseMod.name)) continue;
    const cfg = caseMod.config();
    configs[caseMod.name] = cfg;
    for (const impl of IMPL_ORDER) {
      const fn = caseMod.impls[impl];
      if (!fn || (implFilter && !implFilter.has(impl))) continue;
      records.push(await runPair(caseMod, impl, fn, cfg, shared));
    }
  }

  const rows = buildRows(records);
  console.log('');
  printTable(rows);

  const report = {
    date: new Date().toISOString(),
    nquic: version,
    node: process.version,
    platform: `${os.platform()}-${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    certificate: shared.creds.source,
    timeoutSeconds: TIMEOUT_MS / 1000,
    config: configs,
    results: records,
    table: rows.map(({ cells, ...r }) => r),
  };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nresults written to ${path.relative(process.cwd(), OUT) || OUT}`);

  const failures = records.filter((r) => !r.ok);
  if (failures.length) {
    console.error(`bench: ${failures.length} of ${records.length} case runs failed: ${failures.map((r) => `${r.case}/${r.impl}`).join(', ')}`);
    return 1;
  }
  return records.length ? 0 : 1;
}

main().then(
  (code) => process.exit(process.exitCode || code), // explicit exit: a leaked handle must not hang the run
  (err) => { console.error(`bench: ${err && err.stack ? err.stack : err}`); process.exit(1); },
);
