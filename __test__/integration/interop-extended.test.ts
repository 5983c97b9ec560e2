// Interoperability, extended: nquic (quiche) against quinn (rustls/ring) for
// Retry, TLS session resumption, 1-RTT key updates during a long transfer, and a
// ChaCha20-Poly1305-only TLS configuration, in both directions where the peer allows.
//
// The peer is the standalone Cargo project interop/quinn-peer (see quinn-peer.ts).
import { randomBytes } from 'node:crypto';
import { connect, listen } from '../../lib';
import { cleanUpPeers, ClientReport, ClientRun, PeerFiles, PeerServer, preparePeer, runQuinnClient, startQuinnServer, stopQuinnServer } from './quinn-peer';
import { ALPN, firstDiff, MiB, QuicConnection, QuicServer, QuicStream, readAll, sleep, stallInfo, withTimeout, writeAll } from './quinn-support';

// ---------------------------------------------------------------------------
// quinn-peer processes

/** Waits (bounded) until `peer`'s stderr matches `pattern`; returns the stderr either way. */
async function waitForLog(peer: PeerServer, pattern: RegExp, ms = 3000): Promise<string> {
  const deadline = Date.now() + ms;
  while (!pattern.test(peer.stderr()) && Date.now() < deadline) await sleep(50);
  return peer.stderr();
}

// ---------------------------------------------------------------------------
// nquic sides

/** An nquic echo server: bidi streams echoed; records its connections and errors. */
async function startEchoServer(extra: { retry?: boolean; qlog?: (chunk: string) => void } = {}): Promise<{
  server: QuicServer;
  connections: QuicConnection[];
  errors: string[];
}> {
  const server = await withTimeout(
    listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], key: files.creds.key, cert: files.creds.cert, ...extra }),
    5000,
    'listen()',
  );
  const connections: QuicConnection[] = [];
  const errors: string[] = [];
  server.on('connection', (conn: QuicConnection) => {
    connections.push(conn);
    conn.on('stream', (s: QuicStream) => {
      readAll(s, 64 * MiB)
        .then((data) => writeAll(s, data))
        .catch((err) => errors.push(`stream ${s.id}: ${String(err)}`));
    });
  });
  return { server, connections, errors };
}

async function connectTo(
  port: number,
  extra: { sessionTicket?: Uint8Array; qlog?: (chunk: string) => void } = {},
): Promise<QuicConnection> {
  const c = await withTimeout(
    connect({ host: '127.0.0.1', port, alpn: [ALPN], ca: files.creds.cert, serverName: 'localhost', ...extra }),
    10_000,
    'connect() to quinn',
  );
  opened.add(c);
  return c;
}

/** Echoes `bytes` random bytes over one bidi stream of `c` and checks them. */
async function echo(c: QuicConnection, bytes: number, ms = 15_000): Promise<void> {
  const payload = randomBytes(bytes);
  const s = await withTimeout(c.openStream(), 5000, 'openStream()');
  const echoed = readAll(s, bytes + 1);
  echoed.catch(() => undefined); // reported where awaited
  await withTimeout(writeAll(s, payload), ms, () => stallInfo(`write ${bytes} bytes`, c, s));
  const back = await withTimeout(echoed, ms, () => stallInfo(`read ${bytes}-byte echo`, c, s));
  expect(firstDiff(back, payload)).toBe('identical');
}

// ---------------------------------------------------------------------------

let files: PeerFiles;
const opened = new Set<QuicConnection>();
const servers = new Set<QuicServer>();
const peers = new Set<PeerServer>();

beforeAll(async () => {
  files = await preparePeer('nquic-interop-ext-');
}, 10 * 60_000);

afterEach(async () => {
  for (const c of opened) await withTimeout(c.close(), 5000, 'conn.close()').catch(() => undefined);
  opened.clear();
  for (const s of servers) await withTimeout(s.close(), 5000, 'server.close()').catch(() => undefined);
  servers.clear();
  for (const p of peers) await stopQuinnServer(p);
  peers.clear();
});

afterAll(() => cleanUpPeers(files));

async function quinnServer(extra: string[] = []): Promise<PeerServer> {
  const p = await startQuinnServer(files, extra);
  peers.add(p);
  return p;
}

async function nquicServer(extra: { retry?: boolean; qlog?: (chunk: string) => void } = {}) {
  const s = await startEchoServer(extra);
  servers.add(s.server);
  return s;
}

