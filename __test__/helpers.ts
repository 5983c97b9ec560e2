// Shared fixtures for the nquic jest suites: certificates per key type, a
// server/client pair on 127.0.0.1, bounded reads, timeouts and cleanup.
import { createHash } from 'node:crypto';
import type { Socket as DgramSocket } from 'node:dgram';
import { connect, generateCertificate, listen } from '../lib';

export type ListenOptions = Parameters<typeof listen>[0];
export type ConnectOptions = Parameters<typeof connect>[0];
export type QuicServer = Awaited<ReturnType<typeof listen>>;
export type QuicConnection = Awaited<ReturnType<typeof connect>>;
export type QuicStream = Awaited<ReturnType<QuicConnection['openStream']>>;
export type KeyType = 'ed25519' | 'ecdsa-p256' | 'rsa-2048';
export interface Credentials {
  key: string;
  cert: string;
  fingerprint: string;
}

export const KEY_TYPES: KeyType[] = ['ed25519', 'ecdsa-p256', 'rsa-2048'];
export const ALPN = 'test';
export const MiB = 1024 * 1024;

// ---------------------------------------------------------------------------
// Time

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Waits (bounded by `ms`, looking every 10 ms) until `check()` holds; returns whether it does. */
export async function until(check: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await sleep(10);
  return check();
}

/** Rejects with `label` in the message when `promise` does not settle within `ms`. */
export function withTimeout<T>(promise: PromiseLike<T>, ms: number, label: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout: ${label} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/** `promise`'s value, or undefined after `ms` (the timer is cleared either way). */
export function within<T>(promise: PromiseLike<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  return Promise.race([Promise.resolve(promise), timeout]).finally(() => clearTimeout(timer));
}

/** Settles with the promise's rejection reason; fails if it resolves instead. */
export async function rejectionOf(promise: PromiseLike<unknown>, ms: number, label: string): Promise<unknown> {
  let value: unknown;
  try {
    value = await withTimeout(promise, ms, label);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith(`timeout: ${label}`)) throw err;
    return err;
  }
  throw new Error(`${label}: expected a rejection, but it resolved with ${describeValue(value)}`);
}

function describeValue(value: unknown): string {
  if (value && typeof value === 'object') return value.constructor?.name ?? 'object';
  return String(value);
}

// ---------------------------------------------------------------------------
// Certificates

const certCache = new Map<string, Credentials>();

/** A self-signed certificate for localhost/127.0.0.1, cached per key type (and variant). */
export function certFor(keyType: KeyType = 'ecdsa-p256', variant = 0): Credentials {
  const cacheKey = `${keyType}/${variant}`;
  let creds = certCache.get(cacheKey);
  if (!creds) {
    creds = generateCertificate({ subjectAltNames: ['localhost', '127.0.0.1'], keyType });
    certCache.set(cacheKey, creds);
  }
  return creds;
}

/** DER bytes of the first certificate in a PEM string. */
export function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(pem);
  if (!m) throw new Error('no CERTIFICATE block in PEM');
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

// ---------------------------------------------------------------------------
// Cleanup: everything a test opens is closed after it, so jest can exit.

interface Closable {
  label: string;
  close: () => unknown;
}
const clients: Closable[] = [];
const servers: Closable[] = [];
const CLOSE_BUDGET_MS = 5000;

export function trackClient<T extends { close(): unknown }>(conn: T, label = 'client connection'): T {
  clients.push({ label, close: () => conn.close() });
  return conn;
}

export function trackServer<T extends { close(): unknown }>(server: T, label = 'server'): T {
  servers.push({ label, close: () => server.close() });
  return server;
}

export function trackDgram(sock: DgramSocket, label = 'dgram socket'): DgramSocket {
  servers.push({
    label,
    close: () => new Promise<void>((resolve) => sock.close(() => resolve())),
  });
  return sock;
}

async function closeGroup(group: Closable[]): Promise<string[]> {
  const items = group.splice(0).reverse();
  const hung: string[] = [];
  await Promise.all(
    items.map(async (item) => {
      try {
        await withTimeout(Promise.resolve().then(item.close), CLOSE_BUDGET_MS, `${item.label}.close()`);
      } catch (err) {
        // close() is idempotent and graceful per the contract; a rejection of an
        // already-closed handle is tolerated, a hang is reported.
        if (err instanceof Error && err.message.startsWith('timeout:')) hung.push(err.message);
      }
    }),
  );
  return hung;
}

export async function closeAll(): Promise<void> {
  const hung = [...(await closeGroup(clients)), ...(await closeGroup(servers))];
  if (hung.length > 0) throw new Error(`cleanup failed:\n${hung.join('\n')}`);
}

afterEach(closeAll, CLOSE_BUDGET_MS * 3);

// ---------------------------------------------------------------------------
// Server / client

export async function startServer(
  creds: Credentials = certFor(),
  opts: Partial<ListenOptions> = {},
): Promise<QuicServer> {
  const server = await withTimeout(
    listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], key: creds.key, cert: creds.cert, ...opts } as ListenOptions),
    5000,
    'listen()',
  );
  return trackServer(server);
}

