// The driving side of netns-rpc.js: a child process in a network namespace,
// given one JSON command per line on stdin, answering `REPLY <json>` lines on
// stdout. Used by the relay-nat and dial-nat suites and the `dial` bench
// case (types: netns-driver.d.ts).
'use strict';
const { spawn } = require('node:child_process');

class Child {
  /** Runs `script` (with `cfg` as its argument) in namespace `netns`; it is killed after `killMs` whatever happens. */
  constructor(registry, label, netns, script, cfg, killMs) {
    this.registry = registry;
    this.label = label;
    this.stdout = '';
    this.stderr = '';
    this.nextId = 1;
    this.pending = new Map();
    this.buf = '';
    this.proc = spawn('ip', ['netns', 'exec', netns, process.execPath, script, JSON.stringify(cfg)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stdin.on('error', () => {}); // EPIPE once the child is gone
    this.proc.stdout.setEncoding('utf8').on('data', (d) => this.onStdout(d));
    this.proc.stderr.setEncoding('utf8').on('data', (d) => (this.stderr += d));
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), killMs);
    this.exited = new Promise((resolve) => {
      const done = (code) => {
        clearTimeout(killer);
        registry.delete(this);
        for (const [, p] of this.pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`${this.label} exited (code ${code}, signal ${this.proc.signalCode}) before answering\nstderr:\n${this.stderr}`));
        }
        this.pending.clear();
        resolve(code);
      };
      this.proc.on('exit', done);
      this.proc.on('error', (err) => {
        this.stderr += `spawn error: ${err.message}\n`;
        done(null);
      });
    });
    registry.add(this);
  }

  onStdout(d) {
    this.stdout += d;
    this.buf += d;
    let nl;
    while ((nl = this.buf.indexOf('\n')) >= 0) {
      const text = this.buf.slice(0, nl);
      this.buf = this.buf.slice(nl + 1);
      if (!text.startsWith('REPLY ')) continue;
      const reply = JSON.parse(text.slice(6));
      const p = this.pending.get(reply.id);
      if (!p) continue;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.ok) p.resolve(reply.value);
      else {
        const err = new Error(`${this.label}: ${(reply.error && reply.error.code) || ''} ${(reply.error && reply.error.message) || ''}`);
        err.code = reply.error && reply.error.code;
        p.reject(err);
      }
    }
  }

  /** Runs one command in the child; rejects after `ms`. */
  call(cmd, args = {}, ms = 10_000) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.label}: no answer to ${cmd} within ${ms} ms\nstderr:\n${this.stderr}`));
      }, ms);
      this.pending.set(id, { resolve, reject, timer });
      this.proc.stdin.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  }
}

/** Kills every child still running in `registry` and waits for them. */
async function killAll(registry) {
  const all = [...registry];
  for (const child of all) if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await Promise.all(all.map((c) => c.exited));
}

module.exports = { Child, killAll };
