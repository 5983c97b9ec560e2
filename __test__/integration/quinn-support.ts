// Shared by the quinn interop suites: bounded helpers, the child-process
// registry and the types, so both suites stay short and agree.
import { ChildProcess, execFile } from 'node:child_process';
import { resolve } from 'node:path';
import type { connect, listen } from '../../lib';

export type QuicServer = Awaited<ReturnType<typeof listen>>;

export type QuicConnection = Awaited<ReturnType<typeof connect>>;

export type QuicStream = Awaited<ReturnType<QuicConnection['openStream']>>;

export const ROOT = resolve(__dirname, '../..');

export const ALPN = 'nquic-interop';

export const MiB = 1024 * 1024;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** `label` may be a function, evaluated on timeout, to capture state for the failure message. */
export function withTimeout<T>(promise: PromiseLike<T>, ms: number, label: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const text = typeof label === 'function' ? label() : label;
      reject(new Error(`timeout: ${text} did not settle within ${ms} ms`));
    }, ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

export function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return Buffer.from(String(chunk));
}

/** Reads a stream to its end without destroying it (its send side stays usable). */
export function readAll(stream: QuicStream, limit = 16 * MiB): Promise<Buffer> {
  return new Promise((resolvePromise, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    stream.on('data', (chunk: unknown) => {
      const b = toBuffer(chunk);
      total += b.length;
      if (total > limit) {
        reject(new Error(`stream delivered more than ${limit} bytes`));
        return;
      }
      chunks.push(b);
    });
    stream.once('end', () => resolvePromise(Buffer.concat(chunks, total)));
    stream.once('error', reject);
  });
}

/** Writes `data` and ends the stream; resolves once the end has been accepted locally. */
export function writeAll(stream: QuicStream, data: Buffer): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    stream.once('error', reject);
    stream.end(data, () => resolvePromise());
  });
}

/** Connection and stream state, for timeout messages (a stall shows as no progress here). */
export function stallInfo(label: string, conn: QuicConnection, stream?: QuicStream): string {
  let stats: string;
  try {
    stats = JSON.stringify(conn.stats());
  } catch (err) {
    stats = `(stats unavailable: ${String(err)})`;
  }
  const pending = stream ? `, stream ${stream.id} writableLength ${stream.writableLength}` : '';
  return `${label} [${conn.side} stats ${stats}${pending}]`;
}

export function firstDiff(a: Buffer, b: Buffer): string {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return `first difference at byte ${i} (lengths ${a.length}/${b.length})`;
  return a.length === b.length ? 'identical' : `lengths differ: ${a.length} vs ${b.length}`;
}

export const children = new Set<ChildProcess>();

export function run(cmd: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    execFile(cmd, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 64 * MiB }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolvePromise({ stdout, stderr });
    });
  });
}
