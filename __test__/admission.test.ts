// Every admission rule holds on every way in (issue #14, kind 3): the
// `verify` hooks, the built-in certificate checks, maxConnections,
// handshakeRateLimit and the relay's allow / maxFlows, against a full
// handshake, a resumed session, 0-RTT, a handshake after Retry, a relayed
// connection and a changed path. The README's table "Admission rules × ways
// in" names the test behind each cell.
import { generateCertificate, QuicError, QuicSocket } from '../lib';
import type { PeerInfo, QuicServer, RelayOptions } from '../lib';
import {
  ALPN,
  ConnectOptions,
  Credentials,
  ListenOptions,
  QuicConnection,
  certFor,
  connectTo,
  nextEvent,
  rejectionOf,
  sleep,
  startServer,
  trackClient,
  trackServer,
  watchServer,
  within,
  withTimeout,
} from './helpers';

const serverCreds = certFor();
const other = generateCertificate({ subjectAltNames: ['localhost'] });
const clientCA = generateCertificate({ subjectAltNames: ['Client CA'], isCa: true });
const clientLeaf = generateCertificate({ subjectAltNames: ['client.example'], ca: clientCA });
const otherCA = generateCertificate({ subjectAltNames: ['Other CA'], isCa: true });

const asClient = { key: clientLeaf.key, cert: clientLeaf.cert };

/** A session ticket from one connection to `server` made with `opts`. */
async function ticketFrom(server: QuicServer, opts: Partial<ConnectOptions> = {}): Promise<Uint8Array> {
  // Closed only once the server announced it, so that it counts there.
  const announced = nextEvent<QuicConnection>(server, 'connection', 5000, "server 'connection' for the ticket");
  const conn = await withTimeout(connectTo(server, serverCreds.cert, opts), 5000, 'connect for a ticket');
  const ticket = conn.sessionTicket ?? (await nextEvent<Uint8Array>(conn, 'sessionTicket', 3000, "'sessionTicket'"));
  await announced;
  await conn.close();
  return ticket;
}

/**
 * How a client attempt ends: 'admitted' when connect() resolves and nothing
 * closes it within `ms`, else the error code (connect() rejected, or — TLS
 * 1.3: a client finishes first — `closed` reported it).
 */
async function outcome(connecting: Promise<QuicConnection>, ms = 400): Promise<string> {
  let conn: QuicConnection;
  try {
    conn = await withTimeout(connecting, 5000, 'connect()');
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timeout:')) throw err;
    return (err as QuicError).code;
  }
  trackClient(conn);
  const info = await within(conn.closed, ms);
  return info === undefined ? 'admitted' : (info.error?.code ?? 'closed');
}

/** An attempt that writes a stream and a datagram as soon as connect() resolves (0-RTT when resuming). */
async function outcomeWritingEarly(connecting: Promise<QuicConnection>): Promise<string> {
  return outcome(
    connecting.then(async (conn) => {
      const s = await conn.openStream({ unidirectional: true });
      s.on('error', () => {});
      s.end('early data');
      try {
        conn.sendDatagram(Buffer.from('early datagram'));
      } catch {
        // datagrams not (yet) possible: the stream is enough
      }
      return conn;
    }),
  );
}

/** One uni stream to the server, waited for (it also lets the server issue spare connection IDs). */
async function exchange(conn: QuicConnection, counts: { streams: number }): Promise<void> {
  const before = counts.streams;
  const s = await conn.openStream({ unidirectional: true });
  s.end('hello');
  const deadline = Date.now() + 3000;
  while (counts.streams === before && Date.now() < deadline) await sleep(10);
  await sleep(20);
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}

