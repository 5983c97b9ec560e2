// ALPN and SNI negotiation, session resumption, and 0-RTT (accepted and
// rejected, with the early data arriving intact either way).
import { generateCertificate, QuicError } from '../lib';
import {
  ConnectOptions,
  QuicConnection,
  QuicServer,
  QuicStream,
  certFor,
  connectTo,
  nextConnection,
  pemToDer,
  readAll,
  rejectionOf,
  sleep,
  startServer,
  watchServer,
  withTimeout,
  within,
} from './helpers';

const creds = certFor('ecdsa-p256');

/** The client's session ticket: waits for the 'sessionTicket' event, polling up to `ms`. */
async function ticketOf(conn: QuicConnection, ms = 1000): Promise<Uint8Array> {
  const deadline = Date.now() + ms;
  let fromEvent: Uint8Array | undefined;
  conn.once('sessionTicket', (t: Uint8Array) => {
    fromEvent = t;
  });
  for (;;) {
    const t = fromEvent ?? conn.sessionTicket;
    if (t && t.length > 0) return t;
    if (Date.now() > deadline) throw new Error(`no session ticket within ${ms} ms`);
    await sleep(10);
  }
}

/** Every peer-opened stream of every connection is read to the end and answered with its length and content. */
function collectStreams(server: QuicServer): Buffer[] {
  const received: Buffer[] = [];
  server.on('connection', (conn: QuicConnection) => {
    conn.on('stream', (s: QuicStream) => {
      void readAll(s).then((data) => {
        received.push(data);
        s.end(`got ${data.length}`);
      });
    });
  });
  return received;
}

/** A payload with a recognisable pattern. */
function payload(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Resolves once the handshake is complete ('handshake' event, or already done). */
function handshakeDone(conn: QuicConnection): Promise<unknown> {
  if (conn.resumed || conn.alpnProtocol !== undefined) return Promise.resolve();
  return withTimeout(new Promise((resolve) => conn.once('handshake', resolve)), 5000, "'handshake' event");
}

async function freshTicket(server: QuicServer, opts: Partial<ConnectOptions> = {}): Promise<Uint8Array> {
  const first = await withTimeout(connectTo(server, creds.cert, opts), 5000, 'first connect()');
  expect(first.resumed).toBe(false);
  const ticket = await ticketOf(first);
  await first.close();
  return ticket;
}

// ---------------------------------------------------------------------------

describe('ALPN', () => {
  test("the negotiated protocol is the one client and server share, on both sides", async () => {
    const server = await startServer(creds, { alpn: ['srv-only', 'shared/1', 'srv-other'] });
    const serverConnP = nextConnection(server);
    const client = await withTimeout(
      connectTo(server, creds.cert, { alpn: ['cli-only', 'shared/1', 'cli-other'] }),
      5000,
      'connect()',
    );
    const serverConn = await serverConnP;
    expect(client.alpnProtocol).toBe('shared/1');
    expect(serverConn.alpnProtocol).toBe('shared/1');
  });

  test('with two protocols in common one of them is chosen, the same on both sides', async () => {
    const server = await startServer(creds, { alpn: ['b', 'a'] });
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, creds.cert, { alpn: ['x', 'a', 'b'] }), 5000, 'connect()');
    const serverConn = await serverConnP;
    expect(['a', 'b']).toContain(client.alpnProtocol);
    expect(serverConn.alpnProtocol).toBe(client.alpnProtocol);
  });

  test('no protocol in common: ERR_QUIC_ALPN_MISMATCH, no server connection', async () => {
    const server = await startServer(creds, { alpn: ['only-this'] });
    const counts = watchServer(server);
    const err = await rejectionOf(connectTo(server, creds.cert, { alpn: ['something-else'] }), 5000, 'connect()');
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toBe('ERR_QUIC_ALPN_MISMATCH');
    await sleep(300);
    expect(counts.connections).toBe(0);
  });
});