function expectClientOk(result: ClientRun): ClientReport {
  expect({ report: result.report, context: result.context }).toMatchObject({
    report: { streamOk: true, alpn: ALPN, error: null },
  });
  expect({ code: result.code, context: result.context }).toMatchObject({ code: 0 });
  return result.report!;
}

// ---------------------------------------------------------------------------

describe('Retry', () => {
  test('quinn client → nquic server with retry: true: handshake through a Retry, stream echo', async () => {
    const { server, connections, errors } = await nquicServer({ retry: true });
    const report = expectClientOk(await runQuinnClient(files, server.address.port, ['--bytes', String(256 * 1024), '--datagrams', '0']));
    expect(report.connections).toBe(1);
    expect(errors).toEqual([]);
    expect(connections).toHaveLength(1);
    expect(connections[0].alpnProtocol).toBe(ALPN);
  }, 60_000);

  test('nquic client → quinn server --retry: handshake through a Retry, stream echo', async () => {
    const peer = await quinnServer(['--retry']);
    const c = await connectTo(peer.port);
    await echo(c, 256 * 1024);
    const port = c.localAddress.port;
    // quinn logs the Retry it sent and that the accepted connection's address was validated.
    const log = await waitForLog(peer, new RegExp(`connection from 127\\.0\\.0\\.1:${port}, .*address validated true`));
    expect(log).toMatch(new RegExp(`sent Retry to 127\\.0\\.0\\.1:${port}`));
    expect(log).toMatch(new RegExp(`connection from 127\\.0\\.0\\.1:${port}, .*address validated true`));
  }, 40_000);
});

describe('TLS session resumption', () => {
  test('nquic client → quinn server: a second connect with the first sessionTicket resumes', async () => {
    const peer = await quinnServer();
    const first = await connectTo(peer.port);
    expect(first.resumed).toBe(false);
    await echo(first, 16 * 1024);
    // rustls sends its NewSessionTicket messages right after the handshake.
    const deadline = Date.now() + 3000;
    while (!first.sessionTicket && Date.now() < deadline) await sleep(20);
    const ticket = first.sessionTicket;
    expect(ticket).toBeInstanceOf(Uint8Array);
    await withTimeout(first.close(), 5000, 'first.close()');
    opened.delete(first);

    const second = await connectTo(peer.port, { sessionTicket: ticket });
    expect(second.resumed).toBe(true);
    await echo(second, 16 * 1024);
  }, 40_000);

  test('quinn client --resume → nquic server: the second connection resumes', async () => {
    const { server, connections, errors } = await nquicServer();
    const report = expectClientOk(await runQuinnClient(files, server.address.port, ['--bytes', String(16 * 1024), '--datagrams', '0', '--resume']));
    expect(report.connections).toBe(2);
    expect(report.ticketsReceived).toBeGreaterThan(0);
    expect(report.ticketsOffered).toBeGreaterThanOrEqual(1);
    expect(errors).toEqual([]);
    expect(connections).toHaveLength(2);
    // quinn 0.11 does not say whether a handshake resumed: nquic's server side does.
    expect(connections.map((c) => c.resumed)).toEqual([false, true]);
  }, 60_000);
});