// ---------------------------------------------------------------------------
describe('server verify hook', () => {
  function revokingServer(extra: Partial<ListenOptions> = {}) {
    const revoked = new Set<string>();
    const calls: PeerInfo[] = [];
    const verify = (peer: PeerInfo): boolean => {
      calls.push(peer);
      return !revoked.has(peer.fingerprint ?? '');
    };
    return startServer(serverCreds, { verify, ...extra }).then((server) => ({ server, revoked, calls, counts: watchServer(server) }));
  }

  test('full handshake: a refused client never reaches the app', async () => {
    const { server, revoked, counts } = await revokingServer();
    revoked.add(clientLeaf.fingerprint);
    expect(await outcomeWritingEarly(connectTo(server, serverCreds.cert, asClient))).toBe('ERR_QUIC_CERT_REJECTED');
    expect(counts).toEqual({ connections: 0, streams: 0, datagrams: 0, streamBytes: 0 });
  });

  test('resumption: a client revoked since its ticket is asked about again and refused', async () => {
    const { server, revoked, calls, counts } = await revokingServer();
    const ticket = await ticketFrom(server, asClient);
    revoked.add(clientLeaf.fingerprint);
    const before = calls.length;
    expect(await outcome(connectTo(server, serverCreds.cert, { ...asClient, sessionTicket: ticket }))).toBe('ERR_QUIC_CERT_REJECTED');
    expect(calls.length).toBe(before + 1);
    expect(calls[calls.length - 1].fingerprint).toBe(clientLeaf.fingerprint);
    expect(counts.connections).toBe(1); // only the first, full handshake
  });

  test('resumption: an accepted client resumes (the hook sees the session certificates)', async () => {
    const { server, calls } = await revokingServer();
    const ticket = await ticketFrom(server, asClient);
    const accepted = nextEvent<QuicConnection>(server, 'connection', 3000, "server 'connection'");
    const conn = await withTimeout(connectTo(server, serverCreds.cert, { ...asClient, sessionTicket: ticket }), 5000, 'resume');
    expect(conn.resumed).toBe(true);
    expect((await accepted).resumed).toBe(true);
    expect(calls.length).toBe(2);
    expect(Buffer.from(calls[1].certificates[0]).equals(Buffer.from(calls[0].certificates[0]))).toBe(true);
  });

  test("0-RTT: a revoked client's early stream and datagram never reach the app", async () => {
    const { server, revoked, counts } = await revokingServer({ earlyData: true });
    const ticket = await ticketFrom(server, asClient);
    revoked.add(clientLeaf.fingerprint);
    const result = await outcomeWritingEarly(connectTo(server, serverCreds.cert, { ...asClient, sessionTicket: ticket, earlyData: true }));
    expect(result).toBe('ERR_QUIC_CERT_REJECTED');
    await sleep(100);
    expect(counts).toEqual({ connections: 1, streams: 0, datagrams: 0, streamBytes: 0 });
  });

  test('0-RTT: an async hook holds early data back until it accepts', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let calls = 0;
    const server = await startServer(serverCreds, { earlyData: true, verify: async () => { if (++calls > 1) await gate; return true; } });
    const ticket = await ticketFrom(server, asClient);
    const got: string[] = [];
    server.on('connection', (c: QuicConnection) => c.on('stream', (s) => s.on('data', (d: Buffer) => got.push(String(d)))));
    const conn = await connectTo(server, serverCreds.cert, { ...asClient, sessionTicket: ticket, earlyData: true });
    const s = await conn.openStream({ unidirectional: true });
    s.end('held');
    await sleep(150);
    expect(got).toEqual([]);
    release();
    const deadline = Date.now() + 3000;
    while (got.length === 0 && Date.now() < deadline) await sleep(10);
    expect(got).toEqual(['held']);
    expect(conn.earlyDataAccepted).toBe(true);
  });

  test('after Retry (with resumption): a revoked client is refused', async () => {
    const { server, revoked, counts } = await revokingServer({ retry: true });
    const ticket = await ticketFrom(server, asClient);
    revoked.add(clientLeaf.fingerprint);
    expect(await outcome(connectTo(server, serverCreds.cert, { ...asClient, sessionTicket: ticket }))).toBe('ERR_QUIC_CERT_REJECTED');
    expect(await outcome(connectTo(server, serverCreds.cert, asClient))).toBe('ERR_QUIC_CERT_REJECTED');
    expect(counts.connections).toBe(1);
  });
});

