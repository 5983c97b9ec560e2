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
