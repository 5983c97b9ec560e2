// Load and leak tests: thousands of connections opened and closed through
// one client QuicSocket against one server QuicSocket (churn), and 1000 idle
// connections held at once. Native connection counts must return to 0 once
// the closed connections have drained, and process memory must come back
// near its warmed-up level. 127.0.0.1 only.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { randomBytes } from 'node:crypto';
import { QuicSocket } from '../../lib';
import {
  ALPN,
  certFor,
  MiB,
  readAll,
  sleep,
  trackServer,
  withTimeout,
  type ConnectOptions,
  type Credentials,
  type QuicConnection,
  type QuicServer,
  type QuicStream,
} from '../helpers';

jest.setTimeout(180_000);

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const WAVE = 100;
// Closed connections drain for three PTOs (RFC 9000 §10.2), and the PTO grows
// with the round-trip time the connections measure: on a 2-core machine shared
// with other work the event loop answers late, RTTs inflate, and draining took
// over 5 s at a load average of 8. The wait ends as soon as both counts are 0,
// so this bound only decides how long a real leak takes to be reported.
const DRAIN_MS = 30_000;

interface Mem {
  rss: number;
  heapUsed: number;
}

async function settledMemory(): Promise<Mem> {
  // Let pending callbacks and finalizers run between full collections.
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setImmediate(resolve));
    await sleep(20);
  }
  gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}

const fmt = (bytes: number): string => `${(bytes / MiB).toFixed(2)} MiB`;

/** Polls until `server` and `client` sockets hold no native connection, or `ms` pass. */
async function drained(server: QuicSocket, client: QuicSocket, ms = DRAIN_MS): Promise<{ server: number; client: number; waited: number }> {
  const start = Date.now();
  for (;;) {
    const counts = { server: server.nativeConnectionCount, client: client.nativeConnectionCount };
    if ((counts.server === 0 && counts.client === 0) || Date.now() - start >= ms) return { ...counts, waited: Date.now() - start };
    await sleep(25);
  }
}

interface Fixture {
  creds: Credentials;
  serverSocket: QuicSocket;
  server: QuicServer;
  client: QuicSocket;
  accepted: Set<QuicConnection>;
}

async function fixture(): Promise<Fixture> {
  const creds = certFor('ecdsa-p256');
  const serverSocket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'server socket');
  const client = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'client socket');
  const server = serverSocket.listen({ alpn: [ALPN], key: creds.key, cert: creds.cert, handshakeRateLimit: 0 });
  const accepted = new Set<QuicConnection>();
  server.on('connection', (conn: QuicConnection) => {
    accepted.add(conn);
    conn.once('close', () => accepted.delete(conn));
    conn.on('stream', (s: QuicStream) => {
      s.on('error', () => {});
      if (s.bidirectional) s.pipe(s);
    });
  });
  return { creds, serverSocket, server, client, accepted };
}

function dial(f: Fixture, label: string): Promise<QuicConnection> {
  return withTimeout(
    f.client.connect({ host: '127.0.0.1', port: f.serverSocket.address.port, alpn: [ALPN], ca: f.creds.cert, serverName: 'localhost' } as ConnectOptions),
    15_000,
    `${label}: connect()`,
  );
}

const PAYLOAD = randomBytes(1024);

/** Connect, echo 1 KiB over one bidirectional stream, check it is released, close. */
async function oneCycle(f: Fixture, label: string): Promise<void> {
  const conn = await dial(f, label);
  try {
    const stream = await withTimeout(conn.openStream(), 5000, `${label}: openStream()`);
    stream.on('error', () => {});
    const back = readAll(stream, 4096);
    stream.end(PAYLOAD);
    const got = await withTimeout(back, 5000, `${label}: 1 KiB echo`);
    if (!got.equals(PAYLOAD)) throw new Error(`${label}: echo mismatch (${got.length} bytes back)`);
    // Both directions finished: the stream must be forgotten by JS and by
    // the native layer while the connection is still open.
    if (!stream.destroyed) await withTimeout(new Promise((resolve) => stream.once('close', resolve)), 5000, `${label}: stream 'close'`);
    let counts = conn.streamCounts();
    for (let i = 0; i < 100 && (counts.js !== 0 || counts.native !== 0); i++) {
      await sleep(10);
      counts = conn.streamCounts();
    }
    if (counts.js !== 0 || counts.native !== 0) throw new Error(`${label}: finished stream still tracked: ${JSON.stringify(counts)}`);
  } finally {
    await withTimeout(conn.close(), 5000, `${label}: close()`);
  }
}

