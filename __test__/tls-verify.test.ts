// Mutual TLS and the `verify(peer)` hook on both sides: what the hook sees,
// sync / async / throwing / rejecting verdicts, pinning, and the rule that a
// refused peer's data never reaches the application.
import { X509Certificate } from 'node:crypto';
import { certificateFingerprint, connect, generateCertificate, QuicError } from '../lib';
import type { CloseInfo, PeerInfo } from '../lib';
import {
  ALPN,
  ConnectOptions,
  Credentials,
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
  trackClient,
  watchServer,
  withTimeout,
} from './helpers';

// A client PKI: CA -> client leaf; and an unrelated CA with its own leaf.
const clientCA = generateCertificate({ subjectAltNames: ['Client CA'], isCa: true });
const clientLeaf = generateCertificate({ subjectAltNames: ['client.example'], ca: clientCA });
const rogueCA = generateCertificate({ subjectAltNames: ['Rogue CA'], isCa: true });
const rogueLeaf = generateCertificate({ subjectAltNames: ['client.example'], ca: rogueCA });

const serverCreds = certFor('ecdsa-p256');

function mtlsServer(opts: Record<string, unknown> = {}): Promise<QuicServer> {
  return startServer(serverCreds, { verifyPeer: true, ca: clientCA.cert, ...opts });
}

function asClient(creds: Credentials): Partial<ConnectOptions> {
  return { key: creds.key, cert: creds.cert };
}

async function echoOnce(client: QuicConnection, serverConn: QuicConnection, text: string): Promise<void> {
  serverConn.on('stream', (s: QuicStream) => s.pipe(s));
  const s = await withTimeout(client.openStream(), 5000, 'openStream()');
  const back = readAll(s, 64 * 1024);
  s.end(text);
  expect((await withTimeout(back, 5000, 'echo')).toString()).toBe(text);
}

/**
 * The client connection ends with an error whose code matches `code`: either
 * connect() rejects with it, or (TLS 1.3: the client finishes first) connect()
 * resolves and `closed` then reports it.
 */
async function clientEndsWith(connecting: Promise<QuicConnection>, code: RegExp, label: string): Promise<string> {
  let conn: QuicConnection | undefined;
  try {
    conn = await withTimeout(connecting, 5000, label);
  } catch (err) {
    if (err instanceof Error && err.message.startsWith('timeout:')) throw err;
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toMatch(code);
    return (err as QuicError).code;
  }
  const info = await withTimeout(conn.closed, 5000, `${label}: closed`);
  expect(info.error).toBeInstanceOf(QuicError);
  expect(info.error?.code).toMatch(code);
  return info.error!.code;
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
}

// ---------------------------------------------------------------------------

