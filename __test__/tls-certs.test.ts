// TLS certificates: key types in PEM and DER, full chains, the client's
// verification errors (untrusted, name, IP SAN, expiry, default trust),
// verifyPeer: false, and server.setSecureContext.
import { X509Certificate } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ERROR_CODES, generateCertificate, QuicError } from '../lib';
import {
  ALPN,
  Credentials,
  KEY_TYPES,
  KeyType,
  QuicConnection,
  QuicServer,
  QuicStream,
  certFor,
  certPemToDer,
  connectTo,
  keyPemToDer,
  nextConnection,
  openssl,
  opensslAvailable,
  pemToDer,
  readAll,
  rejectionOf,
  sleep,
  startServer,
  tempDir,
  watchServer,
  withTimeout,
} from './helpers';

const HAS_OPENSSL = opensslAvailable();
if (!HAS_OPENSSL) {
  // eslint-disable-next-line no-console
  console.warn('tls-certs: the openssl CLI is missing; the P-384 and expired-certificate cases are skipped');
}
const withOpenssl = HAS_OPENSSL ? test : test.skip;

const tmp = tempDir('nquic-tls-certs-');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------
// openssl-made certificates

const LEAF_EXT = [
  'basicConstraints = critical,CA:FALSE',
  'keyUsage = critical,digitalSignature',
  'subjectAltName = DNS:localhost,IP:127.0.0.1',
];

