// The test side of netns-rpc.js: a child process in a network namespace,
// driven one JSON command per line on stdin, answering `REPLY <json>` lines
// on stdout. Used by the relay-nat and dial-nat suites.
import { ChildProcess, spawn } from 'node:child_process';

interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { code?: string; message: string };
}

export class Child {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  #nextId = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  #buf = '';

  /** Runs `script` (with `cfg` as its argument) in namespace `netns`; it is killed after `killMs` whatever happens. */
  constructor(
    readonly registry: Set<Child>,
    readonly label: string,
    netns: string,
    script: string,
    cfg: object,
    killMs: number,
  ) {
    this.proc = spawn('ip', ['netns', 'exec', netns, process.execPath, script, JSON.stringify(cfg)], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.proc.stdin!.on('error', () => {}); // EPIPE once the child is gone
    this.proc.stdout!.setEncoding('utf8').on('data', (d: string) => this.#onStdout(d));
    this.proc.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    const killer = setTimeout(() => this.proc.kill('SIGKILL'), killMs);
    this.exited = new Promise((resolve) => {
      const done = (code: number | null) => {
        clearTimeout(killer);
        registry.delete(this);
        for (const [, p] of this.#pending) {
          clearTimeout(p.timer);
          p.reject(new Error(`${this.label} exited (code ${code}, signal ${this.proc.signalCode}) before answering\nstderr:\n${this.stderr}`));
        }
        this.#pending.clear();
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

  #onStdout(d: string): void {
    this.stdout += d;
    this.#buf += d;
    let nl: number;
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      const text = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      if (!text.startsWith('REPLY ')) continue;
      const reply = JSON.parse(text.slice(6)) as Reply;
      const p = this.#pending.get(reply.id);
      if (!p) continue;
      this.#pending.delete(reply.id);
      clearTimeout(p.timer);
      if (reply.ok) p.resolve(reply.value);
      else p.reject(Object.assign(new Error(`${this.label}: ${reply.error?.code ?? ''} ${reply.error?.message ?? ''}`), { code: reply.error?.code }));
    }
  }

  /** Runs one command in the child; rejects after `ms`. */
  call<T>(cmd: string, args: object = {}, ms = 10_000): Promise<T> {
    const id = this.#nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.label}: no answer to ${cmd} within ${ms} ms\nstderr:\n${this.stderr}`));
      }, ms);
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.proc.stdin!.write(`${JSON.stringify({ id, cmd, ...args })}\n`);
    });
  }
}

/** Kills every child still running in `registry` and waits for them. */
export async function killAll(registry: Set<Child>): Promise<void> {
  const all = [...registry];
  for (const child of all) if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
  await Promise.all(all.map((c) => c.exited));
}