describe('mutual TLS', () => {
  test('a client without a certificate ends with ERR_QUIC_CERT_REQUIRED; no server connection', async () => {
    const server = await mtlsServer();
    const counts = watchServer(server);
    await clientEndsWith(connectTo(server, serverCreds.cert), /^ERR_QUIC_CERT_REQUIRED$/, 'connect() without a client certificate');
    await sleep(300);
    expect(counts.connections).toBe(0);
  });

  test("a client with a certificate from the trusted CA is accepted; the server sees the client's leaf", async () => {
    const server = await mtlsServer();
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, serverCreds.cert, asClient(clientLeaf)), 5000, 'connect() with a client certificate');
    const serverConn = await serverConnP;
    expect(serverConn.peerCertificates.length).toBeGreaterThanOrEqual(1);
    expect(Buffer.from(serverConn.peerCertificates[0]).equals(pemToDer(clientLeaf.cert))).toBe(true);
    // The client still verified the server as usual.
    expect(Buffer.from(client.peerCertificates[0]).equals(pemToDer(serverCreds.cert))).toBe(true);
    await echoOnce(client, serverConn, 'mutual');
  });

  test('a client certificate from an untrusted CA is refused; no server connection', async () => {
    const server = await mtlsServer();
    const counts = watchServer(server);
    await clientEndsWith(
      connectTo(server, serverCreds.cert, asClient(rogueLeaf)),
      /^ERR_QUIC_CERT_/,
      'connect() with a rogue client certificate',
    );
    await sleep(300);
    expect(counts.connections).toBe(0);
  });

  test('client key and certificate as DER are accepted', async () => {
    const { createPrivateKey } = await import('node:crypto');
    const keyDer = createPrivateKey(clientLeaf.key).export({ type: 'pkcs8', format: 'der' });
    const certDer = Buffer.from(new X509Certificate(clientLeaf.cert).raw);
    const server = await mtlsServer();
    const serverConnP = nextConnection(server);
    await withTimeout(connectTo(server, serverCreds.cert, { key: keyDer, cert: certDer }), 5000, 'connect() with a DER client identity');
    const serverConn = await serverConnP;
    expect(Buffer.from(serverConn.peerCertificates[0]).equals(certDer)).toBe(true);
  });

  test('a client chain [leaf, intermediate] is verified against the server ca (root); the hook sees both', async () => {
    const root = generateCertificate({ subjectAltNames: ['Client Root'], isCa: true });
    const inter = generateCertificate({ subjectAltNames: ['Client Intermediate'], isCa: true, ca: root });
    const leaf = generateCertificate({ subjectAltNames: ['chained-client.example'], ca: inter });
    const seen: PeerInfo[] = [];
    const server = await startServer(serverCreds, { verifyPeer: true, ca: root.cert, verify: (p: PeerInfo) => { seen.push(p); } });
    const serverConnP = nextConnection(server);
    await withTimeout(connectTo(server, serverCreds.cert, { key: leaf.key, cert: [leaf.cert, inter.cert] }), 5000, 'connect() with a client chain');
    const serverConn = await serverConnP;
    expect(Buffer.from(serverConn.peerCertificates[0]).equals(pemToDer(leaf.cert))).toBe(true);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen[0].certificates.map((c) => Buffer.from(c).toString('base64'))).toEqual(
      [pemToDer(leaf.cert), pemToDer(inter.cert)].map((c) => c.toString('base64')),
    );
    expect(seen[0].chainValid).toBe(true);
  });

  test('a client leaf without its intermediate is refused by a root-only server', async () => {
    const root = generateCertificate({ subjectAltNames: ['Client Root'], isCa: true });
    const inter = generateCertificate({ subjectAltNames: ['Client Intermediate'], isCa: true, ca: root });
    const leaf = generateCertificate({ subjectAltNames: ['chained-client.example'], ca: inter });
    const server = await startServer(serverCreds, { verifyPeer: true, ca: root.cert });
    const counts = watchServer(server);
    await clientEndsWith(connectTo(server, serverCreds.cert, { key: leaf.key, cert: leaf.cert }), /^ERR_QUIC_CERT_/, 'connect() with leaf only');
    await sleep(300);
    expect(counts.connections).toBe(0);
  });

  test('without verifyPeer the server accepts a client that has no certificate (default)', async () => {
    const server = await startServer(serverCreds, { ca: clientCA.cert });
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, serverCreds.cert), 5000, 'connect() to a non-mTLS server');
    const serverConn = await serverConnP;
    expect(serverConn.peerCertificates.length).toBe(0);
    await echoOnce(client, serverConn, 'no client cert needed');
  });
});

