'use strict';
// Child process of the idle-memory case (bench/cases/idle-memory.js), forked with --expose-gc so
// each measurement starts from a fresh heap. Protocol over IPC:
//   parent -> { variant, cfg, creds: { key, cert } }
//   child  -> { result } | { skip: reason } | { error: message }, then exits.

const { errorMessage, settleWithin } = require('./util');

process.once('message', async (msg) => {
  const cleanups = [];
  const ac = new AbortController();
  let reply;
  try {
    const ctx = {
      nquic: msg.variant.startsWith('nquic') ? require('../..') : null,
      creds: msg.creds,
      signal: ac.signal,
      defer: (f) => cleanups.push(f),
      fail: (err) => { console.error(`bench memory child: ${errorMessage(err)}`); },
    };
    const { measureVariant } = require('../cases/idle-memory');
    reply = { result: await measureVariant(ctx, msg.cfg, msg.variant) };
  } catch (err) {
    reply = err && err.code === 'BENCH_SKIP' ? { skip: err.message } : { error: errorMessage(err) };
  }
  process.send(reply, () => {
    ac.abort(new Error('done'));
    (async () => {
      for (const f of cleanups.reverse()) await settleWithin(Promise.resolve().then(f), 3000);
      process.exit(0);
    })();
  });
});
process.on('disconnect', () => process.exit(0));
