// A flood of hostile datagrams — random and truncated long- and short-header
// QUIC lookalikes plus bit-flipped copies of real captured packets — sent at
// the server's and the clients' ports while an 8 MiB transfer runs. Nothing
// may throw, the transfer must stay intact, and new clients must still get
// through during and after the flood. Everything is sent to 127.0.0.1 only;
// the flood comes from several ports on 127.0.0.2–127.0.0.5, so that the
// server's per-address handshake rate limit treats it as the foreign
// traffic it is (a flood from 127.0.0.1 would share the legitimate clients'
// budget).
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { connect } from '../../lib';
import {
  ALPN,
  certFor,
  MiB,
  nextConnection,
  readAll,
  sha256Hex,
  sleep,
  startServer,
  trackClient,
  trackDgram,
  trackServer,
  within,
  withTimeout,
  type ConnectOptions,
  type Credentials,
  type QuicConnection,
  echoEverything,
} from '../helpers';
import { FaultRelay, mulberry32 } from './fault-relay';

jest.setTimeout(120_000);

const FLOOD_DATAGRAMS = 20_000;
const FLOOD_BATCH = 100;
const FLOOD_BATCH_GAP_MS = 18; // ~200 batches → a few seconds
const FLOOD_SOURCES = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'];
const SOCKETS_PER_SOURCE = 2;