describe('client verify hook', () => {
  test('receives the DER chain, chainValid, serverName and remoteAddress', async () => {
    const server = await startServer(serverCreds);
    const seen: PeerInfo[] = [];
    const client = await withTimeout(
      connectTo(server, serverCreds.cert, { verify: (peer: PeerInfo) => { seen.push(peer); return true; } }),
      5000,
      'connect() with a verify hook',
    );
    expect(seen.length).toBe(1);
    const peer = seen[0];
    expect(peer.certificates[0]).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(peer.certificates[0]).equals(pemToDer(serverCreds.cert))).toBe(true);
    expect(peer.chainValid).toBe(true);
    expect(peer.chainError).toBeUndefined();
    expect(peer.serverName).toBe('localhost');
    expect(peer.remoteAddress).toEqual({ address: '127.0.0.1', port: server.address.port, family: 'IPv4' });
    expect(client.alpnProtocol).toBe(ALPN);
  });

  test('chainValid is false with a chainError for an untrusted server, and returning true still connects', async () => {
    const server = await startServer(serverCreds);
    const seen: PeerInfo[] = [];
    const other = certFor('ecdsa-p256', 7);
    const serverConnP = nextConnection(server);
    const client = await withTimeout(
      connectTo(server, other.cert, { verify: (peer: PeerInfo) => { seen.push(peer); return true; } }),
      5000,
      'connect() accepted by the hook despite the chain',
    );
    const serverConn = await serverConnP;
    expect(seen.length).toBe(1);
    expect(seen[0].chainValid).toBe(false);
    expect(typeof seen[0].chainError).toBe('string');
    expect(seen[0].chainError!.length).toBeGreaterThan(0);
    await echoOnce(client, serverConn, 'overridden');
  });

  test('a name mismatch is reported to the hook as chainValid false, not a silent pass', async () => {
    const server = await startServer(serverCreds);
    const seen: PeerInfo[] = [];
    await withTimeout(
      connectTo(server, serverCreds.cert, { serverName: 'other.example', verify: (peer: PeerInfo) => { seen.push(peer); } }),
      5000,
      'connect() with a hook returning undefined',
    );
    expect(seen[0].chainValid).toBe(false);
    expect(seen[0].serverName).toBe('other.example');
  });

  test.each([
    ['returns false', () => false],
    ['throws', () => { throw new Error('nope'); }],
    ['rejects', () => Promise.reject(new Error('nope'))],
    ['resolves false after 100 ms', () => sleep(100).then(() => false)],
  ])('a hook that %s refuses: ERR_QUIC_CERT_REFUSED, no server connection', async (_label, hook) => {
    const server = await startServer(serverCreds);
    const counts = watchServer(server);
    let calls = 0;
    const err = await rejectionOf(
      connectTo(server, serverCreds.cert, { verify: () => { calls++; return hook() as never; } }),
      5000,
      'connect() refused by the hook',
    );
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toBe('ERR_QUIC_CERT_REFUSED');
    expect(calls).toBeGreaterThanOrEqual(1); // exactly-once: see 'verify hook invocation count'
    await sleep(300);
    expect(counts.connections).toBe(0);
  });

  test.each([
    ['returns true', () => true],
    ['returns undefined', () => undefined],
    ['resolves undefined', () => Promise.resolve()],
  ])('a hook that %s accepts', async (_label, hook) => {
    const server = await startServer(serverCreds);
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, serverCreds.cert, { verify: hook as never }), 5000, 'connect()');
    await echoOnce(client, await serverConnP, 'accepted');
  });

  test('an async hook taking 200 ms pauses the handshake, which then completes', async () => {
    const server = await startServer(serverCreds);
    let connectionAt = 0;
    server.on('connection', () => { connectionAt = Date.now(); });
    let decidedAt = 0;
    const started = Date.now();
    const serverConnP = nextConnection(server);
    const client = await withTimeout(
      connectTo(server, serverCreds.cert, { verify: async () => { await sleep(200); decidedAt = Date.now(); return true; } }),
      5000,
      'connect() with a slow hook',
    );
    const resolvedAt = Date.now();
    const serverConn = await serverConnP;
    expect(decidedAt).toBeGreaterThan(0);
    expect(resolvedAt).toBeGreaterThanOrEqual(decidedAt);
    expect(resolvedAt - started).toBeGreaterThanOrEqual(195);
    expect(connectionAt).toBeGreaterThanOrEqual(decidedAt);
    await echoOnce(client, serverConn, 'after a pause');
  });

  test('pinning: no ca, a hook comparing the fingerprint accepts the self-signed server', async () => {
    const creds = certFor('ed25519', 3);
    expect(creds.fingerprint).toBe(fingerprintOf(creds.cert));
    const server = await startServer(creds);
    const seen: PeerInfo[] = [];
    const serverConnP = nextConnection(server);
    const client = await withTimeout(
      connectTo(server, undefined as never, {
        ca: undefined,
        verify: (peer: PeerInfo) => { seen.push(peer); return certificateFingerprint(peer.certificates[0]) === creds.fingerprint; },
      }),
      5000,
      'connect() pinned',
    );
    expect(seen[0].chainValid).toBe(false); // not in the default roots
    await echoOnce(client, await serverConnP, 'pinned');
  });

  test('pinning: a different fingerprint refuses with ERR_QUIC_CERT_REFUSED', async () => {
    const creds = certFor('ed25519', 3);
    const wrong = certFor('ed25519', 4).fingerprint;
    expect(wrong).not.toBe(creds.fingerprint);
    const server = await startServer(creds);
    const counts = watchServer(server);
    const err = await rejectionOf(
      connectTo(server, undefined as never, {
        ca: undefined,
        verify: (peer: PeerInfo) => certificateFingerprint(peer.certificates[0]) === wrong,
      }),
      5000,
      'connect() pinned to another fingerprint',
    );
    expect((err as QuicError).code).toBe('ERR_QUIC_CERT_REFUSED');
    await sleep(300);
    expect(counts.connections).toBe(0);
  });

  test('a refused server never gets a connection handed to the client app, even if the client "writes early"', async () => {
    // The client tries to use the connection right away; with a refusing hook
    // connect() must reject, so there is nothing to write on, and the server app sees nothing.
    const server = await startServer(serverCreds);
    const counts = watchServer(server);
    const connecting = connectTo(server, serverCreds.cert, { verify: async () => { await sleep(50); return false; } });
    const used = connecting.then(async (conn) => {
      const s = await conn.openStream();
      s.end('should never be sent');
      conn.sendDatagram(Buffer.from('nor this'));
      return 'used';
    });
    const err = await rejectionOf(used, 5000, 'using a refused connection');
    expect((err as QuicError).code).toBe('ERR_QUIC_CERT_REFUSED');
    await sleep(300);
    expect(counts).toEqual({ connections: 0, streams: 0, datagrams: 0, streamBytes: 0 });
  });
});