let p384: Credentials | undefined;
/** A self-signed P-384 certificate for localhost/127.0.0.1, made by the openssl CLI. */
function p384Cert(): Credentials {
  if (p384) return p384;
  const dir = tempDir('nquic-p384-');
  try {
    writeFileSync(
      join(dir, 'req.cnf'),
      ['[req]', 'distinguished_name = dn', 'prompt = no', 'x509_extensions = ext', '[dn]', 'CN = localhost', '[ext]', ...LEAF_EXT, ''].join('\n'),
    );
    openssl(
      ['req', '-x509', '-config', 'req.cnf', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes',
        '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '2', '-sha384'],
      dir,
    );
    const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
    const key = readFileSync(join(dir, 'key.pem'), 'utf8');
    p384 = { key, cert, fingerprint: new X509Certificate(cert).fingerprint256.replace(/:/g, '').toLowerCase() };
    return p384;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * A P-256 leaf for localhost/127.0.0.1 signed by `ca` (made with
 * generateCertificate) with an explicit validity window, through `openssl ca`.
 */
function opensslLeaf(ca: Credentials, startdate: string, enddate: string): Credentials {
  const dir = tempDir('nquic-ca-');
  try {
    writeFileSync(
      join(dir, 'ca.cnf'),
      [
        '[ca]', 'default_ca = CA_default',
        '[CA_default]', 'database = ./index.txt', 'new_certs_dir = .', 'serial = ./serial', 'default_md = sha256',
        'policy = policy_any', 'unique_subject = no', 'email_in_dn = no',
        '[policy_any]', 'commonName = supplied',
        '[leaf_ext]', ...LEAF_EXT,
        '[req]', 'distinguished_name = dn', 'prompt = no', '[dn]', 'CN = localhost', '',
      ].join('\n'),
    );
    writeFileSync(join(dir, 'index.txt'), '');
    writeFileSync(join(dir, 'serial'), '1000\n');
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    writeFileSync(join(dir, 'ca.key'), ca.key);
    openssl(['req', '-new', '-config', 'ca.cnf', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', 'leaf.key', '-out', 'leaf.csr'], dir);
    openssl(['ca', '-batch', '-config', 'ca.cnf', '-cert', 'ca.pem', '-keyfile', 'ca.key', '-in', 'leaf.csr',
      '-out', 'leaf.pem', '-startdate', startdate, '-enddate', enddate, '-extensions', 'leaf_ext', '-notext'], dir);
    const cert = readFileSync(join(dir, 'leaf.pem'), 'utf8');
    const key = readFileSync(join(dir, 'leaf.key'), 'utf8');
    return { key, cert, fingerprint: new X509Certificate(cert).fingerprint256.replace(/:/g, '').toLowerCase() };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Shared checks

async function echoOnce(client: QuicConnection, serverConn: QuicConnection, text: string): Promise<void> {
  serverConn.on('stream', (s: QuicStream) => s.pipe(s));
  const s = await withTimeout(client.openStream(), 5000, 'openStream()');
  const back = readAll(s, 64 * 1024);
  s.end(text);
  expect((await withTimeout(back, 5000, 'echo')).toString()).toBe(text);
}

/** connect() must reject with exactly `code`, and `server` must never announce a connection. */
async function expectRefused(server: QuicServer, connecting: Promise<QuicConnection>, code: string, label: string): Promise<QuicError> {
  const counts = watchServer(server);
  const err = await rejectionOf(connecting, 5000, label);
  expect(err).toBeInstanceOf(QuicError);
  expect((err as QuicError).code).toBe(code);
  await sleep(300);
  expect(counts.connections).toBe(0);
  return err as QuicError;
}

function describeKey(certPem: string): string {
  const key = new X509Certificate(certPem).publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  if (key.asymmetricKeyType === 'ec') return `ec/${details.namedCurve}`;
  if (key.asymmetricKeyType === 'rsa') return `rsa/${details.modulusLength}`;
  return String(key.asymmetricKeyType);
}

const EXPECTED_KEY: Record<KeyType, string> = {
  ed25519: 'ed25519',
  'ecdsa-p256': 'ec/prime256v1',
  'rsa-2048': 'rsa/2048',
};

// ---------------------------------------------------------------------------

describe('TLS key types and encodings', () => {
  describe.each(KEY_TYPES)('%s', (keyType: KeyType) => {
    test('the certificate really carries that key type', () => {
      expect(describeKey(certFor(keyType).cert)).toBe(EXPECTED_KEY[keyType]);
    });

    test.each(['pem', 'der'] as const)('server key+cert and client ca as %s: handshake, leaf seen, stream works', async (format) => {
      const creds = certFor(keyType);
      const key = format === 'pem' ? creds.key : keyPemToDer(creds.key);
      const cert = format === 'pem' ? creds.cert : certPemToDer(creds.cert);
      const ca = format === 'pem' ? creds.cert : certPemToDer(creds.cert);
      if (format === 'der') {
        expect(Buffer.isBuffer(key) && key[0]).toBe(0x30); // ASN.1 SEQUENCE, not PEM text
        expect(Buffer.isBuffer(cert) && cert[0]).toBe(0x30);
      }
      const server = await startServer(creds, { key, cert } as never);
      const serverConnP = nextConnection(server);
      const client = await withTimeout(connectTo(server, ca as never), 5000, `connect() (${keyType}, ${format})`);
      const serverConn = await serverConnP;
      expect(Buffer.from(client.peerCertificates[0]).equals(pemToDer(creds.cert))).toBe(true);
      await echoOnce(client, serverConn, `${keyType} as ${format}`);
    });
  });

  describe('ecdsa-p384 (openssl CLI)', () => {
    withOpenssl('the openssl certificate really is P-384', () => {
      expect(describeKey(p384Cert().cert)).toBe('ec/secp384r1');
    });

    withOpenssl.each(['pem', 'der'] as const)('server key+cert and client ca as %s: handshake, leaf seen, stream works', async (format) => {
      const creds = p384Cert();
      const key = format === 'pem' ? creds.key : keyPemToDer(creds.key);
      const cert = format === 'pem' ? creds.cert : certPemToDer(creds.cert);
      const server = await startServer(creds, { key, cert } as never);
      const serverConnP = nextConnection(server);
      const client = await withTimeout(connectTo(server, (format === 'pem' ? creds.cert : cert) as never), 5000, `connect() (P-384, ${format})`);
      const serverConn = await serverConnP;
      expect(Buffer.from(client.peerCertificates[0]).equals(pemToDer(creds.cert))).toBe(true);
      await echoOnce(client, serverConn, `P-384 as ${format}`);
    });
  });
});

describe('TLS certificate chains', () => {
  const root = generateCertificate({ subjectAltNames: ['Root'], isCa: true });
  const intermediate = generateCertificate({ subjectAltNames: ['Intermediate'], isCa: true, ca: root });
  const leaf = generateCertificate({ subjectAltNames: ['localhost', '127.0.0.1'], ca: intermediate });

  test('the PKI is what it claims: leaf <- intermediate <- root', () => {
    const r = new X509Certificate(root.cert);
    const i = new X509Certificate(intermediate.cert);
    const l = new X509Certificate(leaf.cert);
    expect(r.ca).toBe(true);
    expect(i.ca).toBe(true);
    expect(l.ca).toBe(false);
    expect(i.checkIssued(r)).toBe(true);
    expect(i.verify(r.publicKey)).toBe(true);
    expect(l.checkIssued(i)).toBe(true);
    expect(l.verify(i.publicKey)).toBe(true);
    expect(l.checkIssued(r)).toBe(false);
  });

  test.each([
    ['a PEM list [leaf, intermediate]', () => [leaf.cert, intermediate.cert]],
    ['one PEM string holding leaf then intermediate', () => leaf.cert + intermediate.cert],
    ['a DER list [leaf, intermediate]', () => [certPemToDer(leaf.cert), certPemToDer(intermediate.cert)]],
  ])('server cert as %s, client trusting only the root: connects and sees the chain', async (_label, certOf) => {
    const server = await startServer(leaf, { key: leaf.key, cert: certOf() } as never);
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, root.cert), 5000, 'connect() over a full chain');
    const serverConn = await serverConnP;
    expect(client.peerCertificates.length).toBe(2);
    expect(Buffer.from(client.peerCertificates[0]).equals(pemToDer(leaf.cert))).toBe(true);
    expect(Buffer.from(client.peerCertificates[1]).equals(pemToDer(intermediate.cert))).toBe(true);
    await echoOnce(client, serverConn, 'chained');
  });

  test('without the intermediate the leaf cannot be chained to the root: ERR_QUIC_CERT_UNTRUSTED', async () => {
    const server = await startServer(leaf, { cert: leaf.cert });
    await expectRefused(server, connectTo(server, root.cert), 'ERR_QUIC_CERT_UNTRUSTED', 'connect() with the leaf only');
  });
});

describe('TLS client verification errors', () => {
  test('a certificate for other names: ERR_QUIC_CERT_NAME_MISMATCH, no server connection', async () => {
    const creds = certFor('ecdsa-p256');
    const server = await startServer(creds);
    await expectRefused(
      server,
      connectTo(server, creds.cert, { serverName: 'other.example' }),
      'ERR_QUIC_CERT_NAME_MISMATCH',
      "connect() with serverName 'other.example'",
    );
  });

  test('connecting to 127.0.0.1 without serverName checks the IP SAN: a 127.0.0.1 SAN is accepted', async () => {
    const creds = generateCertificate({ subjectAltNames: ['127.0.0.1'] });
    const server = await startServer(creds);
    const serverConnP = nextConnection(server);
    const client = await withTimeout(connectTo(server, creds.cert, { serverName: undefined }), 5000, 'connect() by IP');
    const serverConn = await serverConnP;
    await echoOnce(client, serverConn, 'by ip');
  });

  test("connecting to 127.0.0.1 without serverName to a 'localhost'-only certificate: ERR_QUIC_CERT_NAME_MISMATCH", async () => {
    const creds = generateCertificate({ subjectAltNames: ['localhost'] });
    const server = await startServer(creds);
    await expectRefused(
      server,
      connectTo(server, creds.cert, { serverName: undefined }),
      'ERR_QUIC_CERT_NAME_MISMATCH',
      'connect() by IP to a name-only certificate',
    );
  });

  test("serverName 'localhost' to a 127.0.0.1-only certificate: ERR_QUIC_CERT_NAME_MISMATCH", async () => {
    const creds = generateCertificate({ subjectAltNames: ['127.0.0.1'] });
    const server = await startServer(creds);
    await expectRefused(
      server,
      connectTo(server, creds.cert, { serverName: 'localhost' }),
      'ERR_QUIC_CERT_NAME_MISMATCH',
      "connect() with serverName 'localhost' to an IP-only certificate",
    );
  });

  withOpenssl('an expired certificate (valid 2019-2020, signed by a trusted CA): ERR_QUIC_CERT_EXPIRED', async () => {
    const ca = generateCertificate({ subjectAltNames: ['Expiry Test CA'], isCa: true });
    const expired = opensslLeaf(ca, '20190101000000Z', '20200101000000Z');
    const x = new X509Certificate(expired.cert);
    expect(new Date(x.validTo).getTime()).toBeLessThan(Date.now());
    expect(x.checkIssued(new X509Certificate(ca.cert))).toBe(true);

    // Control: the same CA with a currently valid openssl-made leaf is accepted, so the
    // failure below is about the dates and nothing else.
    const fresh = opensslLeaf(ca, '20200101000000Z', '20991231000000Z');
    const okServer = await startServer(fresh);
    await withTimeout(connectTo(okServer, ca.cert), 5000, 'connect() to the valid openssl leaf');

    const server = await startServer(expired);
    await expectRefused(server, connectTo(server, ca.cert), 'ERR_QUIC_CERT_EXPIRED', 'connect() to an expired certificate');
  });

  test('without ca the default (public) roots refuse a self-signed server: ERR_QUIC_CERT_UNTRUSTED', async () => {
    const creds = certFor('ecdsa-p256');
    const server = await startServer(creds);
    await expectRefused(
      server,
      connectTo(server, undefined as never, { ca: undefined }),
      'ERR_QUIC_CERT_UNTRUSTED',
      'connect() with the default trust store',
    );
  });

  test('verifyPeer: false accepts an untrusted certificate for other names', async () => {
    const creds = generateCertificate({ subjectAltNames: ['unrelated.example'] });
    const server = await startServer(creds);
    const serverConnP = nextConnection(server);
    const client = await withTimeout(
      connectTo(server, undefined as never, { ca: undefined, verifyPeer: false, serverName: 'other.example' }),
      5000,
      'connect() with verifyPeer: false',
    );
    const serverConn = await serverConnP;
    expect(Buffer.from(client.peerCertificates[0]).equals(pemToDer(creds.cert))).toBe(true);
    await echoOnce(client, serverConn, 'unverified');
  });

  withOpenssl('verifyPeer: false accepts an expired certificate too', async () => {
    const ca = generateCertificate({ subjectAltNames: ['Expiry Test CA'], isCa: true });
    const expired = opensslLeaf(ca, '20190101000000Z', '20200101000000Z');
    const server = await startServer(expired);
    await withTimeout(connectTo(server, undefined as never, { ca: undefined, verifyPeer: false }), 5000, 'connect() to an expired cert, unverified');
  });

  test('the certificate error codes a client can see are listed in ERROR_CODES (the documented table)', () => {
    // API.md: "code: string (stable ERR_QUIC_* names, listed in the README)". The codes this
    // suite observes must be part of that list.
    for (const code of ['ERR_QUIC_CERT_UNTRUSTED', 'ERR_QUIC_CERT_EXPIRED', 'ERR_QUIC_CERT_NAME_MISMATCH', 'ERR_QUIC_CERT_REFUSED', 'ERR_QUIC_CERT_REQUIRED', 'ERR_QUIC_CERT_REJECTED']) {
      expect({ code, documented: code in ERROR_CODES }).toEqual({ code, documented: true });
    }
  });
});

describe('server.setSecureContext', () => {
  test('new connections get the new certificate; an existing connection keeps working', async () => {
    const a = certFor('ecdsa-p256', 0);
    // A distinct subject (CN) on purpose: see the 'same subject' test below for why.
    const b = generateCertificate({ subjectAltNames: ['renewed.localhost', 'localhost', '127.0.0.1'], keyType: 'ed25519' });
    const server = await startServer(a);
    server.on('connection', (conn: QuicConnection) => conn.on('stream', (s: QuicStream) => s.pipe(s)));

    const first = await withTimeout(connectTo(server, a.cert), 5000, 'connect() before the switch');
    expect(Buffer.from(first.peerCertificates[0]).equals(pemToDer(a.cert))).toBe(true);
    // A stream opened before the switch and used after it.
    const early = await withTimeout(first.openStream(), 5000, 'openStream() before the switch');
    const earlyBack = readAll(early, 64 * 1024);
    early.write('before ');

    server.setSecureContext({ key: b.key, cert: b.cert });

    const second = await withTimeout(connectTo(server, [a.cert, b.cert] as never), 5000, 'connect() after the switch');
    expect(Buffer.from(second.peerCertificates[0]).equals(pemToDer(b.cert))).toBe(true);

    // A client that trusts only the old certificate is now refused.
    const err = await rejectionOf(connectTo(server, a.cert), 5000, 'connect() trusting only the old certificate');
    expect((err as QuicError).code).toBe('ERR_QUIC_CERT_UNTRUSTED');

    early.end('and after');
    expect((await withTimeout(earlyBack, 5000, 'echo on the pre-switch stream')).toString()).toBe('before and after');
    const s = await withTimeout(first.openStream(), 5000, 'new stream on the pre-switch connection');
    const back = readAll(s, 1024);
    s.end('still here');
    expect((await withTimeout(back, 5000, 'echo on a new stream of the old connection')).toString()).toBe('still here');
    // The old connection still presents the old certificate.
    expect(Buffer.from(first.peerCertificates[0]).equals(pemToDer(a.cert))).toBe(true);
    expect(first.alpnProtocol).toBe(ALPN);
  });
});

describe('TLS trust anchors given as a list', () => {
  // Two self-signed peers made with generateCertificate's defaults share the
  // subject CN=localhost (P2P pinning of several peers, or trusting old and new
  // certificate during a rotation). Every anchor in `ca` must be usable.
  test.each([
    ['a list [a, b]', (a: string, b: string) => [a, b]],
    ['a list [b, a]', (a: string, b: string) => [b, a]],
    ['one PEM string a + b', (a: string, b: string) => a + b],
    ['a DER list [a, b]', (a: string, b: string) => [certPemToDer(a), certPemToDer(b)]],
  ])('ca as %s trusts server b, whose subject equals a\'s (both CN=localhost)', async (_label, caOf) => {
    const a = certFor('ecdsa-p256', 0);
    const b = certFor('ed25519', 1);
    expect(new X509Certificate(a.cert).subject).toBe(new X509Certificate(b.cert).subject);
    const server = await startServer(b);
    const client = await withTimeout(connectTo(server, caOf(a.cert, b.cert) as never), 5000, 'connect() with two anchors');
    expect(Buffer.from(client.peerCertificates[0]).equals(pemToDer(b.cert))).toBe(true);
  });

  test('ca as a list [a, b] with distinct subjects trusts server b (control)', async () => {
    const a = generateCertificate({ subjectAltNames: ['a.example', 'localhost'] });
    const b = generateCertificate({ subjectAltNames: ['b.example', 'localhost'] });
    const server = await startServer(b);
    const client = await withTimeout(connectTo(server, [a.cert, b.cert] as never), 5000, 'connect() with two anchors');
    expect(Buffer.from(client.peerCertificates[0]).equals(pemToDer(b.cert))).toBe(true);
  });
});
