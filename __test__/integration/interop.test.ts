// Interoperability: nquic (quiche) against an independent QUIC implementation,
// quinn (rustls/ring), in both directions, with streams and RFC 9221 datagrams.
//
// The peer is the standalone Cargo project interop/quinn-peer, built when it
// is missing or older than its sources (quinn-peer.ts).
import { randomBytes } from 'node:crypto';
import { connect, listen } from '../../lib';
import { cleanUpPeers, PeerFiles, PeerServer, preparePeer, runQuinnClient, startQuinnServer } from './quinn-peer';
import { ALPN, firstDiff, MiB, QuicConnection, QuicServer, QuicStream, readAll, sleep, stallInfo, toBuffer, withTimeout, writeAll } from './quinn-support';

// ---------------------------------------------------------------------------
// Small bounded helpers (self-contained on purpose)

/** Datagram `i` of `size` bytes: 4-byte big-endian index, then a pattern derived from it. */
function datagram(i: number, size: number): Buffer {
  const d = Buffer.alloc(size);
  d.writeUInt32BE(i, 0);
  for (let j = 4; j < size; j++) d[j] = (i * 31 + j * 7) & 0xff;
  return d;
}

// ---------------------------------------------------------------------------

let files: PeerFiles;

beforeAll(async () => {
  files = await preparePeer('nquic-interop-');
}, 10 * 60_000);

afterAll(() => cleanUpPeers(files));

describe('nquic client → quinn server', () => {
  let peer: PeerServer;
  let conn: QuicConnection | undefined;

  beforeAll(async () => {
    peer = await startQuinnServer(files);
  }, 20_000);

  afterEach(async () => {
    if (conn) {
      const c = conn;
      conn = undefined;
      await withTimeout(c.close(), 5000, 'conn.close()').catch(() => undefined);
    }
  });

  afterAll(() => {
    // Closing stdin makes the server exit by itself; afterAll above SIGKILLs leftovers.
    peer?.proc.stdin?.end();
  });

  async function connectToPeer(): Promise<QuicConnection> {
    conn = await withTimeout(
      connect({ host: '127.0.0.1', port: peer.port, alpn: [ALPN], ca: files.creds.cert, serverName: 'localhost' }),
      10_000,
      'connect() to quinn',
    );
    return conn;
  }

  test('handshake negotiates the ALPN; maxDatagramSize > 1000', async () => {
    const c = await connectToPeer();
    expect(c.alpnProtocol).toBe(ALPN);
    expect(c.side).toBe('client');
    expect(c.remoteAddress.port).toBe(peer.port);
    expect(c.maxDatagramSize).toBeGreaterThan(1000);
  });

  test('a 1 MiB bidirectional stream is echoed byte-identical', async () => {
    const c = await connectToPeer();
    const payload = randomBytes(MiB);
    const s = await withTimeout(c.openStream(), 5000, 'openStream()');
    expect(s.bidirectional).toBe(true);
    const echoed = readAll(s);
    await withTimeout(writeAll(s, payload), 15_000, () => stallInfo('write 1 MiB', c, s));
    const back = await withTimeout(echoed, 15_000, () => stallInfo('read 1 MiB echo', c, s));
    expect(firstDiff(back, payload)).toBe('identical');
  }, 40_000);

  test('a unidirectional stream comes back on a quinn-opened unidirectional stream', async () => {
    const c = await connectToPeer();
    const payload = randomBytes(64 * 1024);
    const incoming = withTimeout(
      new Promise<QuicStream>((r) => c.once('stream', r)),
      10_000,
      "'stream' event for quinn's uni stream",
    );
    incoming.catch(() => undefined); // reported where awaited, not as an unhandled rejection
    const s = await withTimeout(c.openStream({ unidirectional: true }), 5000, 'openStream(uni)');
    expect(s.bidirectional).toBe(false);
    await withTimeout(writeAll(s, payload), 10_000, () => stallInfo('write uni', c, s));
    const back = await incoming;
    expect(back.bidirectional).toBe(false);
    expect(back.initiator).toBe('remote');
    const data = await withTimeout(readAll(back), 10_000, () => stallInfo('read uni reply', c));
    expect(firstDiff(data, payload)).toBe('identical');
  }, 30_000);

  test('200 datagrams of 200 bytes: at least 90% echoed intact', async () => {
    const c = await connectToPeer();
    const count = 200;
    const size = 200;
    const received = new Set<number>();
    const bad: string[] = [];
    const allBack = new Promise<void>((r) => {
      c.on('datagram', (d: Uint8Array) => {
        const b = toBuffer(d);
        const i = b.length >= 4 ? b.readUInt32BE(0) : -1;
        if (b.length !== size || i < 0 || i >= count || !b.equals(datagram(i, size))) {
          bad.push(b.toString('hex').slice(0, 24));
          return;
        }
        received.add(i);
        if (received.size === count) r();
      });
    });
    let accepted = 0;
    for (let i = 0; i < count; i++) {
      if (c.sendDatagram(datagram(i, size))) accepted++;
      if (i % 20 === 19) await sleep(5); // small bursts: neither send queue overflows
    }
    await withTimeout(allBack, 3000, 'all datagram echoes').catch(() => undefined);
    expect(bad).toEqual([]);
    expect(accepted).toBeGreaterThanOrEqual(count * 0.9);
    expect(received.size).toBeGreaterThanOrEqual(count * 0.9);
  }, 20_000);

  test('clean close: application code 0 reaches quinn, closed resolves locally', async () => {
    const c = await connectToPeer();
    conn = undefined;
    const info = await withTimeout(c.close({ code: 0, reason: 'bye' }), 5000, () => stallInfo('close()', c));
    expect(info.remote).toBe(false);
    expect(info.code).toBe(0);
    expect(info.error).toBeUndefined();
    const closed = await withTimeout(c.closed, 1000, 'closed');
    expect(closed.code).toBe(0);
    // quinn logs how each connection ended; ours must be an application close, code 0.
    const deadline = Date.now() + 3000;
    const port = c.localAddress.port;
    const pattern = new RegExp(`127\\.0\\.0\\.1:${port} ended: closed by peer: bye \\(code 0\\)`);
    while (!pattern.test(peer.stderr()) && Date.now() < deadline) await sleep(50);
    expect(peer.stderr()).toMatch(pattern);
  });
});

