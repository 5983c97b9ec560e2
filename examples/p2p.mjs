// Peer-to-peer on one socket: a peer keeps one UDP socket for its server, its
// outgoing connections, hole-punching packets, STUN and raw datagrams, so one
// NAT binding carries them all. Everything runs on 127.0.0.1 here: a
// rendezvous socket answers STUN; peer A listens, learns its mapped address,
// punches toward peer B and connects to B, all from its one socket; then B
// punches A, sends A a raw datagram and dials A back on its own listening
// socket. Peers pin each other's self-signed certificates by fingerprint.
//
// Run: node examples/p2p.mjs (after npm run build)
// expect: ^A: the rendezvous sees me at 127\.0\.0\.1:\d+ \(IPv4\)$
// expect: ^A: connected to peer-b from its listening socket: true$
// expect: ^A: punch from 127\.0\.0\.1:\d+$
// expect: ^A: raw datagram 10 01 02 from 127\.0\.0\.1:\d+$
// expect: ^A: accepted peer-b$
// expect: ^B: echoed "hello over p2p"$

import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { text } from 'node:stream/consumers';
import { QuicSocket, generateCertificate, isStunBindingRequest, stunBindingResponse } from 'nquic';

// A rendezvous node (in real use: one with a public address) answers STUN
// binding requests on its own socket and tells peers each other's addresses.
// #region rendezvous
const rendezvous = await QuicSocket.bind({ address: '127.0.0.1' });
rendezvous.on('message', (data, from) => {
  if (isStunBindingRequest(data)) void rendezvous.send(stunBindingResponse(data, from), from.port, from.address);
});
// #endregion rendezvous
const { address: rendezvousIp, port: rendezvousPort } = rendezvous.address;

// Self-signed identities; each peer knows its friends' fingerprints.
const a = generateCertificate({ subjectAltNames: ['peer-a'] });
const b = generateCertificate({ subjectAltNames: ['peer-b'] });
const friends = new Set([a.fingerprint, b.fingerprint]);
const nameOf = (der) => new X509Certificate(der).subject.replace(/^CN=/, '');
const hex = (data) => data.toString('hex').match(/../g).join(' ');

// Peer B, the same way: a server on its socket.
const socketB = await QuicSocket.bind({ address: '127.0.0.1' });
socketB.listen({ alpn: ['p2p'], key: b.key, cert: b.cert, verify: (peer) => friends.has(peer.fingerprint) })
  .on('connection', (conn) => conn.on('stream', (stream) => stream.pipe(stream)));
const { address: peerIp, port: peerPort } = socketB.address;              // learned through the rendezvous

// Peer A.
const { key, cert } = a;
const onPeer = (conn) => {
  console.log(`A: accepted ${nameOf(conn.peerCertificates[0])}`);
  conn.on('stream', (stream) => stream.pipe(stream));
};

// #region p2p
const checkPeer = (peer) => friends.has(peer.fingerprint);                // pins self-signed certificates
const socket = await QuicSocket.bind({ address: '127.0.0.1' });           // default '::' (dual-stack)
socket.listen({ alpn: ['p2p'], key, cert, verify: checkPeer }).on('connection', onPeer);

const mapped = await socket.stun(rendezvousPort, rendezvousIp);           // { address, port, family } as the world sees us
await socket.punch(peerPort, peerIp, { count: 5, interval: 20 });         // opens our NAT toward the peer
const peer = await socket.connect({ host: peerIp, port: peerPort, alpn: ['p2p'], key, cert, verify: checkPeer });

// Datagrams whose first byte has the QUIC fixed bit (0x40) clear are not QUIC:
socket.on('punch', (from) => console.log(`A: punch from ${from.address}:${from.port}`));
socket.on('message', (data, from) => console.log(`A: raw datagram ${hex(data)} from ${from.address}:${from.port}`));
await socket.send(Buffer.from([0x10, 1, 2]), peerPort, peerIp);           // a raw datagram on the same socket
// #endregion p2p

console.log(`A: the rendezvous sees me at ${mapped.address}:${mapped.port} (${mapped.family})`);
console.log(`A: connected to ${nameOf(peer.peerCertificates[0])} from its listening socket: ${peer.socket === socket}`);

// B answers on its one socket: a punch, a raw datagram, and a connection to
// A's server (both peers may dial each other; both connections work).
const punched = once(socket, 'punch');
const messaged = once(socket, 'message');
await socketB.punch(socket.address.port, socket.address.address, { count: 1 });
await socketB.send(Buffer.from([0x10, 1, 2]), socket.address.port, socket.address.address);
await Promise.all([punched, messaged]);
const back = await socketB.connect({ host: socket.address.address, port: socket.address.port, alpn: ['p2p'],
  key: b.key, cert: b.cert, verify: (info) => friends.has(info.fingerprint) });
const stream = await back.openStream();
stream.end('hello over p2p');
console.log(`B: echoed "${await text(stream)}"`);

await Promise.all([socket.close(), socketB.close(), rendezvous.close()]);