describe('server verify hook', () => {
  test('receives the client chain (leaf first), chainValid, serverName and remoteAddress', async () => {
    const seen: PeerInfo[] = [];
    const server = await mtlsServer({ verify: (peer: PeerInfo) => { seen.push(peer); return true; } });
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, serverCreds.cert, asClient(clientLeaf)), 5000, 'connect()');
    const serverConn = await serverConnP;
    expect(seen.length).toBe(1);
    const peer = seen[0];
    expect(Buffer.from(peer.certificates[0]).equals(pemToDer(clientLeaf.cert))).toBe(true);
    expect(peer.chainValid).toBe(true);
    expect(peer.chainError).toBeUndefined();
    expect(peer.serverName).toBe('localhost');
    expect(peer.remoteAddress.address).toBe('127.0.0.1');
    expect(peer.remoteAddress.family).toBe('IPv4');
    expect(peer.remoteAddress.port).toBe(client.localAddress.port);
    expect(serverConn.remoteAddress).toEqual(peer.remoteAddress);
  });

  test('returning true accepts a client whose chain is not valid (self-signed, pinned by the server)', async () => {
    const selfSigned = certFor('ecdsa-p256', 5);
    const seen: PeerInfo[] = [];
    const server = await startServer(serverCreds, {
      verifyPeer: true,
      verify: (peer: PeerInfo) => { seen.push(peer); return certificateFingerprint(peer.certificates[0]) === selfSigned.fingerprint; },
    });
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, serverCreds.cert, asClient(selfSigned)), 5000, 'connect()');
    const serverConn = await serverConnP;
    expect(seen[0].chainValid).toBe(false);
    expect(Buffer.from(serverConn.peerCertificates[0]).equals(pemToDer(selfSigned.cert))).toBe(true);
    await echoOnce(client, serverConn, 'pinned client');
  });

  test('an async hook taking 200 ms still accepts', async () => {
    let decidedAt = 0;
    const server = await mtlsServer({ verify: async () => { await sleep(200); decidedAt = Date.now(); return true; } });
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, serverCreds.cert, asClient(clientLeaf)), 5000, 'connect()');
    const serverConn = await serverConnP;
    expect(decidedAt).toBeGreaterThan(0);
    await echoOnce(client, serverConn, 'slow server hook');
  });

  describe.each([
    ['returns false', () => false],
    ['throws', () => { throw new Error('go away'); }],
    ['rejects after 200 ms', () => sleep(200).then(() => Promise.reject(new Error('go away')))],
    ['resolves false after 200 ms', () => sleep(200).then(() => false)],
  ])('a server hook that %s', (_label, hook) => {
    test("refuses: the client's early stream data and datagram never reach the server app", async () => {
      let calls = 0;
      const server = await mtlsServer({ verify: () => { calls++; return hook() as never; } });
      const counts = watchServer(server);

      // TLS 1.3: the client completes its side before the server has checked the
      // client certificate, so connect() resolves and the client can write at once.
      const client = trackClient(
        await withTimeout(
          connect({
            host: '127.0.0.1',
            port: server.address.port,
            alpn: [ALPN],
            ca: serverCreds.cert,
            serverName: 'localhost',
            key: clientLeaf.key,
            cert: clientLeaf.cert,
          }),
          5000,
          'connect() (resolves before the server verdict)',
        ),
      );
      const closed = client.closed;
      let wrote = false;
      try {
        const s = await client.openStream();
        s.on('error', () => {});
        s.write('early data from a client the server will refuse');
        s.end();
        client.sendDatagram(Buffer.from('early datagram'));
        wrote = true;
      } catch (err) {
        // Only acceptable if the refusal already closed the connection.
        expect((err as QuicError).code).toMatch(/^ERR_QUIC_/);
      }
      const info: CloseInfo = await withTimeout(closed, 5000, "refused client's closed");
      expect(info.error).toBeInstanceOf(QuicError);
      expect(info.error!.code).toMatch(/^ERR_QUIC_CERT/);
      expect(calls).toBeGreaterThanOrEqual(1); // exactly-once: see 'verify hook invocation count'
      await sleep(300);
      expect(counts).toEqual({ connections: 0, streams: 0, datagrams: 0, streamBytes: 0 });
      // With a sync refusal the client may already be closed before it writes; with
      // the 200 ms hooks it certainly wrote while the server was deciding.
      if (_label.includes('200 ms')) expect(wrote).toBe(true);
    });
  });

  test('the refused client error names a certificate problem: ERR_QUIC_CERT_REJECTED (the alert), not a generic close', async () => {
    const server = await mtlsServer({ verify: () => false });
    const client = await withTimeout(connectTo(server, serverCreds.cert, asClient(clientLeaf)), 5000, 'connect()').catch(
      (err: QuicError) => err,
    );
    const code = client instanceof QuicError ? client.code : (await withTimeout(client.closed, 5000, 'closed')).error?.code;
    expect(code).toBe('ERR_QUIC_CERT_REJECTED');
  });
});

