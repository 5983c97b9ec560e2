// Pinning a self-signed peer: no CA, no name check; the client accepts the
// server only if its certificate has the fingerprint it expects (the
// SHA-256 of the leaf certificate's DER), known beforehand.
//
// Run: node examples/pinning.mjs (after npm run build)
// expect: ^pinned: connected, alpn p2p$
// expect: ^wrong pin: ERR_QUIC_CERT_REFUSED$

import { listen, connect, generateCertificate, certificateFingerprint } from 'nquic';

const self = generateCertificate({ subjectAltNames: ['some-peer'] });   // self-signed
const server = await listen({ address: '127.0.0.1', port: 0, alpn: ['p2p'], key: self.key, cert: self.cert });
const host = '127.0.0.1';
const port = server.address.port;
let expectedFingerprint = self.fingerprint;                             // learned out of band

// #region pinning
const conn = await connect({ host, port, alpn: ['p2p'],
  verify: (peer) => certificateFingerprint(peer.certificates[0]) === expectedFingerprint });
// #endregion pinning
console.log(`pinned: connected, alpn ${conn.alpnProtocol}`);
await conn.close();

expectedFingerprint = '00'.repeat(32);
try {
  await connect({ host, port, alpn: ['p2p'], verify: (peer) => peer.fingerprint === expectedFingerprint });
  console.log('wrong pin: connected?!');
} catch (err) {
  console.log(`wrong pin: ${err.code}`);                                  // refused inside the handshake
}
await server.close();
