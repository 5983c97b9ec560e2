#!/usr/bin/env node
'use strict';
// nquic benchmark runner: `npm run bench` (or `node bench/run.js [case ...]`).
//
// Every case module in bench/cases/ exports
//   { name, config(): { label, ... }, metrics: [{ key, label, unit, better, digits }],
//     impls: { [implName]: async (ctx, cfg) => ({ [metricKey]: number, extra?: object, note?: string }) },
//     (a metric marked { optional: true } may be left out by implementations that do not report it)
//     prepare?: async (shared) => any   // optional one-off setup (e.g. a build), own time limit }
// and each (case, implementation) pair runs in this process on loopback, bounded by BENCH_TIMEOUT_S
// (default 60 s): on timeout it is aborted, cleaned up and reported as failed. A pair whose impl
// throws util.skip(reason) (optional package missing, feature not offered) is reported as skipped
// ('n/a' in the table, reason in the notes), not failed. The runner prints the machine, a table
// (case | nquic | node:tls | @matrixai/quic | quiche (Rust) | ratios) and notes, and writes
// bench/results/latest.json. Exit code 0 only if no pair failed.
//
// Environment: BENCH_CASES / argv (comma or space separated case names, default all), BENCH_IMPLS
// (default all), BENCH_TIMEOUT_S (60), BENCH_OUT (JSON path), and per case: BENCH_BULK_MB (64),
// BENCH_CHUNK_KB (64), BENCH_MATRIXAI_BULK_MB (2), BENCH_HANDSHAKES (200), BENCH_HANDSHAKE_WARMUP (5),
// BENCH_HANDSHAKES_CONCURRENT (1000), BENCH_HANDSHAKE_CONCURRENCY (16),
// BENCH_PARALLEL_STREAMS (100), BENCH_PARALLEL_KB (1024), BENCH_RTT_COUNT (1000000),
// BENCH_RTT_SECONDS (2), BENCH_RTT_BYTES (100), BENCH_DGRAM_SECONDS (2), BENCH_DGRAM_WINDOW (64),
// BENCH_DGRAM_SIZE (256), BENCH_IDLE_CONNS (200), BENCH_RELAY_MB (16), BENCH_WT_MB (64),
// BENCH_WT_SESSIONS (20), BENCH_DIAL_COUNT (10), BENCH_DIAL_PUNCH_MS (1000), BENCH_NATIVE_BUILD (1; 0 = use
// the existing binary), BENCH_NATIVE_BUILD_TIMEOUT_S (900); opt-in cases: soak (BENCH_SOAK_SECONDS) and scale
// (BENCH_SCALE_CONNS 10000, BENCH_SCALE_CONCURRENCY 100, BENCH_SCALE_IDLE_S 5, BENCH_SCALE_PROBES 200).
// After the table it judges the performance goals of bench/goals.js (ratios within the run).

const fs = require('node:fs');
const { setMaxListeners } = require('node:events');
const os = require('node:os');
const path = require('node:path');
const { envInt, nowMs, settleWithin, errorMessage } = require('./lib/util');
const { machine } = require('./lib/machine');
const { makeCredentials } = require('./lib/creds');
const goals = require('./goals');

// Cases in display order.
const CASES = [
  require('./cases/bulk'),
  require('./cases/bulk-2proc'),
  require('./cases/parallel'),
  require('./cases/stream-rtt'),
  require('./cases/stream-pingpong'),
  require('./cases/datagram'),
  require('./cases/handshake'),
  require('./cases/idle-memory'),
  require('./cases/native'),
  require('./cases/relay'),
  require('./cases/webtransport'),
  require('./cases/udp-gateway'),
  require('./cases/dial'),
  require('./cases/soak'),
  require('./cases/scale'),
];
// Column order; implementations a case does not provide show as '-', skipped ones as 'n/a'.
const IMPL_ORDER = ['nquic', 'node:tls', '@matrixai/quic', 'native'];
const IMPL_HEADERS = { native: 'quiche (Rust)' };
// Ratio columns [numerator, denominator, header]; a column with no value in any row is left out.
const RATIOS = [
  ['nquic', 'node:tls', 'nquic/tls'],
  ['nquic', '@matrixai/quic', 'nquic/matrixai'],
  ['nquic', 'native', 'nquic/native'],
];

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
  setMaxListeners(0, ac.signal); // cases wait on many things at once (e.g. 100 streams) with this signal
  const cleanups = [];
  let fail;
  const failed = new Promise((_, reject) => { fail = reject; });
  failed.catch(() => {});
  const ctx = {
    nquic: shared.nquic,
    creds: shared.creds,
    prepared: shared.prepared[caseMod.name],
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
      if (m.optional && v === undefined) continue; // a metric only some implementations report
      if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`case returned no valid '${m.key}'`);
      metrics[m.key] = v;
    }
    Object.assign(record, { ok: true, metrics, extra: result.extra });
    if (result.note) record.note = result.note;
  } catch (err) {
    if (err && err.code === 'BENCH_SKIP') {
      record.skipped = true;
      record.note = err.message;
    } else {
      record.error = errorMessage(err);
    }
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
  const status = record.ok ? 'ok' : record.skipped ? `skipped: ${record.note}` : `FAILED: ${record.error}`;
  console.error(`  ${caseMod.name.padEnd(12)} ${implName.padEnd(14)} ${String(record.durationMs).padStart(6)} ms  ${status}${record.cleanupTimedOut ? ' (cleanup timed out)' : ''}`);
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
        caseName: caseMod.name, metric: m.key, unit: m.unit, better: m.better, values: {},
      };
      const cells = {};
      for (const impl of IMPL_ORDER) {
        const r = recs.find((x) => x.impl === impl);
        if (!r) { cells[impl] = '-'; continue; }
        if (r.skipped) { cells[impl] = 'n/a'; row.values[impl] = null; continue; }
        if (!r.ok) { cells[impl] = 'FAILED'; row.values[impl] = null; continue; }
        if (r.metrics[m.key] === undefined) { cells[impl] = '-'; continue; }
        row.values[impl] = r.metrics[m.key];
        cells[impl] = fmt(r.metrics[m.key], m.digits) + (r.note ? '*' : '');
      }
      row.ratios = {};
      for (const [num, den, header] of RATIOS) {
        const [a, b] = [row.values[num], row.values[den]];
        row.ratios[header] = typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
      }
      row.cells = cells;
      rows.push(row);
    }
  }
  return rows;
}

