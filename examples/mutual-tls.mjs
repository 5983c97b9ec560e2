// Mutual TLS with a `verify` hook: a server that requires client certificates
// from its own CA, and decides inside the handshake, with an async lookup,
// which of those clients it takes. A refused client never reaches the
// server's 'connection' event; the client sees why it was refused.
//
// Run: node examples/mutual-tls.mjs (after npm run build)
// expect: ^verify: alice, chain valid: true$
// expect: ^server: connection from alice$
// expect: ^alice: accepted, echoed "hello"$
// expect: ^verify: mallory, chain valid: true$
// expect: ^mallory: refused \(ERR_QUIC_CERT_REJECTED\)$
// expect: ^anonymous: refused \(ERR_QUIC_CERT_REQUIRED\)$
// expect-not: ^server: connection from (mallory|anonymous)

import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { text } from 'node:stream/consumers';
import { listen, connect, generateCertificate } from 'nquic';

// #region pki
// A small PKI: one CA signs the server's certificate and the clients'.
const ca = generateCertificate({ subjectAltNames: ['Example CA'], isCa: true });
const serverId = generateCertificate({ subjectAltNames: ['localhost'], ca });
const alice = generateCertificate({ subjectAltNames: ['alice'], ca });
const mallory = generateCertificate({ subjectAltNames: ['mallory'], ca });
// #endregion pki

const nameOf = (der) => new X509Certificate(der).subject.replace(/^CN=/, '');
const allowed = new Set(['alice']);
async function isAllowed(name) {                                 // stands for a database or directory lookup
  await sleep(10);
  return allowed.has(name);
}

// #region mutual-tls
const server = await listen({
  address: '127.0.0.1', port: 0, alpn: ['mtls'], key: serverId.key, cert: serverId.cert,
  verifyPeer: true,                  // require a client certificate…
  ca: ca.cert,                       // …that chains to this CA
  // Runs inside the handshake, which waits for the answer; false, a throw or a
  // rejection refuses the client with a TLS alert.
  verify: async (peer) => {
    const name = nameOf(peer.certificates[0]);                   // DER, leaf first
    console.log(`verify: ${name}, chain valid: ${peer.chainValid}`);
    return isAllowed(name);
  },
});
server.on('connection', (conn) => {                              // only for accepted clients
  console.log(`server: connection from ${nameOf(conn.peerCertificates[0])}`);
  conn.on('stream', (stream) => stream.pipe(stream));
});

async function attempt(label, identity) {
  try {
    const conn = await connect({ host: '127.0.0.1', port: server.address.port, alpn: ['mtls'],
      ca: ca.cert, serverName: 'localhost', ...identity });      // identity: { key, cert }
    const stream = await conn.openStream();
    stream.end('hello');
    const reply = await text(stream);
    await conn.close();
    return `${label}: accepted, echoed "${reply}"`;
  } catch (err) {
    // In TLS 1.3 the client finishes its handshake first, so a refusal
    // usually arrives after connect() resolved: as the error of the
    // connection's streams and of `conn.closed`.
    return `${label}: refused (${err.code})`;
  }
}

console.log(await attempt('alice', { key: alice.key, cert: alice.cert }));
console.log(await attempt('mallory', { key: mallory.key, cert: mallory.cert }));
console.log(await attempt('anonymous', {}));
// #endregion mutual-tls

await server.close();