describe('verify hook invocation count', () => {
  // One peer, one handshake, one decision: a hook may have side effects (a
  // prompt, a lookup, an audit log line), so it must not be re-run while the
  // handshake waits for its answer.
  test.each([
    ['sync, accepting', () => true, true],
    ['async 200 ms, accepting', () => sleep(200).then(() => true), true],
    ['async 200 ms, refusing', () => sleep(200).then(() => false), false],
    ['immediately rejecting', () => Promise.reject(new Error('no')), false],
  ])('client hook (%s) is called once per handshake', async (_label, hook, accepts) => {
    const server = await startServer(serverCreds);
    let calls = 0;
    const outcome = await withTimeout(
      connectTo(server, serverCreds.cert, { verify: () => { calls++; return hook() as never; } }).then(
        () => 'connected',
        (err: QuicError) => err.code,
      ),
      5000,
      'connect()',
    );
    expect(outcome).toBe(accepts ? 'connected' : 'ERR_QUIC_CERT_REFUSED');
    await sleep(300);
    expect(calls).toBe(1);
  });

  test.each([
    ['sync, accepting', () => true, true],
    ['async 200 ms, accepting', () => sleep(200).then(() => true), true],
    ['async 200 ms, refusing', () => sleep(200).then(() => false), false],
  ])('server hook (%s) is called once per handshake', async (_label, hook, accepts) => {
    let calls = 0;
    const server = await mtlsServer({ verify: () => { calls++; return hook() as never; } });
    const counts = watchServer(server);
    const connP = accepts ? nextConnection(server) : undefined;
    const client = await withTimeout(connectTo(server, serverCreds.cert, asClient(clientLeaf)), 5000, 'connect()');
    if (connP) await connP;
    else await withTimeout(client.closed, 5000, 'closed');
    await sleep(300);
    expect(counts.connections).toBe(accepts ? 1 : 0);
    expect(calls).toBe(1);
  });
});