async function churn(f: Fixture, total: number, tag: string): Promise<void> {
  for (let base = 0; base < total; base += WAVE) {
    const n = Math.min(WAVE, total - base);
    await Promise.all(Array.from({ length: n }, (_, i) => oneCycle(f, `${tag} #${base + i}`)));
  }
}

describe('connection churn through one client socket', () => {
  test('3000 connect/echo/close cycles leave no native connections and no memory growth', async () => {
    const f = await fixture();
    const t0 = Date.now();

    // Warm-up: 500 cycles, drain, measure.
    await churn(f, 500, 'warm-up');
    const warmDrain = await drained(f.serverSocket, f.client);
    expect(warmDrain).toMatchObject({ server: 0, client: 0 });
    const base = await settledMemory();
    const t1 = Date.now();

    await churn(f, 3000, 'churn');
    const t2 = Date.now();
    const after = await drained(f.serverSocket, f.client);
    expect({ server: after.server, client: after.client }).toEqual({ server: 0, client: 0 });
    expect(f.accepted.size).toBe(0);
    const end = await settledMemory();

    const heapGrowth = end.heapUsed - base.heapUsed;
    const rssGrowth = end.rss - base.rss;
    console.log(
      [
        `churn: warm-up 500 cycles in ${t1 - t0} ms (drained in ${warmDrain.waited} ms)`,
        `churn: 3000 cycles in ${t2 - t1} ms (${((3000 * 1000) / (t2 - t1)).toFixed(0)} conn/s), drained to 0/0 in ${after.waited} ms`,
        `churn: heapUsed ${fmt(base.heapUsed)} -> ${fmt(end.heapUsed)} (${heapGrowth >= 0 ? '+' : ''}${fmt(heapGrowth)})`,
        `churn: rss ${fmt(base.rss)} -> ${fmt(end.rss)} (${rssGrowth >= 0 ? '+' : ''}${fmt(rssGrowth)})`,
      ].join('\n'),
    );
    expect(heapGrowth).toBeLessThan(16 * MiB);
    expect(rssGrowth).toBeLessThan(64 * MiB);
  });
});

describe('many idle connections on one client socket', () => {
  test('1000 idle connections stay alive, then all close to 0', async () => {
    const f = await fixture();
    // Warm up the code paths so the per-connection numbers are not dominated
    // by first-use allocations.
    await churn(f, 100, 'warm-up');
    expect(await drained(f.serverSocket, f.client)).toMatchObject({ server: 0, client: 0 });
    const base = await settledMemory();

    const t0 = Date.now();
    const conns: QuicConnection[] = [];
    for (let b = 0; b < 1000; b += WAVE) {
      conns.push(...(await Promise.all(Array.from({ length: WAVE }, (_, i) => dial(f, `idle #${b + i}`)))));
    }
    const t1 = Date.now();
    // Server 'connection' events may trail the client's handshake completion.
    const deadline = Date.now() + 30_000;
    while (f.accepted.size < 1000 && Date.now() < deadline) await sleep(10);
    expect(f.accepted.size).toBe(1000);

    let closedEarly = 0;
    for (const c of [...conns, ...f.accepted]) void c.closed.then(() => closedEarly++);
    await sleep(1000);
    expect(closedEarly).toBe(0);
    expect(f.client.nativeConnectionCount).toBe(1000);
    expect(f.serverSocket.nativeConnectionCount).toBe(1000);

    const held = await settledMemory();
    const rssPer = (held.rss - base.rss) / 1000;
    const heapPer = (held.heapUsed - base.heapUsed) / 1000;
    expect(closedEarly).toBe(0);

    const t2 = Date.now();
    await withTimeout(Promise.all(conns.map((c) => c.close())), 30_000, 'closing 1000 connections');
    const after = await drained(f.serverSocket, f.client);
    const t3 = Date.now();
    console.log(
      [
        `idle: 1000 connections (both ends on 127.0.0.1) established in ${t1 - t0} ms`,
        `idle: per connection (client + server side together): rss ${(rssPer / 1024).toFixed(1)} KiB, heapUsed ${(heapPer / 1024).toFixed(1)} KiB`,
        `idle: rss ${fmt(base.rss)} -> ${fmt(held.rss)}, heapUsed ${fmt(base.heapUsed)} -> ${fmt(held.heapUsed)}`,
        `idle: closed all in ${t3 - t2} ms, native counts server ${after.server} / client ${after.client} after ${after.waited} ms`,
      ].join('\n'),
    );
    expect({ server: after.server, client: after.client }).toEqual({ server: 0, client: 0 });
    expect(f.accepted.size).toBe(0);
  });
});