function printTable(rows) {
  const impls = IMPL_ORDER.filter((i) => rows.some((r) => r.cells[i] !== '-'));
  const ratios = RATIOS.map((x) => x[2]).filter((h) => rows.some((r) => r.ratios[h] !== null));
  const header = ['case', ...impls.map((i) => IMPL_HEADERS[i] || i), ...ratios];
  const lines = rows.map((r) => [
    r.case,
    ...impls.map((i) => r.cells[i]),
    ...ratios.map((h) => (r.ratios[h] === null ? '-' : `${r.ratios[h].toFixed(2)}x`)),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const line = (cols) => cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join(' | ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('-|-'));
  for (const l of lines) console.log(line(l));
}

function printNotes(records) {
  const notes = records.filter((r) => r.note || r.error);
  if (!notes.length) return;
  console.log('');
  for (const r of notes) {
    const mark = r.skipped ? 'n/a' : r.ok ? '*' : 'FAILED';
    console.log(`${mark} ${r.case} / ${r.impl}: ${r.note || r.error}`);
  }
}

/** Run each selected case's prepare() once (own time limit), before any pair. */
async function prepareCases(selected, shared) {
  for (const caseMod of selected) {
    if (typeof caseMod.prepare !== 'function') continue;
    const started = nowMs();
    try {
      shared.prepared[caseMod.name] = { ok: true, value: await caseMod.prepare(shared) };
    } catch (err) {
      shared.prepared[caseMod.name] = { ok: false, error: err };
    }
    const p = shared.prepared[caseMod.name];
    console.error(`  ${caseMod.name.padEnd(12)} ${'(prepare)'.padEnd(14)} ${String(Math.round(nowMs() - started)).padStart(6)} ms  ${p.ok ? 'ok' : `${p.error.code === 'BENCH_SKIP' ? 'skip' : 'FAILED'}: ${errorMessage(p.error)}`}`);
  }
}

async function main() {
  const caseFilter = listFilter('BENCH_CASES', process.argv.slice(2));
  const implFilter = listFilter('BENCH_IMPLS', []);
  if (caseFilter) {
    const unknown = [...caseFilter].filter((n) => !CASES.some((c) => c.name === n));
    if (unknown.length) throw new Error(`unknown case(s): ${unknown.join(', ')}; known: ${CASES.map((c) => c.name).join(', ')}`);
  }

  const shared = { nquic: null, nquicError: null, creds: null, prepared: {} };
  try {
    shared.nquic = require('..');
  } catch (err) {
    shared.nquicError = new Error(`cannot load nquic (require('..')): ${errorMessage(err)}`);
    console.error(`bench: ${shared.nquicError.message}`);
  }
  shared.creds = makeCredentials(shared.nquic);

  let version = null;
  try { version = require('../package.json').version; } catch { /* ignore */ }
  const host = machine();
  console.error(`nquic ${version} bench on ${host.summary}; certificate from ${shared.creds.source}; timeout ${TIMEOUT_MS / 1000} s per case`);

  // Opt-in cases (the soak) run only when named.
  const selected = CASES.filter((c) => (caseFilter ? caseFilter.has(c.name) : !c.optIn));
  await prepareCases(selected, shared);

  const records = [];
  const configs = {};
  const started = nowMs();
  for (const caseMod of selected) {
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
  console.log(`nquic ${version} on ${host.summary}`);
  console.log('');
  printTable(rows);
  const judged = goals.judge(rows);
  goals.print(judged);
  printNotes(records);
  console.log(`\n${records.length} runs in ${((nowMs() - started) / 1000).toFixed(1)} s`);

  const report = {
    date: new Date().toISOString(),
    nquic: version,
    node: process.version,
    platform: `${os.platform()}-${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    machine: host,
    certificate: shared.creds.source,
    timeoutSeconds: TIMEOUT_MS / 1000,
    config: configs,
    results: records,
    prepared: Object.fromEntries(Object.entries(shared.prepared).map(([k, p]) => [k, p.ok ? { ok: true, ...(p.value && p.value.info ? { info: p.value.info } : {}) } : { ok: false, error: errorMessage(p.error) }])),
    table: rows.map(({ cells, ...r }) => r),
    goals: judged.map(({ label, ratio, target, better, met }) => ({ label, ratio, target, better, met })),
  };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  fs.writeFileSync(OUT, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`\nresults written to ${path.relative(process.cwd(), OUT) || OUT}`);

  const failures = records.filter((r) => !r.ok && !r.skipped);
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