// ---------------------------------------------------------------------------
describe('client verify hook', () => {
  test('full handshake: refusing the server rejects connect() with ERR_QUIC_CERT_REFUSED', async () => {
    const server = await startServer(serverCreds);
    const counts = watchServer(server);
    expect(await outcome(connectTo(server, serverCreds.cert, { verify: () => false }))).toBe('ERR_QUIC_CERT_REFUSED');
    await sleep(50);
    expect(counts.connections).toBe(0);
  });

  test('resumption: the hook is asked about the session certificates, and can refuse', async () => {
    const server = await startServer(serverCreds);
    const ticket = await ticketFrom(server);
    const seen: PeerInfo[] = [];
    const result = await outcome(connectTo(server, serverCreds.cert, { sessionTicket: ticket, verify: (p) => (seen.push(p), false) }));
    expect(result).toBe('ERR_QUIC_CERT_REFUSED');
    expect(seen.length).toBe(1);
    expect(seen[0].fingerprint).toBe(serverCreds.fingerprint);
    expect(seen[0].chainValid).toBe(true);
  });

  test('0-RTT: connect() does not resolve (so nothing is sent early) before the hook accepts; refusal rejects it', async () => {
    const server = await startServer(serverCreds, { earlyData: true });
    const counts = watchServer(server);
    const ticket = await ticketFrom(server);
    const result = await outcomeWritingEarly(connectTo(server, serverCreds.cert, { sessionTicket: ticket, earlyData: true, verify: () => false }));
    expect(result).toBe('ERR_QUIC_CERT_REFUSED');
    await sleep(100);
    expect(counts.streams).toBe(0);
    const accepted = await connectTo(server, serverCreds.cert, { sessionTicket: ticket, earlyData: true, verify: async () => { await sleep(50); return true; } });
    expect(accepted.resumed || !accepted.earlyDataAccepted).toBe(true);
  });

  test('after Retry: refusing the server rejects connect()', async () => {
    const server = await startServer(serverCreds, { retry: true });
    expect(await outcome(connectTo(server, serverCreds.cert, { verify: () => false }))).toBe('ERR_QUIC_CERT_REFUSED');
  });
});

// ---------------------------------------------------------------------------
describe('built-in certificate checks (ca, host name, verifyPeer)', () => {
  test('client, resumption: a ticket does not bypass a ca that no longer trusts the server', async () => {
    const server = await startServer(serverCreds);
    const ticket = await ticketFrom(server);
    expect(await outcome(connectTo(server, other.cert, { sessionTicket: ticket }))).toBe('ERR_QUIC_CERT_UNTRUSTED');
  });

  test('client, resumption: a ticket does not bypass the host name check', async () => {
    const server = await startServer(serverCreds);
    const ticket = await ticketFrom(server);
    expect(await outcome(connectTo(server, serverCreds.cert, { sessionTicket: ticket, serverName: 'elsewhere.example' }))).toBe('ERR_QUIC_CERT_NAME_MISMATCH');
  });

  test('client, 0-RTT: an untrusted server gets no early data', async () => {
    const server = await startServer(serverCreds, { earlyData: true });
    const counts = watchServer(server);
    const ticket = await ticketFrom(server);
    expect(await outcomeWritingEarly(connectTo(server, other.cert, { sessionTicket: ticket, earlyData: true }))).toBe('ERR_QUIC_CERT_UNTRUSTED');
    await sleep(100);
    expect(counts.streams).toBe(0);
  });

  test('server verifyPeer, resumption and 0-RTT: a client whose CA the server stopped trusting is refused', async () => {
    const server = await startServer(serverCreds, { verifyPeer: true, ca: clientCA.cert, earlyData: true });
    const counts = watchServer(server);
    const ticket = await ticketFrom(server, asClient);
    server.setSecureContext({ ca: otherCA.cert });
    expect(await outcomeWritingEarly(connectTo(server, serverCreds.cert, { ...asClient, sessionTicket: ticket, earlyData: true }))).toBe('ERR_QUIC_CERT_REJECTED');
    expect(await outcome(connectTo(server, serverCreds.cert, { ...asClient, sessionTicket: ticket }))).toBe('ERR_QUIC_CERT_REJECTED');
    await sleep(100);
    expect(counts).toEqual({ connections: 1, streams: 0, datagrams: 0, streamBytes: 0 });
  });

  test('server verifyPeer after Retry: an untrusted client is refused', async () => {
    const server = await startServer(serverCreds, { verifyPeer: true, ca: otherCA.cert, retry: true });
    const counts = watchServer(server);
    expect(await outcome(connectTo(server, serverCreds.cert, asClient))).toBe('ERR_QUIC_CERT_REJECTED');
    expect(counts.connections).toBe(0);
  });
});

