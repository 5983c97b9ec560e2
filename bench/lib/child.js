'use strict';
// Child processes of the cases. forkChild(): a helper process forked with an IPC channel, stopped by
// the case's cleanup ({ cmd: 'stop' }, then SIGKILL after `stopMs`); an early exit fails the running
// case. runProcess(): a process run to completion whose stdout is the result (the native case's two
// columns), bounded by a timeout and the case's abort signal.

const { fork, spawn } = require('node:child_process');
const { once } = require('node:events');
const { errorMessage } = require('./util');

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

/**
 * Runs `cmd args` to its exit and resolves with `{ out, err }` (its stdout and stderr) if it exits 0;
 * rejects with its last lines of stderr otherwise. SIGKILLed after `timeoutMs` or when `signal`
 * aborts. `input` (optional) is written to its stdin; `label` names it in errors (default: cmd); the
 * other options go to spawn() (env, cwd).
 */
function runProcess(cmd, args, { input, label = cmd, signal, ...spawnOpts }, timeoutMs) {
  return new Promise((resolve, reject) => {
    if (signal && signal.aborted) { reject(signal.reason || new Error('aborted')); return; }
    const child = spawn(cmd, args, { ...spawnOpts, stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => { out += c; });
    child.stderr.on('data', (c) => { err += c; });
    if (input !== undefined) {
      child.stdin.on('error', () => {}); // EPIPE when it dies first: its exit says why
      child.stdin.end(input);
    }
    const kill = () => child.kill('SIGKILL');
    const timer = setTimeout(() => { kill(); reject(new Error(`${label} timed out after ${timeoutMs / 1000} s`)); }, timeoutMs);
    if (signal) signal.addEventListener('abort', kill, { once: true });
    const settled = () => {
      clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', kill);
    };
    child.on('error', (e) => { settled(); reject(e); });
    child.on('close', (code, sig) => {
      settled();
      if (code === 0) { resolve({ out, err }); return; }
      if (signal && signal.aborted) { reject(new Error(`${label} killed: the case was aborted (${errorMessage(signal.reason)})`)); return; }
      const tail = err.trim().split('\n').slice(-8).join(' | ');
      reject(new Error(`${label} exited with ${code ?? sig}${tail ? `: ${tail}` : ''}`));
    });
  });
}

module.exports = { forkChild, request, runProcess };
