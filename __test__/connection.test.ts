import { randomBytes } from 'node:crypto';
import { QuicError } from '../lib';
import {
  QuicStream,
  certFor,
  connectTo,
  nextEvent,
  pair,
  readAll,
  rejectionOf,
  sleep,
  startServer,
  withTimeout,
} from './helpers';

describe('QuicConnection', () => {
  test('close({ code, reason }) reaches the peer as an application close', async () => {
    const { client, serverConn } = await pair();
    const serverCloseEvent = nextEvent<unknown>(serverConn, 'close', 5000, "server connection 'close' event");

    await withTimeout(client.close({ code: 42, reason: 'bye' }), 5000, 'client.close()');

    const remoteInfo = await withTimeout(serverConn.closed, 5000, 'serverConn.closed');
    expect(remoteInfo).toMatchObject({ code: 42, reason: 'bye', remote: true, application: true });
    expect(await serverCloseEvent).toMatchObject({ code: 42, reason: 'bye', remote: true, application: true });

    const localInfo = await withTimeout(client.closed, 5000, 'client.closed');
    expect(localInfo).toMatchObject({ code: 42, reason: 'bye', remote: false, application: true });

    // close() is idempotent.
    await withTimeout(Promise.resolve(client.close()), 5000, 'second client.close()');
  });

  test('idle timeout closes both sides with ERR_QUIC_IDLE_TIMEOUT', async () => {
    const started = Date.now();
    const { client, serverConn } = await pair({ server: { idleTimeout: 300 }, client: { idleTimeout: 300 } });

    const info = await withTimeout(client.closed, 5000, 'client.closed after idling');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(info.error).toBeInstanceOf(QuicError);
    expect(info.error?.code).toBe('ERR_QUIC_IDLE_TIMEOUT');
    expect(info.remote).toBe(false);

    const serverInfo = await withTimeout(serverConn.closed, 5000, 'serverConn.closed after idling');
    expect(serverInfo.error).toBeInstanceOf(QuicError);
    expect(serverInfo.error?.code).toBe('ERR_QUIC_IDLE_TIMEOUT');

    await expect(client.openStream()).rejects.toMatchObject({ code: 'ERR_QUIC_CONNECTION_CLOSED' });
  });

  test('traffic keeps a connection with a short idle timeout alive', async () => {
    const { client, serverConn } = await pair({ server: { idleTimeout: 400 }, client: { idleTimeout: 400 } });
    serverConn.on('datagram', (d: Uint8Array) => serverConn.sendDatagram(d));
    let closed = false;
    void client.closed.then(() => {
      closed = true;
    });
    for (let i = 0; i < 10; i++) {
      client.sendDatagram(Buffer.from([i]));
      await sleep(100);
    }
    expect(closed).toBe(false); // 1000 ms of traffic, well past the 400 ms idle timeout
  });

  test('alpnProtocol is the negotiated protocol on both sides', async () => {
    const { client, serverConn } = await pair({
      server: { alpn: ['other', 'test'] },
      client: { alpn: ['foo', 'test'] },
    });
    expect(client.alpnProtocol).toBe('test');
    expect(serverConn.alpnProtocol).toBe('test');
  });

  test('mismatched ALPN rejects connect() with ERR_QUIC_ALPN_MISMATCH and no server connection', async () => {
    const creds = certFor();
    const server = await startServer(creds, { alpn: ['b'] });
    let serverConnections = 0;
    server.on('connection', () => serverConnections++);

    const err = await rejectionOf(connectTo(server, creds.cert, { alpn: ['a'] }), 5000, 'connect() with alpn a');
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toBe('ERR_QUIC_ALPN_MISMATCH');
    await sleep(300);
    expect(serverConnections).toBe(0);
  });

  test('stats() after a transfer', async () => {
    const { client, serverConn } = await pair();
    serverConn.on('stream', (s: QuicStream) => s.pipe(s));
    const size = 256 * 1024;
    const payload = randomBytes(size);
    const s = await withTimeout(client.openStream(), 5000, 'openStream()');
    const back = readAll(s, 2 * size);
    s.end(payload);
    expect((await withTimeout(back, 10000, 'echo')).equals(payload)).toBe(true);

    for (const conn of [client, serverConn]) {
      const st = conn.stats();
      expect(st.bytesSent).toBeGreaterThan(size);
      expect(st.bytesReceived).toBeGreaterThan(size);
      expect(st.packetsSent).toBeGreaterThan(0);
      expect(st.packetsReceived).toBeGreaterThan(0);
      expect(st.packetsSent).toBeGreaterThanOrEqual(size / 1500);
      expect(st.packetsLost).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(st.rtt)).toBe(true);
      expect(st.rtt).toBeGreaterThanOrEqual(0);
      expect(st.rtt).toBeLessThan(1000); // milliseconds, loopback
      expect(st.cwnd).toBeGreaterThan(0);
    }
  });

  test('side, localAddress and remoteAddress', async () => {
    const { server, client, serverConn } = await pair();
    expect(client.side).toBe('client');
    expect(serverConn.side).toBe('server');

    expect(server.address).toMatchObject({ address: '127.0.0.1', family: 'IPv4' });
    expect(server.address.port).toBeGreaterThan(0);

    expect(client.remoteAddress).toEqual({ address: '127.0.0.1', port: server.address.port, family: 'IPv4' });
    expect(client.localAddress.port).toBeGreaterThan(0);
    expect(client.localAddress.port).not.toBe(server.address.port);
    expect(client.localAddress.family).toBe('IPv4');

    expect(serverConn.localAddress).toMatchObject({ port: server.address.port, family: 'IPv4' });
    expect(serverConn.remoteAddress).toEqual({
      address: '127.0.0.1',
      port: client.localAddress.port,
      family: 'IPv4',
    });
  });
});
