// NSS key log (SSLKEYLOGFILE format): callback and file targets on both
// sides, the four TLS 1.3 secrets per connection, and no output when off.
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { QuicSocket } from '../lib';
import {
  ALPN,
  QuicConnection,
  certFor,
  connectTo,
  echoEverything,
  nextConnection,
  sleep,
  startServer,
  tempDir,
  trackClient,
  trackServer,
  withTimeout,
} from './helpers';

const creds = certFor('ecdsa-p256');
const tmp = tempDir('nquic-keylog-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let fileCounter = 0;
function logPath(): string {
  return join(tmp, `keys-${process.pid}-${++fileCounter}.log`);
}

const REQUIRED = [
  'CLIENT_HANDSHAKE_TRAFFIC_SECRET',
  'SERVER_HANDSHAKE_TRAFFIC_SECRET',
  'CLIENT_TRAFFIC_SECRET_0',
  'SERVER_TRAFFIC_SECRET_0',
];
const LINE = /^([A-Z_0-9]+) ([0-9a-f]{64}) ([0-9a-f]{64,128})$/;

interface Entry {
  label: string;
  random: string;
  secret: string;
}

function parse(lines: string[]): Entry[] {
  return lines.map((line) => {
    const m = LINE.exec(line);
    if (!m) throw new Error(`not an NSS key log line: ${JSON.stringify(line)}`);
    return { label: m[1], random: m[2], secret: m[3] };
  });
}

function fileLines(path: string): string[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'latin1').split('\n').filter((l) => l.length > 0);
}

/** Polls until `get()` holds every required label (or `ms` passes), then returns it. */
async function untilComplete(get: () => string[], ms: number, label: string): Promise<Entry[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const entries = parse(get());
    const labels = new Set(entries.map((e) => e.label));
    if (REQUIRED.every((l) => labels.has(l))) return entries;
    if (Date.now() > deadline) throw new Error(`${label}: key log incomplete after ${ms} ms, labels: ${[...labels].join(', ') || 'none'}`);
    await sleep(10);
  }
}

function byRandom(entries: Entry[]): Map<string, Entry[]> {
  const map = new Map<string, Entry[]>();
  for (const e of entries) map.set(e.random, [...(map.get(e.random) ?? []), e]);
  return map;
}

function secretsOf(entries: Entry[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of entries) if (REQUIRED.includes(e.label)) out[e.label] = e.secret;
  return out;
}

// ---------------------------------------------------------------------------

