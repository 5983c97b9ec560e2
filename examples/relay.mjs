// A relayed connection: when no punch can work (symmetric NATs), any peer
// both sides reach may relay for them. The connection A ↔ B is still an
// ordinary end-to-end QUIC + TLS connection; its packets travel inside QUIC
// datagrams of each peer's own connection to the relay, which forwards them
// without being able to read or alter them. All three run on 127.0.0.1 here.
//
// Run: node examples/relay.mjs (after npm run build)
// expect: ^B: reachable through the relay as [0-9a-f]{16}…$
// expect: ^A: connected to B, relayed=true, fingerprint checked=true$
// expect: ^B: relayed connection from A \(relayed=true\)$
// expect: ^A: stream echoed "through the relay", datagram echoed "ping"$
// expect: ^relay: 1 flow\(s\), 1 registered peer\(s\)$

import { once } from 'node:events';
import { text } from 'node:stream/consumers';
import { QuicSocket, generateCertificate, certificateFingerprint } from 'nquic';

const relayIdentity = generateCertificate({ subjectAltNames: ['relay.example'] });
const isFriend = (_dialer, _target) => true;   // a real relay decides whom it serves

// #region relay
// The relay: any node with a public address. Clients are asked for a
// certificate, which names them (SHA-256 fingerprint of the leaf).
const relaySocket = await QuicSocket.bind({ address: '127.0.0.1' });
const relay = relaySocket.listen({
  alpn: ['relay'], key: relayIdentity.key, cert: relayIdentity.cert,
  relay: { maxFlows: 256, allow: (from, to) => isFriend(from.fingerprint, to.fingerprint) },
});
const relayAddress = { host: '127.0.0.1', port: relaySocket.address.port, ca: relayIdentity.cert, serverName: 'relay.example' };

// Peer B (reachable through the relay): a server on its socket, and its own
// certificate on the connection to the relay.
const me = generateCertificate({ subjectAltNames: ['peer-b'] });     // me.fingerprint names B
const socketB = await QuicSocket.bind({ address: '127.0.0.1' });
socketB.listen({ alpn: ['p2p'], key: me.key, cert: me.cert }).on('connection', (conn) => {
  console.log(`B: relayed connection from A (relayed=${conn.relayed})`); // true: it came through the relay
  conn.on('stream', (stream) => stream.pipe(stream));
  conn.on('datagram', (data) => conn.sendDatagram(data));
});
const toRelay = await socketB.connect({ ...relayAddress, alpn: ['relay'], key: me.key, cert: me.cert, keepAlive: 15000 });
await toRelay.acceptRelayed();                                       // the relay now knows B by me.fingerprint

// Peer A: dials B by fingerprint through its own connection to the relay.
const socketA = await QuicSocket.bind({ address: '127.0.0.1' });
const via = await socketA.connect({ ...relayAddress, alpn: ['relay'] });
const conn = await socketA.connect({ via, peer: me.fingerprint, alpn: ['p2p'] });
// #endregion relay
console.log(`B: reachable through the relay as ${me.fingerprint.slice(0, 16)}…`);

const checked = certificateFingerprint(conn.peerCertificates[0]) === me.fingerprint;
console.log(`A: connected to B, relayed=${conn.relayed}, fingerprint checked=${checked}`);

const stream = await conn.openStream();
stream.end('through the relay');
const echoed = await text(stream);
const datagram = once(conn, 'datagram');
conn.sendDatagram(Buffer.from('ping'));
const [back] = await datagram;
console.log(`A: stream echoed "${echoed}", datagram echoed "${back}"`);
const { flows, peers } = relay.relayStats();
console.log(`relay: ${flows} flow(s), ${peers} registered peer(s)`);

await conn.close();
await Promise.all([socketA.close(), socketB.close()]);
await relaySocket.close();