/** Starts a client connection to `server` and tracks it; the promise is returned untouched. */
export function connectTo(
  server: QuicServer,
  ca: string,
  opts: Partial<ConnectOptions> = {},
): Promise<QuicConnection> {
  return connect({
    host: '127.0.0.1',
    port: server.address.port,
    alpn: [ALPN],
    ca,
    serverName: 'localhost',
    ...opts,
  } as ConnectOptions).then((conn) => trackClient(conn));
}

/** The next 'connection' event of `server`. */
export function nextConnection(server: QuicServer, ms = 5000): Promise<QuicConnection> {
  return withTimeout(
    new Promise<QuicConnection>((resolve) => server.once('connection', resolve)),
    ms,
    "server 'connection' event",
  );
}

/** Resolves with the next event of `emitter` named `event` (first argument). */
export function nextEvent<T>(
  emitter: { once(event: string, fn: (arg: T) => void): unknown },
  event: string,
  ms: number,
  label = `'${event}' event`,
): Promise<T> {
  return withTimeout(new Promise<T>((resolve) => emitter.once(event, resolve)), ms, label);
}

export interface Pair {
  server: QuicServer;
  client: QuicConnection;
  serverConn: QuicConnection;
  creds: Credentials;
}

/** A listening server plus one established connection, seen from both ends. */
export async function pair(
  opts: { keyType?: KeyType; server?: Partial<ListenOptions>; client?: Partial<ConnectOptions> } = {},
): Promise<Pair> {
  const creds = certFor(opts.keyType);
  const server = await startServer(creds, opts.server);
  const serverConnP = nextConnection(server);
  const client = await withTimeout(connectTo(server, creds.cert, opts.client), 5000, 'connect()');
  const serverConn = await serverConnP;
  return { server, client, serverConn, creds };
}

// ---------------------------------------------------------------------------
// Streams

/**
 * Reads a stream to its end with `for await`; fails beyond `limit` bytes.
 *
 * A plain `for await (… of duplex)` destroys the Duplex when the loop ends
 * (Node's default `destroyOnReturn: true`), which for a QUIC stream resets a
 * send side the caller may still want to write on; so read through
 * `iterator({ destroyOnReturn: false })` when the stream offers it.
 */
export async function readAll(stream: AsyncIterable<unknown>, limit = 16 * MiB): Promise<Buffer> {
  const readable = stream as AsyncIterable<unknown> & {
    iterator?: (opts: { destroyOnReturn: boolean }) => AsyncIterable<unknown>;
  };
  const source = typeof readable.iterator === 'function' ? readable.iterator({ destroyOnReturn: false }) : stream;
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of source) {
    const buf = Buffer.isBuffer(chunk)
      ? chunk
      : chunk instanceof Uint8Array
        ? Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
        : Buffer.from(String(chunk));
    total += buf.length;
    if (total > limit) throw new Error(`readAll: stream delivered more than ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks, total);
}

/** Echo every peer-opened bidirectional stream of every connection `server` accepts. */
export function echoStreams(server: QuicServer): void {
  server.on('connection', (conn: QuicConnection) => {
    conn.on('stream', (s: QuicStream) => {
      if (s.bidirectional) s.pipe(s);
    });
  });
}

/** Echoes every bidirectional stream and every datagram the server's connections receive. */
export function echoEverything(server: QuicServer): void {
  server.on('connection', (conn: QuicConnection) => {
    conn.on('stream', (s: QuicStream) => {
      s.on('error', () => {});
      if (s.bidirectional) s.pipe(s);
    });
    conn.on('datagram', (d: Uint8Array) => {
      try {
        conn.sendDatagram(d);
      } catch {
        // closed meanwhile
      }
    });
  });
}

// ---------------------------------------------------------------------------
// TLS suites (__test__/tls-*.test.ts): DER conversion, openssl-made
// certificates, and watchers proving a refused peer never reached the app.
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** DER (PKCS#8) bytes of a PEM private key. */
export function keyPemToDer(pem: string): Buffer {
  return createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' }) as Buffer;
}

/** DER bytes of a PEM certificate, through node:crypto's parser. */
export function certPemToDer(pem: string): Buffer {
  return Buffer.from(new X509Certificate(pem).raw);
}

/** Whether the `openssl` command line tool can be run. */
export function opensslAvailable(): boolean {
  const r = spawnSync('openssl', ['version'], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0;
}

/** Runs `openssl` with `args` in `cwd`; throws with its stderr when it fails. */
export function openssl(args: string[], cwd: string): string {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8', timeout: 20000 });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** A fresh temporary directory (removed by the caller). */
export function tempDir(prefix = 'nquic-tls-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface AppEventCounts {
  connections: number;
  streams: number;
  datagrams: number;
  streamBytes: number;
}

/**
 * Counts everything `server` hands to the application: 'connection' events,
 * and 'stream' / 'datagram' events (and stream bytes) on any connection it
 * announces.
 */
export function watchServer(server: QuicServer): AppEventCounts {
  const counts: AppEventCounts = { connections: 0, streams: 0, datagrams: 0, streamBytes: 0 };
  server.on('connection', (conn: QuicConnection) => {
    counts.connections++;
    conn.on('stream', (s: QuicStream) => {
      counts.streams++;
      s.on('data', (chunk: Buffer) => {
        counts.streamBytes += chunk.length;
      });
      s.on('error', () => {});
    });
    conn.on('datagram', () => {
      counts.datagrams++;
    });
  });
  return counts;
}