describe('SNI', () => {
  test("the server connection's serverName is the client's serverName", async () => {
    const named = generateCertificate({ subjectAltNames: ['sni-test.example', 'localhost'] });
    const server = await startServer(named);
    const serverConnP = nextConnection(server);
    await withTimeout(connectTo(server, named.cert, { serverName: 'sni-test.example' }), 5000, 'connect()');
    const serverConn = await serverConnP;
    expect(serverConn.serverName).toBe('sni-test.example');
  });

  test('a second client with another name: each server connection reports its own', async () => {
    const named = generateCertificate({ subjectAltNames: ['one.example', 'two.example'] });
    const server = await startServer(named);
    const names: Array<string | undefined> = [];
    server.on('connection', (c: QuicConnection) => names.push(c.serverName));
    await withTimeout(connectTo(server, named.cert, { serverName: 'one.example' }), 5000, 'connect() one');
    await withTimeout(connectTo(server, named.cert, { serverName: 'two.example' }), 5000, 'connect() two');
    await withTimeout((async () => { while (names.length < 2) await sleep(10); })(), 2000, 'two connections');
    expect(names.sort()).toEqual(['one.example', 'two.example']);
  });
});

describe('session resumption', () => {
  test('a session ticket from the first connection resumes the second', async () => {
    const server = await startServer(creds);
    const first = await withTimeout(connectTo(server, creds.cert), 5000, 'first connect()');
    expect(first.resumed).toBe(false);
    const ticket = await ticketOf(first);
    expect(ticket).toBeInstanceOf(Uint8Array);
    expect(ticket.length).toBeGreaterThan(16);

    const second = await withTimeout(connectTo(server, creds.cert, { sessionTicket: ticket }), 5000, 'resumed connect()');
    expect(second.resumed).toBe(true);
    // The first connection is unaffected and was never resumed.
    expect(first.resumed).toBe(false);
    // The resumed session still reports the server certificate it was established with.
    expect(second.peerCertificates.length).toBeGreaterThanOrEqual(1);
    expect(Buffer.from(second.peerCertificates[0]).equals(pemToDer(creds.cert))).toBe(true);
  });

  test('a ticket also resumes after the first connection closed, and the resumed connection works', async () => {
    const server = await startServer(creds);
    const received = collectStreams(server);
    const ticket = await freshTicket(server);
    const conn = await withTimeout(connectTo(server, creds.cert, { sessionTicket: ticket }), 5000, 'resumed connect()');
    expect(conn.resumed).toBe(true);
    const s = await conn.openStream();
    const answer = readAll(s, 1024);
    s.end(payload(1000, 1));
    expect((await withTimeout(answer, 5000, 'answer')).toString()).toBe('got 1000');
    expect(received[0].equals(payload(1000, 1))).toBe(true);
  });

  test('a garbage ticket just does a full handshake: resumed false, no error', async () => {
    const server = await startServer(creds);
    const received = collectStreams(server);
    const garbage = payload(200, 7);
    const conn = await withTimeout(connectTo(server, creds.cert, { sessionTicket: garbage }), 5000, 'connect() with garbage');
    expect(conn.resumed).toBe(false);
    const s = await conn.openStream();
    const answer = readAll(s, 1024);
    s.end('x');
    expect((await withTimeout(answer, 5000, 'answer')).toString()).toBe('got 1');
    expect(received.length).toBe(1);
  });

  test('a ticket from another server (other ticket key) is not resumed there', async () => {
    const serverA = await startServer(creds);
    const serverB = await startServer(creds);
    const ticket = await freshTicket(serverA);
    const conn = await withTimeout(connectTo(serverB, creds.cert, { sessionTicket: ticket }), 5000, 'connect() to B');
    expect(conn.resumed).toBe(false);
  });
});