describe('keylog', () => {
  test('a client callback gets the four TLS 1.3 secrets, one client random, well-formed lines', async () => {
    const server = await startServer(creds);
    const lines: string[] = [];
    await withTimeout(connectTo(server, creds.cert, { keylog: (line: string) => lines.push(line) }), 5000, 'connect()');
    const entries = await untilComplete(() => lines, 2000, 'client callback');
    for (const line of lines) expect(line).toMatch(LINE);
    for (const line of lines) expect(line).not.toMatch(/\n/);
    const randoms = new Set(entries.map((e) => e.random));
    expect(randoms.size).toBe(1);
    for (const label of REQUIRED) expect(entries.filter((e) => e.label === label).length).toBe(1);
    // Four distinct secrets.
    expect(new Set(Object.values(secretsOf(entries))).size).toBe(4);
  });

  test('client and server callbacks log the same secrets for the same connection', async () => {
    const serverLines: string[] = [];
    const clientLines: string[] = [];
    const server = await startServer(creds, { keylog: (line: string) => serverLines.push(line) });
    const serverConnP = nextConnection(server);
    await withTimeout(connectTo(server, creds.cert, { keylog: (line: string) => clientLines.push(line) }), 5000, 'connect()');
    await serverConnP;
    const c = await untilComplete(() => clientLines, 2000, 'client');
    const s = await untilComplete(() => serverLines, 2000, 'server');
    expect(new Set(s.map((e) => e.random))).toEqual(new Set(c.map((e) => e.random)));
    expect(secretsOf(s)).toEqual(secretsOf(c));
  });

  test('keylog as a file path: client and server append the same lines to their files', async () => {
    const clientFile = logPath();
    const serverFile = logPath();
    const server = await startServer(creds, { keylog: serverFile });
    const serverConnP = nextConnection(server);
    await withTimeout(connectTo(server, creds.cert, { keylog: clientFile }), 5000, 'connect()');
    await serverConnP;
    const c = await untilComplete(() => fileLines(clientFile), 2000, 'client file');
    const s = await untilComplete(() => fileLines(serverFile), 2000, 'server file');
    expect(new Set(c.map((e) => e.random)).size).toBe(1);
    expect(new Set(s.map((e) => e.random))).toEqual(new Set(c.map((e) => e.random)));
    expect(secretsOf(s)).toEqual(secretsOf(c));
    // Whole lines only, each ending in a newline.
    expect(readFileSync(clientFile, 'latin1').endsWith('\n')).toBe(true);
    expect(readFileSync(serverFile, 'latin1').endsWith('\n')).toBe(true);
  });

  test('a second connection appends to the same file, with its own client random', async () => {
    const file = logPath();
    const server = await startServer(creds);
    await withTimeout(connectTo(server, creds.cert, { keylog: file }), 5000, 'first connect()');
    const first = await untilComplete(() => fileLines(file), 2000, 'first');
    const firstRandom = first[0].random;
    await withTimeout(connectTo(server, creds.cert, { keylog: file }), 5000, 'second connect()');
    const deadline = Date.now() + 2000;
    let groups = byRandom(parse(fileLines(file)));
    while (groups.size < 2 && Date.now() < deadline) {
      await sleep(10);
      groups = byRandom(parse(fileLines(file)));
    }
    expect(groups.size).toBe(2);
    expect(groups.has(firstRandom)).toBe(true);
    for (const entries of groups.values()) {
      for (const label of REQUIRED) expect(entries.map((e) => e.label)).toContain(label);
    }
  });

  test('nothing is logged for a connection without keylog, even on a socket/server where another has one', async () => {
    // The server logs every connection (server option); client A logs to a file,
    // client B (same client socket) has no keylog: the file holds only A's random.
    const serverLines: string[] = [];
    const server = await startServer(creds, { keylog: (line: string) => serverLines.push(line) });
    const socket = await QuicSocket.bind({ address: '127.0.0.1', port: 0 });
    trackServer(socket, 'client socket');
    const file = logPath();
    const callbackLines: string[] = [];
    const common = { host: '127.0.0.1', port: server.address.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost' };

    trackClient(await withTimeout(socket.connect({ ...common, keylog: file }), 5000, 'connect() A (file)'));
    const a = await untilComplete(() => fileLines(file), 2000, 'A file');
    const aRandom = a[0].random;
    const sizeAfterA = statSync(file).size;

    trackClient(await withTimeout(socket.connect({ ...common }), 5000, 'connect() B (no keylog)'));
    trackClient(
      await withTimeout(socket.connect({ ...common, keylog: (l: string) => callbackLines.push(l) }), 5000, 'connect() C (callback)'),
    );
    const c = await untilComplete(() => callbackLines, 2000, 'C callback');
    const cRandom = c[0].random;

    // The server saw three connections: learn B's client random from its log.
    const deadline = Date.now() + 2000;
    let serverGroups = byRandom(parse(serverLines));
    while (serverGroups.size < 3 && Date.now() < deadline) {
      await sleep(10);
      serverGroups = byRandom(parse(serverLines));
    }
    expect(serverGroups.size).toBe(3);
    const bRandom = [...serverGroups.keys()].find((r) => r !== aRandom && r !== cRandom);
    expect(bRandom).toBeDefined();

    await sleep(200);
    // The file did not grow for B or C, and C's callback only ever saw C.
    expect(statSync(file).size).toBe(sizeAfterA);
    expect(new Set(parse(fileLines(file)).map((e) => e.random))).toEqual(new Set([aRandom]));
    expect(new Set(c.map((e) => e.random))).toEqual(new Set([cRandom]));
    expect(parse(callbackLines).some((e) => e.random === bRandom)).toBe(false);
  });

  test('without keylog on either side no key material reaches a keylog target', async () => {
    // A file path that another connection logged to must not grow when a later
    // connection (on another server and client, both without keylog) runs.
    const file = logPath();
    const serverA = await startServer(creds, { keylog: file });
    await withTimeout(connectTo(serverA, creds.cert), 5000, 'connect() to the logging server');
    await untilComplete(() => fileLines(file), 2000, 'server A file');
    const size = statSync(file).size;

    const serverB = await startServer(creds);
    echoEverything(serverB);
    const conn: QuicConnection = await withTimeout(connectTo(serverB, creds.cert), 5000, 'connect() without keylog');
    const s = await conn.openStream();
    s.end('traffic');
    await sleep(300);
    expect(statSync(file).size).toBe(size);
  });

  test('0-RTT: the client logs CLIENT_EARLY_TRAFFIC_SECRET with the same client random', async () => {
    const server = await startServer(creds, { earlyData: true });
    const first = await withTimeout(connectTo(server, creds.cert, { earlyData: true }), 5000, 'first connect()');
    const ticketDeadline = Date.now() + 1000;
    while (!first.sessionTicket && Date.now() < ticketDeadline) await sleep(10);
    const ticket = first.sessionTicket;
    expect(ticket).toBeDefined();
    await first.close();

    const lines: string[] = [];
    const conn = await withTimeout(
      connectTo(server, creds.cert, { earlyData: true, sessionTicket: ticket, keylog: (l: string) => lines.push(l) }),
      5000,
      '0-RTT connect()',
    );
    const entries = await untilComplete(() => lines, 2000, '0-RTT client');
    const early = entries.filter((e) => e.label === 'CLIENT_EARLY_TRAFFIC_SECRET');
    expect(early.length).toBe(1);
    expect(new Set(entries.map((e) => e.random)).size).toBe(1);
    expect(conn.resumed).toBe(true);
  });
});
