// Command loop of the child processes that the network-namespace suites
// (relay-nat, dial-nat) run inside their namespaces; netns-driver.ts drives it.
//
// The test writes one JSON command per line on stdin:
//   {"id": 7, "cmd": "stun", ...arguments}
// and the child answers each with one line on stdout:
//   REPLY {"id": 7, "ok": true, "value": ...}
//   REPLY {"id": 7, "ok": false, "error": {"code": ..., "message": ...}}
// Commands run concurrently (the test can ask the relay for its counters
// while a peer is in the middle of a transfer). Diagnostics go to stderr.
// The child exits on the "exit" command, when stdin ends, or at its own
// deadline (cfg.deadlineMs), whatever happens first.
'use strict';
const readline = require('node:readline');

function serve(name, deadlineMs, handlers) {
  const t0 = Date.now();
  const log = (...a) =>
    process.stderr.write(`[${name} +${Date.now() - t0}ms] ${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}\n`);
  const reply = (msg) => process.stdout.write(`REPLY ${JSON.stringify(msg)}\n`);
  const deadline = setTimeout(() => {
    log(`deadline of ${deadlineMs} ms reached, exiting`);
    process.exit(3);
  }, deadlineMs);
  deadline.unref();
  const exit = (code) => {
    log('exiting', code);
    process.exit(code);
  };
  process.on('SIGTERM', () => exit(4));
  process.on('uncaughtException', (err) => {
    log('uncaught exception', err.stack || String(err));
    exit(5);
  });
  process.on('unhandledRejection', (err) => log('unhandled rejection', err && err.stack ? err.stack : String(err)));
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (text) => {
    if (!text.trim()) return;
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      log('unparsable command', text);
      return;
    }
    if (msg.cmd === 'exit') {
      reply({ id: msg.id, ok: true, value: null });
      setImmediate(() => exit(0));
      return;
    }
    const handler = handlers[msg.cmd];
    if (!handler) {
      reply({ id: msg.id, ok: false, error: { code: 'UNKNOWN_COMMAND', message: `unknown command ${msg.cmd}` } });
      return;
    }
    const started = Date.now();
    Promise.resolve()
      .then(() => handler(msg))
      .then(
        (value) => reply({ id: msg.id, ok: true, value: value === undefined ? null : value, ms: Date.now() - started }),
        (err) => {
          log(`${msg.cmd} failed:`, err && err.stack ? err.stack : String(err));
          reply({ id: msg.id, ok: false, error: { code: err && err.code, message: err && err.message ? err.message : String(err) }, ms: Date.now() - started });
        },
      );
  });
  rl.on('close', () => exit(0));
  return log;
}

function withTimeout(promise, ms, label) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error(`timeout: ${label} (${ms} ms)`), { code: 'TEST_TIMEOUT' })), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

module.exports = { serve, withTimeout };