// ---------------------------------------------------------------------------
describe('maxConnections and handshakeRateLimit', () => {
  // A 0-RTT connect() resolves before the server answers at all: watch it
  // past its handshake timeout to tell an admitted client from an ignored one.
  const attempt = (server: QuicServer, opts: Partial<ConnectOptions> = {}) =>
    outcome(connectTo(server, serverCreds.cert, { timeout: 600, ...opts }), opts.earlyData ? 900 : 100);

  test('maxConnections, resumption and 0-RTT: a resuming client is ignored while the server is full', async () => {
    const server = await startServer(serverCreds, { maxConnections: 1, earlyData: true });
    const ticket = await ticketFrom(server);
    // The ticket connection drains (3 PTO) before its slot is free.
    const deadline = Date.now() + 5000;
    while (server.socket.nativeConnectionCount > 0 && Date.now() < deadline) await sleep(10);
    const first = await connectTo(server, serverCreds.cert);
    expect(await attempt(server, { sessionTicket: ticket })).toBe('ERR_QUIC_HANDSHAKE_TIMEOUT');
    expect(await attempt(server, { sessionTicket: ticket, earlyData: true })).toBe('ERR_QUIC_HANDSHAKE_TIMEOUT');
    await first.close();
  });

  test('maxConnections after Retry: a second client is ignored', async () => {
    const server = await startServer(serverCreds, { maxConnections: 1, retry: true });
    await connectTo(server, serverCreds.cert);
    expect(await attempt(server)).toBe('ERR_QUIC_HANDSHAKE_TIMEOUT');
  });

  test("maxConnections counts the server's connections only, not outgoing ones on the same socket", async () => {
    const socket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'socket');
    const server = socket.listen({ alpn: [ALPN], key: serverCreds.key, cert: serverCreds.cert, maxConnections: 1 });
    const elsewhere = await startServer(serverCreds);
    for (let i = 0; i < 2; i++) {
      await socket.connect({ host: '127.0.0.1', port: elsewhere.address.port, alpn: [ALPN], ca: serverCreds.cert, serverName: 'localhost' });
    }
    expect(await attempt(server)).toBe('admitted');
    expect(await attempt(server)).toBe('ERR_QUIC_HANDSHAKE_TIMEOUT');
  });

  test('maxConnections, changed path: a migrated client still holds its one slot', async () => {
    const server = await startServer(serverCreds, { maxConnections: 1 });
    const counts = watchServer(server);
    const a = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'socket a');
    const b = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'socket b');
    const conn = await a.connect({ host: '127.0.0.1', port: server.address.port, alpn: [ALPN], ca: serverCreds.cert, serverName: 'localhost' });
    await exchange(conn, counts);
    conn.migrate(b);
    await exchange(conn, counts);
    expect(counts).toMatchObject({ connections: 1, streams: 2 });
    expect(await attempt(server)).toBe('ERR_QUIC_HANDSHAKE_TIMEOUT');
  });

  test('handshakeRateLimit, resumption and 0-RTT: resumed handshakes count like full ones', async () => {
    const server = await startServer(serverCreds, { handshakeRateLimit: 1, earlyData: true });
    const ticket = await ticketFrom(server);
    server.setSecureContext({}); // a fresh limiter, the same ticket key
    const results = await Promise.all([0, 1, 2, 3].map((i) => attempt(server, { sessionTicket: ticket, earlyData: i % 2 === 0 })));
    expect(results.filter((r) => r === 'admitted').length).toBe(2);
    expect(results.filter((r) => r === 'ERR_QUIC_HANDSHAKE_TIMEOUT').length).toBe(2);
  });

  test('handshakeRateLimit after Retry: only validated handshakes count, and the limit holds', async () => {
    const server = await startServer(serverCreds, { handshakeRateLimit: 1, retry: true });
    const results = await Promise.all([0, 1, 2, 3].map(() => attempt(server)));
    expect(results.filter((r) => r === 'admitted').length).toBe(2);
  });
});