describe('0-RTT', () => {
  test('accepted: connect() resolves before the handshake completes (the \'handshake\' event comes later)', async () => {
    const server = await startServer(creds, { earlyData: true });
    const ticket = await freshTicket(server, { earlyData: true });
    const conn = await withTimeout(
      connectTo(server, creds.cert, { earlyData: true, sessionTicket: ticket }),
      5000,
      '0-RTT connect()',
    );
    // Had connect() waited for the handshake, 'handshake' was emitted before this line runs.
    const later = await within(new Promise<boolean>((resolve) => conn.once('handshake', () => resolve(true))), 2000);
    expect({ handshakeEventAfterConnectResolved: later === true }).toEqual({ handshakeEventAfterConnectResolved: true });
    expect(conn.resumed).toBe(true);
    expect(conn.earlyDataAccepted).toBe(true);
  });

  test('accepted: a stream written right after connect() arrives intact; resumed and earlyDataAccepted', async () => {
    const server = await startServer(creds, { earlyData: true });
    const received = collectStreams(server);
    const ticket = await freshTicket(server, { earlyData: true });

    const conn = await withTimeout(
      connectTo(server, creds.cert, { earlyData: true, sessionTicket: ticket }),
      5000,
      '0-RTT connect()',
    );
    const data = payload(3000, 42);
    const s = await conn.openStream();
    const answer = readAll(s, 1024);
    s.end(data);
    await handshakeDone(conn);
    expect(conn.resumed).toBe(true);
    expect(conn.earlyDataAccepted).toBe(true);
    expect((await withTimeout(answer, 5000, 'answer')).toString()).toBe('got 3000');
    expect(received.length).toBe(1);
    expect(received[0].equals(data)).toBe(true);
  });

  test('accepted: a datagram and a stream sent at once both arrive', async () => {
    const server = await startServer(creds, { earlyData: true });
    const received = collectStreams(server);
    const datagrams: Buffer[] = [];
    server.on('connection', (c: QuicConnection) => c.on('datagram', (d: Buffer) => datagrams.push(Buffer.from(d))));
    const ticket = await freshTicket(server, { earlyData: true });
    const conn = await withTimeout(connectTo(server, creds.cert, { earlyData: true, sessionTicket: ticket }), 5000, '0-RTT connect()');
    const s = await conn.openStream();
    const answer = readAll(s, 1024);
    s.end('stream in 0-RTT');
    await handshakeDone(conn);
    // Datagrams are unreliable: send a few, one must arrive.
    for (let i = 0; i < 5 && datagrams.length === 0; i++) {
      conn.sendDatagram(Buffer.from('dgram after 0-RTT'));
      await sleep(50);
    }
    expect((await withTimeout(answer, 5000, 'answer')).toString()).toBe('got 15');
    expect(received[0].toString()).toBe('stream in 0-RTT');
    expect(datagrams.map(String)).toContain('dgram after 0-RTT');
  });

  test('rejected by a new server (different ticket key): the data still arrives intact, earlyDataAccepted false', async () => {
    const serverA = await startServer(creds, { earlyData: true });
    const ticket = await freshTicket(serverA, { earlyData: true });
    const serverB = await startServer(creds, { earlyData: true });
    const received = collectStreams(serverB);

    const conn = await withTimeout(connectTo(serverB, creds.cert, { earlyData: true, sessionTicket: ticket }), 5000, 'connect() to B');
    const data = payload(5000, 9);
    const s = await conn.openStream();
    const answer = readAll(s, 1024);
    s.end(data);
    expect((await withTimeout(answer, 5000, 'answer')).toString()).toBe('got 5000');
    expect(received.length).toBe(1);
    expect(received[0].equals(data)).toBe(true);
    expect(conn.resumed).toBe(false);
    expect(conn.earlyDataAccepted).toBe(false);
  });

  test('server earlyData: false: resumed, the data arrives intact, earlyDataAccepted false', async () => {
    const server = await startServer(creds, { earlyData: false });
    const received = collectStreams(server);
    const ticket = await freshTicket(server, { earlyData: true });
    const conn = await withTimeout(connectTo(server, creds.cert, { earlyData: true, sessionTicket: ticket }), 5000, 'connect()');
    const data = payload(5000, 11);
    const s = await conn.openStream();
    const answer = readAll(s, 1024);
    s.end(data);
    expect((await withTimeout(answer, 5000, 'answer')).toString()).toBe('got 5000');
    expect(received[0].equals(data)).toBe(true);
    await handshakeDone(conn);
    expect(conn.resumed).toBe(true);
    expect(conn.earlyDataAccepted).toBe(false);
  });

  test('client earlyData not set: a resumed connection sends no 0-RTT (earlyDataAccepted false)', async () => {
    const server = await startServer(creds, { earlyData: true });
    const ticket = await freshTicket(server, { earlyData: true });
    const conn = await withTimeout(connectTo(server, creds.cert, { sessionTicket: ticket }), 5000, 'connect()');
    // connect() resolved on the full handshake: the 'handshake' event already fired.
    expect(conn.resumed).toBe(true);
    expect(conn.earlyDataAccepted).toBe(false);
  });
});
