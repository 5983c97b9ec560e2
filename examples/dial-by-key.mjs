// Reaching a peer by its key: a rendezvous, a peer that registers with it,
// and another that dials it by its certificate's fingerprint. nquic gathers
// the candidates, punches through the NATs in between (none here: loopback),
// and falls back to the rendezvous's relay when punching cannot work.
//
// Run: npm run build && node examples/dial-by-key.mjs
//
// expect: ^registered b \w{16}…
// expect: ^a dialed b: path direct, b verified by fingerprint, echo ok
// expect: ^b accepted a direct connection from a$
// expect: ^a dialed b relayed first: path relayed
// expect: ^upgrade: a direct connection to b, echo ok
import { QuicSocket, generateCertificate, certificateFingerprint } from 'nquic';

const rdvId = generateCertificate({ subjectAltNames: ['localhost'] });

// #region rendezvous
// Any node can be a rendezvous, usually on the socket that also relays.
const rendezvous = await QuicSocket.bind({ address: '127.0.0.1' });
rendezvous.listen({ alpn: ['rdv'], key: rdvId.key, cert: rdvId.cert, rendezvous: true, relay: true });
// #endregion rendezvous

async function peer(name) {
  const id = generateCertificate({ subjectAltNames: [name] }); // id.fingerprint is this peer's key
  const socket = await QuicSocket.bind({ address: '127.0.0.1' });
  // `verify` asks dialers for their certificate (it names them) and may refuse them.
  const server = socket.listen({ alpn: ['p2p'], key: id.key, cert: id.cert, verify: () => true });
  server.on('connection', (conn) => conn.on('stream', (s) => s.pipe(s))); // echo
  // The connection to the rendezvous carries this peer's certificate; keepAlive keeps it (and the NAT mapping) open.
  const toRendezvous = await socket.connect({
    host: '127.0.0.1', port: rendezvous.address.port, alpn: ['rdv'], ca: rdvId.cert, serverName: 'localhost',
    key: id.key, cert: id.cert, keepAlive: 15_000,
  });
  return { name, id, socket, server, toRendezvous };
}

async function echo(conn, text) {
  const stream = await conn.openStream();
  stream.end(text);
  let back = '';
  for await (const chunk of stream) back += chunk;
  return back === text ? 'ok' : 'MISMATCH';
}

const a = await peer('a');
const b = await peer('b');
const names = new Map([[a.id.fingerprint, 'a'], [b.id.fingerprint, 'b']]);
b.server.on('connection', (conn) => {
  console.log(`b accepted a ${conn.path} connection from ${names.get(certificateFingerprint(conn.peerCertificates[0]))}`);
});

// #region register
await b.toRendezvous.register(); // b can now be dialed by its fingerprint through this rendezvous
// #endregion register
console.log(`registered b ${b.id.fingerprint.slice(0, 16)}…`);

// #region dial
const conn = await a.socket.dial({
  peer: b.id.fingerprint, // whom: the SHA-256 fingerprint of b's certificate, checked end to end
  via: a.toRendezvous, // through which rendezvous (or an array: the first that works)
  alpn: ['p2p'], key: a.id.key, cert: a.id.cert,
});
console.log(`a dialed b: path ${conn.path}, b verified by fingerprint, echo ${await echo(conn, 'hello')}`);
// #endregion dial
await conn.close();

// #region upgrade
// punchTimeout 0: relayed at once, while nquic tries for a direct path in the background.
const relayed = await a.socket.dial({ peer: b.id.fingerprint, via: a.toRendezvous, alpn: ['p2p'], key: a.id.key, cert: a.id.cert, punchTimeout: 0 });
console.log(`a dialed b relayed first: path ${relayed.path}`);
const direct = await new Promise((resolve) => relayed.once('upgrade', resolve));
// Move over: new streams go on the direct connection; the relayed one closes once its own are done.
console.log(`upgrade: a ${direct.path} connection to b, echo ${await echo(direct, 'moved')}`);
await relayed.close();
// #endregion upgrade

await Promise.all([a.socket.close(), b.socket.close(), rendezvous.close()]);
