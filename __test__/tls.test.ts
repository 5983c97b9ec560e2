import { createSocket } from 'node:dgram';
import { connect, generateCertificate, QuicError } from '../lib';
import {
  ALPN,
  KEY_TYPES,
  KeyType,
  QuicStream,
  certFor,
  connectTo,
  pair,
  pemToDer,
  readAll,
  rejectionOf,
  sha256Hex,
  sleep,
  startServer,
  trackClient,
  trackDgram,
  withTimeout,
} from './helpers';

describe('TLS', () => {
  test('an untrusted server certificate rejects connect() with ERR_QUIC_CERT_UNTRUSTED', async () => {
    const serverCreds = certFor('ecdsa-p256', 0);
    const otherCreds = certFor('ecdsa-p256', 1); // a different self-signed certificate, same names
    expect(otherCreds.cert).not.toBe(serverCreds.cert);

    const server = await startServer(serverCreds);
    let serverConnections = 0;
    server.on('connection', () => serverConnections++);

    const err = await rejectionOf(connectTo(server, otherCreds.cert), 5000, 'connect() with the wrong ca');
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toMatch(/^ERR_QUIC_/);
    expect((err as QuicError).code).toBe('ERR_QUIC_CERT_UNTRUSTED');

    await sleep(300);
    expect(serverConnections).toBe(0);
  });

  test('a certificate for another name rejects connect() with an ERR_QUIC_ code', async () => {
    const creds = certFor('ecdsa-p256');
    const server = await startServer(creds);
    let serverConnections = 0;
    server.on('connection', () => serverConnections++);

    const err = await rejectionOf(
      connectTo(server, creds.cert, { serverName: 'not-this-host.example' }),
      5000,
      'connect() with a mismatching serverName',
    );
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toMatch(/^ERR_QUIC_/);
    await sleep(300);
    expect(serverConnections).toBe(0);
  });

  describe.each(KEY_TYPES)('key type %s', (keyType: KeyType) => {
    test('generateCertificate returns PEM and the SHA-256 fingerprint of the DER', () => {
      const creds = certFor(keyType);
      expect(creds.cert).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(creds.key).toMatch(/-----BEGIN [A-Z ]*PRIVATE KEY-----/);
      expect(creds.fingerprint).toBe(sha256Hex(pemToDer(creds.cert)));
    });

    test('connecting with the right ca succeeds and the stream works', async () => {
      const { client, serverConn, creds } = await pair({ keyType });
      expect(client.alpnProtocol).toBe(ALPN);
      expect(serverConn.alpnProtocol).toBe(ALPN);

      // The client sees the server's leaf certificate.
      expect(client.peerCertificates.length).toBeGreaterThanOrEqual(1);
      expect(Buffer.from(client.peerCertificates[0]).equals(pemToDer(creds.cert))).toBe(true);

      serverConn.on('stream', (s: QuicStream) => s.pipe(s));
      const s = await withTimeout(client.openStream(), 5000, 'openStream()');
      const back = readAll(s, 1024);
      s.end(`hello over ${keyType}`);
      expect((await withTimeout(back, 5000, 'echo')).toString()).toBe(`hello over ${keyType}`);
    });
  });

  test('handshake timeout when nothing answers: ERR_QUIC_HANDSHAKE_TIMEOUT', async () => {
    const silent = trackDgram(createSocket('udp4'));
    let packetsToSilent = 0;
    silent.on('message', () => packetsToSilent++);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', () => resolve()));
    const { port } = silent.address();

    const { cert } = certFor();
    const started = Date.now();
    const err = await rejectionOf(
      connect({ host: '127.0.0.1', port, alpn: [ALPN], ca: cert, serverName: 'localhost', timeout: 300 }).then((c) =>
        trackClient(c),
      ),
      5000,
      'connect() to a silent port',
    );
    const elapsed = Date.now() - started;
    expect(err).toBeInstanceOf(QuicError);
    expect((err as QuicError).code).toBe('ERR_QUIC_HANDSHAKE_TIMEOUT');
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(3000);
    expect(packetsToSilent).toBeGreaterThanOrEqual(1); // an Initial really was sent
  });

  test('generateCertificate signs with a given CA, and that CA is enough to trust the leaf', async () => {
    const ca = generateCertificate({ keyType: 'ecdsa-p256', subjectAltNames: ['nquic test ca'], isCa: true });
    const leaf = generateCertificate({
      keyType: 'ecdsa-p256',
      subjectAltNames: ['localhost', '127.0.0.1'],
      ca: { key: ca.key, cert: ca.cert },
    });
    const server = await startServer(leaf);
    const conn = await withTimeout(connectTo(server, ca.cert), 5000, 'connect() trusting only the CA');
    expect(Buffer.from(conn.peerCertificates[0]).equals(pemToDer(leaf.cert))).toBe(true);
  });
});
