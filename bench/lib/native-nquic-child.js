'use strict';
// Child process of the native case (bench/cases/native.js): runs its nquic column (bulk, handshakes,
// datagram echo, stream round trips) in a fresh Node process, as the Rust baseline runs in its own,
// so the cases that ran before in the bench process cannot move it. Started as
// `node bench/lib/native-nquic-child.js` with the environment of the bench process. Protocol:
//   stdin  <- { cfg, creds: { key, cert }, timeoutS }  (cfg: the native case's config(), as read by
//             the bench process, so both columns run the same parameters)
//   stdout -> one line of JSON, { bulk, handshake, datagram, rtt } (each workload's result), exit 0
//   failure: the reason on stderr, exit 1; after timeoutS it gives up by itself, naming the workload.

const { errorMessage, settleWithin } = require('./util');

const cleanups = [];
const ac = new AbortController();
// Like a pair in run.js: ctx.fail() and any stray async error fail the run.
let fail;
const failed = new Promise((_, reject) => { fail = reject; });
failed.catch(() => {});
process.on('uncaughtException', (err) => fail(err));
process.on('unhandledRejection', (err) => fail(err));

async function readInput() {
  const parts = [];
  for await (const c of process.stdin) parts.push(c);
  return JSON.parse(Buffer.concat(parts).toString('utf8'));
}

/** Closes what the workloads left open (bounded: exiting is what matters), then exits. */
async function finish(code) {
  if (!ac.signal.aborted) ac.abort(new Error('done'));
  await settleWithin((async () => {
    for (const f of cleanups.reverse()) await settleWithin(Promise.resolve().then(f), 3000);
  })(), 5000);
  process.exit(code);
}

async function main() {
  const input = await readInput();
  let stage = 'start-up';
  const deadline = setTimeout(() => fail(new Error(`timed out after ${input.timeoutS} s, in ${stage}`)), input.timeoutS * 1000);
  deadline.unref();
  const ctx = {
    nquic: require('../..'),
    creds: input.creds,
    signal: ac.signal,
    defer: (f) => cleanups.push(f),
    fail: (err) => fail(err instanceof Error ? err : new Error(String(err))),
  };
  const { nquicWorkloads } = require('../cases/native');
  const work = nquicWorkloads(ctx, input.cfg, (name) => { stage = name; });
  work.catch(() => {});
  const result = await Promise.race([work, failed]);
  clearTimeout(deadline);
  return result;
}

main().then(
  (result) => {
    // Written before the clean-up, with the exit after the flush: a pipe may be written asynchronously.
    process.stdout.write(`${JSON.stringify(result)}\n`, () => finish(0));
  },
  (err) => {
    console.error(`bench nquic child: ${errorMessage(err)}`);
    finish(1);
  },
);