describe('1-RTT key updates during a long transfer', () => {
  const BYTES = 8 * MiB;

  test('quinn client forcing key updates every 50 ms → nquic server: 8 MiB echo intact', async () => {
    const { server, connections, errors } = await nquicServer();
    const report = expectClientOk(
      await runQuinnClient(files, server.address.port, ['--bytes', String(BYTES), '--datagrams', '0', '--key-update-ms', '50'], 60_000),
    );
    expect(report.keyUpdates).toBeGreaterThan(0);
    expect(errors).toEqual([]);
    expect(connections).toHaveLength(1);
  }, 90_000);

  test('nquic client → quinn server forcing key updates every 50 ms: 8 MiB echo intact', async () => {
    const peer = await quinnServer(['--key-update-ms', '50']);
    const c = await connectTo(peer.port);
    const closeInfo: unknown[] = [];
    c.closed.then(
      (i) => closeInfo.push(i),
      (e) => closeInfo.push(e),
    );
    // Warm-up: let quinn's post-handshake flight (HANDSHAKE_DONE, RETIRE_CONNECTION_ID 0) be
    // acknowledged before the bulk upload keeps nquic busy; otherwise the known CID bug below
    // (not a key-update problem) can end the connection first.
    await echo(c, 1024);
    await sleep(100);
    await echo(c, BYTES, 40_000).catch(async (err) => {
      await sleep(300); // let quinn log how the connection ended
      throw new Error(
        `${String(err)}\nnquic close: ${JSON.stringify(closeInfo, (_k, v) => (v instanceof Error ? { ...v, message: v.message } : v))}` +
          `\nquinn stderr:\n${peer.stderr()}`,
      );
    });
    const port = c.localAddress.port;
    await withTimeout(c.close(), 5000, 'close()');
    opened.delete(c);
    // The timer's updates may all fall outside a fast transfer (the warm-up
    // alone spans two ticks); quinn forces one half way through the 8 MiB echo.
    const midEcho = new RegExp(`127\\.0\\.0\\.1:${port}: forced a key update mid-echo of ${BYTES} bytes`);
    expect(await waitForLog(peer, midEcho)).toMatch(midEcho);
    const pattern = new RegExp(`127\\.0\\.0\\.1:${port}: forced (\\d+) key updates`);
    const log = await waitForLog(peer, pattern);
    const m = pattern.exec(log);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(0);
  }, 90_000);
});

// KNOWN BUG (skipped so the suite stays green; un-skip to reproduce, fails in roughly 1 of 6
// connections on a loaded machine): quinn's server retires the client's initial connection ID
// as soon as it receives nquic's NEW_CONNECTION_ID (seq 1), sending RETIRE_CONNECTION_ID(0)
// with HANDSHAKE_DONE. When nquic is slow to acknowledge that packet (busy with a bulk upload
// right after the handshake), quinn retransmits the frame, and nquic closes the connection
// with transport error 0xa (PROTOCOL_VIOLATION) — before nquic raised active_connection_id_limit. The duplicate RETIRE_CONNECTION_ID is legal
// (RFC 9000 §13.3); quiche 0.30's ConnectionIdentifiers::retire_scid fails with
// OutOfIdentifiers whenever only one source CID remains, even for an already retired sequence
// number, and nquic has only two source CIDs (quiche's default local active_connection_id_limit
// of 2 caps its spares) and issues no replacement before the duplicate is processed.
describe('duplicate RETIRE_CONNECTION_ID from quinn (fixed: active_connection_id_limit 4)', () => {
  test('8 MiB uploads right after the handshake: no connection ends with PROTOCOL_VIOLATION', async () => {
    const peer = await quinnServer();
    const failures: string[] = [];
    const uploads = Number(process.env.NQUIC_RETIRE_UPLOADS ?? 12);
    for (let i = 0; i < uploads; i++) {
      const c = await connectTo(peer.port);
      await echo(c, 8 * MiB, 40_000).catch((err) => failures.push(`connection ${i}: ${String(err)}`));
      await withTimeout(c.close(), 5000, 'close()').catch(() => undefined);
      opened.delete(c);
    }
    expect(failures).toEqual([]);
  }, 5 * 60_000);
});

describe('TLS13_CHACHA20_POLY1305_SHA256 only', () => {
  test('nquic client → quinn server --chacha-only: handshake and 1 MiB echo', async () => {
    const peer = await quinnServer(['--chacha-only']);
    let qlog = '';
    const c = await connectTo(peer.port, { qlog: (chunk) => (qlog += chunk) });
    expect(c.alpnProtocol).toBe(ALPN);
    await echo(c, MiB);
    // quiche's qlog names the negotiated TLS cipher.
    expect(qlog).toMatch(/"tls_cipher":"ChaCha20_Poly1305"/);
  }, 40_000);

  test('quinn client --chacha-only → nquic server: handshake and 1 MiB echo', async () => {
    let qlog = '';
    const { server, connections, errors } = await nquicServer({ qlog: (chunk) => (qlog += chunk) });
    expectClientOk(await runQuinnClient(files, server.address.port, ['--bytes', String(MiB), '--datagrams', '0', '--chacha-only']));
    expect(errors).toEqual([]);
    expect(connections).toHaveLength(1);
    expect(qlog).toMatch(/"tls_cipher":"ChaCha20_Poly1305"/);
  }, 60_000);
});