describe('quinn client → nquic server', () => {
  let server: QuicServer | undefined;

  afterEach(async () => {
    if (server) await withTimeout(server.close(), 5000, 'server.close()').catch(() => undefined);
    server = undefined;
  });

  test('bidi stream echo, uni round trip and datagram echo, one connection', async () => {
    server = await withTimeout(
      listen({ address: '127.0.0.1', port: 0, alpn: [ALPN], key: files.creds.key, cert: files.creds.cert }),
      5000,
      'listen()',
    );
    const connections: QuicConnection[] = [];
    const serverErrors: string[] = [];
    server.on('connection', (conn: QuicConnection) => {
      connections.push(conn);
      conn.on('datagram', (d: Uint8Array) => {
        try {
          conn.sendDatagram(d);
        } catch (err) {
          serverErrors.push(`sendDatagram: ${String(err)}`);
        }
      });
      conn.on('stream', (s: QuicStream) => {
        readAll(s)
          .then(async (data) => {
            if (s.bidirectional) {
              await writeAll(s, data);
            } else {
              const out = await conn.openStream({ unidirectional: true });
              await writeAll(out, data);
            }
          })
          .catch((err) => serverErrors.push(`stream ${s.id}: ${String(err)}`));
      });
    });

    const closedRemotely = new Promise<{ code: number; remote: boolean }>((r) => {
      server!.once('connection', (conn: QuicConnection) => {
        conn.closed.then(r, () => undefined);
      });
    });

    const datagrams = 200;
    const result = await runQuinnClient(files, server.address.port, [
      '--bytes', String(MiB),
      '--datagrams', String(datagrams),
      '--uni-bytes', String(64 * 1024),
    ]);
    const context = result.context;
    expect({ report: result.report, context }).toMatchObject({
      report: { streamOk: true, uniOk: true, alpn: ALPN, error: null, datagramsSent: datagrams, datagramsCorrupt: 0 },
    });
    expect(result.report!.datagramsEchoed).toBeGreaterThanOrEqual(datagrams * 0.9);
    expect(result.report!.maxDatagramSize).toBeGreaterThan(1000);
    expect({ code: result.code, context }).toMatchObject({ code: 0 });
    expect(serverErrors).toEqual([]);
    expect(connections).toHaveLength(1);
    expect(connections[0].alpnProtocol).toBe(ALPN);

    // quinn closed with application code 0; nquic must report it as a remote close.
    const info = await withTimeout(closedRemotely, 5000, "server-side conn.closed after quinn's close");
    expect(info).toMatchObject({ code: 0, remote: true });
  }, 60_000);
});
