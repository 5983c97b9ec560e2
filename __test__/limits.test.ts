// Server limits and abuse defences: Retry address validation, the
// per-address handshake rate limit and maxConnections.
import { connect } from '../lib';
import { ALPN, certFor, connectTo, echoStreams, readAll, rejectionOf, startServer, trackClient, withTimeout } from './helpers';

const creds = certFor();

describe('server limits', () => {
  test('retry: true validates the client address first, then serves normally', async () => {
    const server = await startServer(creds, { retry: true });
    echoStreams(server);
    const conn = await withTimeout(connectTo(server, creds.cert), 5000, 'connect with retry');
    const stream = await conn.openStream();
    stream.end('hello after retry');
    expect((await withTimeout(readAll(stream), 5000, 'echo')).toString()).toBe('hello after retry');
    expect(conn.alpnProtocol).toBe(ALPN);
  });

  test('handshakeRateLimit lets a burst of twice the rate in and refuses the rest from that address', async () => {
    const server = await startServer(creds, { handshakeRateLimit: 1 });
    const attempt = () =>
      connect({ host: '127.0.0.1', port: server.address.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost', timeout: 800 }).then(
        (c) => trackClient(c),
      );
    const results = await Promise.allSettled([attempt(), attempt(), attempt(), attempt()]);
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    expect(ok).toBe(2);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as { code?: string }).code).toBe('ERR_QUIC_HANDSHAKE_TIMEOUT');
    }
  });

  test('maxConnections: further clients are ignored until a slot frees up', async () => {
    const server = await startServer(creds, { maxConnections: 1 });
    const first = await connectTo(server, creds.cert);
    const err = await rejectionOf(
      connect({ host: '127.0.0.1', port: server.address.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost', timeout: 600 }),
      3000,
      'second connect',
    );
    expect((err as { code?: string }).code).toBe('ERR_QUIC_HANDSHAKE_TIMEOUT');
    await first.close();
    // The closed connection drains briefly before its slot is free.
    let third;
    for (let i = 0; i < 10 && !third; i++) {
      third = await connect({ host: '127.0.0.1', port: server.address.port, alpn: [ALPN], ca: creds.cert, serverName: 'localhost', timeout: 500 }).catch(() => undefined);
    }
    expect(third).toBeDefined();
    await third?.close();
  });
});

describe('anti-amplification', () => {
  test('before the client address is validated, the server sends at most 3x what it received', async () => {
    const dgram = await import('node:dgram');
    const { generateCertificate, QuicSocket } = await import('../lib');
    // A large first flight: an RSA leaf plus its CA in the chain.
    const root = generateCertificate({ subjectAltNames: ['Big Root'], keyType: 'rsa-2048', isCa: true });
    const middle = generateCertificate({ subjectAltNames: ['Big Intermediate'], keyType: 'rsa-2048', isCa: true, ca: root });
    const leaf = generateCertificate({ subjectAltNames: ['localhost'], keyType: 'rsa-2048', ca: middle });
    const chain = leaf.cert + middle.cert + root.cert;
    const server = await startServer({ key: leaf.key, cert: chain, fingerprint: leaf.fingerprint });

    // Capture a real client Initial on a silent socket...
    const sink = dgram.createSocket('udp4');
    await new Promise<void>((r) => sink.bind(0, '127.0.0.1', () => r()));
    const initial = new Promise<Buffer>((resolve) => sink.once('message', (m) => resolve(m)));
    const client = await QuicSocket.bind({ address: '127.0.0.1' });
    client.connect({ host: '127.0.0.1', port: sink.address().port, alpn: [ALPN], ca: root.cert, serverName: 'localhost', timeout: 500 }).catch(() => undefined);
    const packet = await withTimeout(initial, 3000, 'a client Initial');
    // ...and replay it once from an address that never answers.
    const attacker = dgram.createSocket('udp4');
    await new Promise<void>((r) => attacker.bind(0, '127.0.0.1', () => r()));
    let received = 0;
    attacker.on('message', (m) => (received += m.length));
    attacker.send(packet, server.address.port, '127.0.0.1');
    // Long enough for several retransmission timeouts.
    await new Promise((r) => setTimeout(r, 3000));
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThanOrEqual(3 * packet.length);
    // eslint-disable-next-line no-console
    console.log(`anti-amplification: ${packet.length} bytes in, ${received} bytes out (chain ${chain.length} PEM bytes)`);
    for (const s of [sink, attacker]) s.close();
    await client.close();
  });
});