function connectDirect(port: number, creds: Credentials, label: string): Promise<QuicConnection> {
  return withTimeout(
    connect({ host: '127.0.0.1', port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost', timeout: 15_000 } as ConnectOptions).then((c) =>
      trackClient(c, label),
    ),
    20_000,
    `${label}: connect()`,
  );
}

async function echo(client: QuicConnection, data: Buffer, label: string, ms: number): Promise<void> {
  const stream = await withTimeout(client.openStream(), 5000, `${label}: openStream()`);
  stream.on('error', () => {});
  const back = readAll(stream, data.length + MiB);
  stream.end(data);
  const got = await withTimeout(back, ms, `${label}: echo of ${data.length} bytes`);
  expect(got.length).toBe(data.length);
  expect(sha256Hex(got)).toBe(sha256Hex(data));
}

/**
 * Echo of `data` written in 64 KiB chunks `gapMs` apart (honouring
 * backpressure), so that the transfer spans the whole flood.
 */
async function pacedEcho(client: QuicConnection, data: Buffer, gapMs: number, label: string, ms: number): Promise<void> {
  const stream = await withTimeout(client.openStream(), 5000, `${label}: openStream()`);
  stream.on('error', () => {});
  const back = readAll(stream, data.length + MiB);
  const CHUNK = 64 * 1024;
  for (let at = 0; at < data.length; at += CHUNK) {
    if (!stream.write(data.subarray(at, at + CHUNK))) {
      await withTimeout(new Promise((resolve) => stream.once('drain', resolve)), 20_000, `${label}: 'drain'`);
    }
    await sleep(gapMs);
  }
  stream.end();
  const got = await withTimeout(back, ms, `${label}: echo of ${data.length} bytes`);
  expect(got.length).toBe(data.length);
  expect(sha256Hex(got)).toBe(sha256Hex(data));
}

/** A fresh client connects, echoes 64 KiB and a datagram, and closes. */
async function newClientWorks(port: number, creds: Credentials, label: string): Promise<number> {
  const started = performance.now();
  const client = await connectDirect(port, creds, label);
  await echo(client, randomBytes(64 * 1024), label, 20_000);
  const echoed = new Promise<void>((resolve) => client.once('datagram', () => resolve()));
  // Datagrams are unreliable: retry a few times.
  for (let i = 0; i < 20 && (await within(echoed, 0)) === undefined; i++) {
    client.sendDatagram(Buffer.from(`${label} datagram ${i}`));
    await within(echoed, 250);
  }
  await withTimeout(echoed, 1000, `${label}: datagram echo`);
  await withTimeout(client.close(), 5000, `${label}: close()`);
  return performance.now() - started;
}

// ---------------------------------------------------------------------------
// Hostile datagrams

type Random = () => number;

function randInt(r: Random, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

/** Pseudo-random bytes come from a pool filled once from the seeded PRNG (per-byte generation is far too slow). */
const POOL_BYTES = 512 * 1024;
let pool: Buffer | undefined;

function randBytes(r: Random, n: number): Buffer {
  if (!pool) {
    const words = new Uint32Array(POOL_BYTES / 4);
    for (let i = 0; i < words.length; i++) words[i] = Math.floor(r() * 2 ** 32);
    pool = Buffer.from(words.buffer);
  }
  const at = randInt(r, 0, POOL_BYTES - n);
  return Buffer.from(pool.subarray(at, at + n));
}

const VERSIONS = [0x00000001, 0x6b3343cf, 0x00000000, 0xff00001d, 0x1a2a3a4a, 0xfaceb002];

/** A long-header lookalike: random type, version and CIDs (sometimes over-long), random payload. */
function longHeader(r: Random): Buffer {
  const version = r() < 0.6 ? VERSIONS[randInt(r, 0, VERSIONS.length - 1)] : Math.floor(r() * 2 ** 32);
  const dcid = randBytes(r, r() < 0.9 ? randInt(r, 0, 20) : randInt(r, 21, 255));
  const scid = randBytes(r, r() < 0.9 ? randInt(r, 0, 20) : randInt(r, 21, 255));
  const head = Buffer.alloc(7);
  head[0] = 0xc0 | (randInt(r, 0, 3) << 4) | randInt(r, 0, 15);
  head.writeUInt32BE(version >>> 0, 1);
  head[5] = dcid.length;
  const parts = [head.subarray(0, 6), dcid, Buffer.from([scid.length]), scid];
  // Initial-sized ones (≥ 1200 bytes) reach the server's accept path.
  const body = randBytes(r, r() < 0.3 ? randInt(r, 1200, 1400) : randInt(r, 0, 300));
  return Buffer.concat([...parts, body]).subarray(0, 1472);
}

/** A short-header lookalike with a random 16-byte (nquic's length) or other-length CID. */
function shortHeader(r: Random): Buffer {
  const b = randBytes(r, randInt(r, 1, 1400));
  b[0] = 0x40 | (b[0] & 0x3f);
  return b;
}

/** A tiny or truncated datagram (fixed bit set, so the endpoint sees it). */
function truncated(r: Random, captured: Buffer[]): Buffer {
  if (captured.length > 0 && r() < 0.5) {
    const src = captured[randInt(r, 0, captured.length - 1)];
    return Buffer.from(src.subarray(0, randInt(r, 0, Math.min(src.length, 60))));
  }
  const b = randBytes(r, randInt(r, 0, 24));
  if (b.length > 0) b[0] |= 0x40;
  return b;
}

/** A real packet of a live connection with bits flipped (and maybe truncated). */
function mutated(r: Random, captured: Buffer[]): Buffer {
  const b = Buffer.from(captured[randInt(r, 0, captured.length - 1)]);
  const flips = randInt(r, 1, 8);
  for (let i = 0; i < flips; i++) {
    // Mostly past the header, so that routing still finds the connection.
    const at = r() < 0.8 ? randInt(r, Math.min(b.length - 1, 20), b.length - 1) : randInt(r, 0, b.length - 1);
    b[at] ^= 1 << randInt(r, 0, 7);
  }
  return r() < 0.2 ? b.subarray(0, randInt(r, 1, b.length)) : b;
}

interface FloodStats {
  sent: number;
  bytesSent: number;
  responses: number;
  bytesReceived: number;
  kinds: Record<string, number>;
}

async function flood(
  sockets: dgram.Socket[],
  ports: number[],
  captured: Buffer[],
  r: Random,
  stats: FloodStats,
  progress: (sent: number) => void,
): Promise<void> {
  while (stats.sent < FLOOD_DATAGRAMS) {
    for (let i = 0; i < FLOOD_BATCH && stats.sent < FLOOD_DATAGRAMS; i++) {
      const roll = r();
      let kind: string;
      let d: Buffer;
      if (roll < 0.3) [kind, d] = ['long', longHeader(r)];
      else if (roll < 0.55) [kind, d] = ['short', shortHeader(r)];
      else if (roll < 0.65) [kind, d] = ['truncated', truncated(r, captured)];
      else [kind, d] = ['mutated', mutated(r, captured)];
      stats.kinds[kind] = (stats.kinds[kind] ?? 0) + 1;
      const sock = sockets[randInt(r, 0, sockets.length - 1)];
      const port = ports[randInt(r, 0, ports.length - 1)];
      sock.send(d, port, '127.0.0.1');
      stats.sent++;
      stats.bytesSent += d.length;
    }
    progress(stats.sent);
    await sleep(FLOOD_BATCH_GAP_MS);
  }
}

async function floodSockets(stats: FloodStats): Promise<dgram.Socket[]> {
  const sockets: dgram.Socket[] = [];
  for (const address of FLOOD_SOURCES) {
    for (let i = 0; i < SOCKETS_PER_SOURCE; i++) {
      const sock = trackDgram(dgram.createSocket('udp4'), `flood socket ${address}`);
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, address, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      sock.on('error', () => {});
      sock.on('message', (msg) => {
        stats.responses++;
        stats.bytesReceived += msg.length;
      });
      sockets.push(sock);
    }
  }
  return sockets;
}

describe('datagram flood', () => {
  test('20 000 hostile datagrams at server and client ports: no exception, 8 MiB intact, new clients get through', async () => {
    const started = performance.now();
    const creds = certFor();
    const server = await startServer(creds);
    echoEverything(server);
    const serverPort = server.address.port;

    // 1. Capture real packets of a connection (both directions) through a
    //    relay that records them; that connection stays up during the flood.
    const relay = trackServer(await FaultRelay.create({ target: { port: serverPort }, captureLimit: 600, seed: 3 }), 'capture relay');
    const capturedConnP = nextConnection(server, 10_000);
    const capturedClient = await withTimeout(
      connect({ host: '127.0.0.1', port: relay.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost' } as ConnectOptions).then((c) =>
        trackClient(c, 'captured client'),
      ),
      10_000,
      'captured client: connect()',
    );
    await capturedConnP;
    await echo(capturedClient, randomBytes(128 * 1024), 'captured client', 10_000);
    for (let i = 0; i < 10; i++) capturedClient.sendDatagram(Buffer.from(`capture ${i}`));
    await sleep(100);
    const captured = relay.captured.map((c) => c.data).filter((d) => d.length > 0);
    expect(captured.length).toBeGreaterThan(20);
    expect(captured.some((d) => (d[0] & 0xf0) === 0xc0)).toBe(true); // an Initial
    expect(captured.some((d) => (d[0] & 0x80) === 0)).toBe(true); // 1-RTT

    // 2. The 8 MiB transfer, on a direct connection.
    const transferServerConnP = nextConnection(server, 10_000);
    const transferClient = await connectDirect(serverPort, creds, 'transfer client');
    const transferServerConn = await transferServerConnP;
    const data = randomBytes(8 * MiB);
    const floodStats: FloodStats = { sent: 0, bytesSent: 0, responses: 0, bytesReceived: 0, kinds: {} };
    let transferDoneAt = 0;
    let floodSentAtTransferEnd = -1;
    // 128 chunks 25 ms apart: the transfer lasts about as long as the flood.
    const transfer = pacedEcho(transferClient, data, 25, 'transfer client', 90_000).then(() => {
      transferDoneAt = performance.now();
      floodSentAtTransferEnd = floodStats.sent;
    });

    // 3. The flood, at the server, the transfer client and the captured client.
    const sockets = await floodSockets(floodStats);
    const ports = [serverPort, transferClient.localAddress.port, capturedClient.localAddress.port];
    let duringClient: Promise<number> | undefined;
    const floodStarted = performance.now();
    const flooding = flood(sockets, ports, captured, mulberry32(0xf100d), floodStats, (sent) => {
      // 4. A new client connects and echoes while the flood is under way.
      if (!duringClient && sent >= FLOOD_DATAGRAMS / 4) duringClient = newClientWorks(serverPort, creds, 'client during the flood');
    });
    await withTimeout(flooding, 60_000, 'the flood');
    const floodMs = performance.now() - floodStarted;
    expect(duringClient).toBeDefined();
    const duringMs = await duringClient!;

    await transfer;
    const transferMs = transferDoneAt - floodStarted;
    // The transfer really ran under the flood (most of it, at least).
    expect(floodSentAtTransferEnd).toBeGreaterThan(FLOOD_DATAGRAMS / 2);

    // 5. And afterwards.
    const afterMs = await newClientWorks(serverPort, creds, 'client after the flood');

    // The connections flooded with their own mutated packets are still fine.
    expect(await within(transferClient.closed, 0)).toBeUndefined();
    expect(await within(transferServerConn.closed, 0)).toBeUndefined();
    expect(await within(capturedClient.closed, 0)).toBeUndefined();
    await echo(capturedClient, randomBytes(32 * 1024), 'captured client after the flood', 10_000);

    // Answers to the flood (version negotiation, stateless resets) must not
    // amplify it (RFC 9000 §8 allows at most 3×).
    expect(floodStats.bytesReceived).toBeLessThanOrEqual(3 * floodStats.bytesSent);

    console.log(
      `flood: ${floodStats.sent} datagrams (${floodStats.bytesSent} bytes) in ${floodMs.toFixed(0)} ms ${JSON.stringify(floodStats.kinds)}; ` +
        `${floodStats.responses} responses (${floodStats.bytesReceived} bytes); 8 MiB echo done ${transferMs.toFixed(0)} ms after the flood began (${floodSentAtTransferEnd} flood datagrams sent by then); ` +
        `new client during the flood ${duringMs.toFixed(0)} ms, after ${afterMs.toFixed(0)} ms; ` +
        `server native connections now ${server.socket.nativeConnectionCount}; total ${(performance.now() - started).toFixed(0)} ms`,
    );
  });
});
