'use strict';
// A case's helper process: forked with an IPC channel, stopped by the case's cleanup ({ cmd: 'stop' },
// then SIGKILL after `stopMs`), and an early exit fails the running case.

const { fork } = require('node:child_process');
const { once } = require('node:events');

/** Forks `file`; `label` names it in errors. Returns the ChildProcess. */
function forkChild(ctx, file, { label, execArgv = [], stopMs = 3000 }) {
  const child = fork(file, [], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
  const exited = once(child, 'exit');
  exited.catch(() => {});
  ctx.defer(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try { child.send({ cmd: 'stop' }); } catch { /* channel closed */ }
    const timer = setTimeout(() => child.kill('SIGKILL'), stopMs);
    await exited;
    clearTimeout(timer);
  });
  child.on('exit', (code, signal) => {
    if (!ctx.signal.aborted && code !== 0) ctx.fail(new Error(`${label} exited early (code ${code}, signal ${signal})`));
  });
  return child;
}

/** Sends `msg` to `child` and resolves with its next message (rejects on { error }). */
async function request(ctx, child, msg, label) {
  child.send(msg);
  const [answer] = await once(child, 'message', { signal: ctx.signal });
  if (answer.error) throw new Error(`${label}: ${answer.error}`);
  return answer;
}

module.exports = { forkChild, request };