// ---------------------------------------------------------------------------
// Relayed connections: a relay, a target registered with it, and a dialer.
const RELAY_ALPN = 'relay';

interface RelayWorld {
  relay: QuicServer;
  target: { socket: QuicSocket; server: QuicServer; id: Credentials };
  dialerSocket: QuicSocket;
  via: QuicConnection;
}

async function relayWorld(targetOpts: Partial<ListenOptions> = {}, relayOpts: Partial<ListenOptions> = {}, relay: boolean | RelayOptions = true): Promise<RelayWorld> {
  const relayServer = await startServer(serverCreds, { alpn: [RELAY_ALPN], relay, ...relayOpts });
  const id = generateCertificate({ subjectAltNames: ['target'] });
  const socket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'target socket');
  const server = socket.listen({ alpn: [ALPN], key: id.key, cert: id.cert, ...targetOpts });
  const toRelay = await socket.connect({ host: '127.0.0.1', port: relayServer.address.port, alpn: [RELAY_ALPN], ca: serverCreds.cert, serverName: 'localhost', key: id.key, cert: id.cert });
  await withTimeout(toRelay.acceptRelayed(), 3000, 'acceptRelayed()');
  const dialerSocket = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'dialer socket');
  const via = await dialerSocket.connect({ host: '127.0.0.1', port: relayServer.address.port, alpn: [RELAY_ALPN], ca: serverCreds.cert, serverName: 'localhost', key: clientLeaf.key, cert: clientLeaf.cert });
  return { relay: relayServer, target: { socket, server, id }, dialerSocket, via };
}

function dialThrough(w: RelayWorld, opts: Partial<ConnectOptions> = {}): Promise<QuicConnection> {
  return w.dialerSocket.connect({ via: w.via, peer: w.target.id.fingerprint, alpn: [ALPN], ...opts } as ConnectOptions);
}

describe('relayed connections go through the same rules', () => {
  test("the target's verify hook refuses a dialer; the target app never sees it", async () => {
    const w = await relayWorld({ verify: (p) => p.fingerprint !== clientLeaf.fingerprint });
    const counts = watchServer(w.target.server);
    expect(await outcomeWritingEarly(dialThrough(w, asClient))).toBe('ERR_QUIC_CERT_REJECTED');
    expect(counts.connections).toBe(0);
  });

  test("the dialer's verify hook and the target's verifyPeer apply through the relay", async () => {
    const w = await relayWorld({ verifyPeer: true, ca: otherCA.cert });
    expect(await outcome(dialThrough(w, { verify: () => false }))).toBe('ERR_QUIC_CERT_REFUSED');
    expect(await outcome(dialThrough(w, asClient))).toBe('ERR_QUIC_CERT_REJECTED');
  });

  test("the target's maxConnections counts relayed connections", async () => {
    const w = await relayWorld({ maxConnections: 1 });
    const counts = watchServer(w.target.server);
    expect(await outcome(dialThrough(w))).toBe('admitted');
    // The target drops the Initial; the relay then ends the flow.
    expect(await outcome(dialThrough(w, { timeout: 600 }))).toMatch(/^ERR_QUIC_(HANDSHAKE_TIMEOUT|RELAY_CLOSED)$/);
    expect(counts.connections).toBe(1);
  });

  test("the target's handshakeRateLimit counts relayed handshakes against the relay's address", async () => {
    const w = await relayWorld({ handshakeRateLimit: 1 });
    const results = await Promise.all([0, 1, 2, 3].map(() => outcome(dialThrough(w, { timeout: 600 }), 100)));
    expect(results.filter((r) => r === 'admitted').length).toBe(2);
  });

  test("the relay's allow policy and maxFlows hold for a dialer that resumed its connection to the relay (and after Retry)", async () => {
    const asked: string[] = [];
    const w = await relayWorld({}, { retry: true }, { maxFlows: 1, allow: (from) => (asked.push(from.fingerprint ?? ''), true) });
    const ticket = w.via.sessionTicket ?? (await nextEvent<Uint8Array>(w.via, 'sessionTicket', 3000));
    const first = await withTimeout(dialThrough(w), 5000, 'first relayed connection');
    const resumedVia = await w.dialerSocket.connect({ host: '127.0.0.1', port: w.relay.address.port, alpn: [RELAY_ALPN], ca: serverCreds.cert, serverName: 'localhost', key: clientLeaf.key, cert: clientLeaf.cert, sessionTicket: ticket });
    expect(resumedVia.resumed).toBe(true);
    const err = await rejectionOf(w.dialerSocket.connect({ via: resumedVia, peer: w.target.id.fingerprint, alpn: [ALPN] }), 5000, 'second flow');
    expect(codeOf(err)).toBe('ERR_QUIC_RELAY_LIMIT');
    await first.close();
    // The relay frees the flow once the release datagram arrives.
    const deadline = Date.now() + 3000;
    while (w.relay.relayStats().flows > 0 && Date.now() < deadline) await sleep(10);
    const second = await withTimeout(w.dialerSocket.connect({ via: resumedVia, peer: w.target.id.fingerprint, alpn: [ALPN] }), 5000, 'flow after the first ended');
    expect(second.relayed).toBe(true);
    expect(asked).toEqual([clientLeaf.fingerprint, clientLeaf.fingerprint]);
  });

  test('relay traffic has no other way in: a relayed connection cannot carry flows, a connection that does cannot change path', async () => {
    const w = await relayWorld();
    const conn = await withTimeout(dialThrough(w), 5000, 'relayed connection');
    const err = await rejectionOf(w.dialerSocket.connect({ via: conn, peer: w.target.id.fingerprint, alpn: [ALPN] }), 3000, 'a flow over a relayed connection');
    expect(codeOf(err)).toBe('ERR_INVALID_ARG_VALUE');
    const elsewhere = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'socket');
    expect(() => w.via.migrate(elsewhere)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });

  test('a dialer the relay refuses on resumption cannot open a flow, even while the refusal is pending', async () => {
    let revoked = false;
    let allowCalls = 0;
    const w = await relayWorld({}, {
      verify: async () => {
        if (!revoked) return true;
        await sleep(300); // the dialer's 1-RTT relay traffic arrives meanwhile
        return false;
      },
    }, { allow: () => (allowCalls++, true) });
    const counts = watchServer(w.target.server);
    const ticket = w.via.sessionTicket ?? (await nextEvent<Uint8Array>(w.via, 'sessionTicket', 3000));
    revoked = true;
    const resumedVia = await w.dialerSocket.connect({ host: '127.0.0.1', port: w.relay.address.port, alpn: [RELAY_ALPN], ca: serverCreds.cert, serverName: 'localhost', key: clientLeaf.key, cert: clientLeaf.cert, sessionTicket: ticket });
    const attempt = dialThrough({ ...w, via: resumedVia }, { timeout: 1500 }).catch((e: unknown) => codeOf(e));
    const info = await withTimeout(resumedVia.closed, 3000, 'the refused connection to the relay closes');
    expect(info.error?.code).toBe('ERR_QUIC_CERT_REJECTED');
    expect(await withTimeout(attempt, 5000, 'relayed attempt')).toMatch(/^ERR_QUIC_(RELAY_CLOSED|CONNECTION_CLOSED|CERT_REJECTED|HANDSHAKE_TIMEOUT)$/);
    expect(allowCalls).toBe(0);
    expect(counts.connections).toBe(0);
    expect(w.relay.relayStats().flows).toBe(0);
  });
});

// ---------------------------------------------------------------------------
describe('a changed path is not a new way in', () => {
  test('a migrating client is not asked again and stays one connection', async () => {
    let serverCalls = 0;
    let clientCalls = 0;
    const server = await startServer(serverCreds, { verify: () => (serverCalls++, true) });
    const counts = watchServer(server);
    const a = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'socket a');
    const b = trackServer(await QuicSocket.bind({ address: '127.0.0.1' }), 'socket b');
    const conn = await a.connect({ host: '127.0.0.1', port: server.address.port, alpn: [ALPN], ca: serverCreds.cert, serverName: 'localhost', ...asClient, verify: () => (clientCalls++, true) });
    await exchange(conn, counts);
    conn.migrate(b);
    await exchange(conn, counts);
    expect({ serverCalls, clientCalls, connections: counts.connections, streams: counts.streams }).toEqual({ serverCalls: 1, clientCalls: 1, connections: 1, streams: 2 });
  });
});
