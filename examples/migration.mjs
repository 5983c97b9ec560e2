// Connection migration in the middle of a transfer: a client echoes 4 MiB and,
// halfway, moves its connection to another local socket (as after a network
// change). The server validates the new path and the echo carries on; both
// ends count the change in stats().pathChanges. A NAT rebinding of the
// client's address is followed the same way, without the client doing
// anything (see "Path changes" in docs/peer-to-peer.md).
//
// Run: node examples/migration.mjs (after npm run build)
// expect: ^moved from port \d+ to port \d+ after \d+ bytes$
// expect: ^echo of 4194304 bytes intact: true$
// expect: ^pathChanges: client 1, server 1$

import { once } from 'node:events';
import { createHash, randomBytes } from 'node:crypto';
import { listen, generateCertificate, QuicSocket } from 'nquic';

const { key, cert } = generateCertificate({ subjectAltNames: ['localhost'] });
const server = await listen({ address: '127.0.0.1', port: 0, alpn: ['demo'], key, cert });
server.on('connection', (conn) => conn.on('stream', (stream) => stream.pipe(stream)));
const accepted = once(server, 'connection');

const first = await QuicSocket.bind({ address: '127.0.0.1', port: 0 });
const second = await QuicSocket.bind({ address: '127.0.0.1', port: 0 });
const conn = await first.connect({ host: '127.0.0.1', port: server.address.port, alpn: ['demo'], ca: cert, serverName: 'localhost' });
const [serverConn] = await accepted;

// #region migration
const payload = randomBytes(4 * 1024 * 1024);
const stream = await conn.openStream();
const echoed = [];
let received = 0;
stream.on('data', (chunk) => {
  echoed.push(chunk);
  received += chunk.length;
  if (conn.socket === first && received >= payload.length / 2) {
    conn.migrate(second); // the transfer carries on from the new socket
    console.log(`moved from port ${first.address.port} to port ${second.address.port} after ${received} bytes`);
  }
});
stream.end(payload);
await new Promise((resolve) => stream.on('end', resolve));
// #endregion migration

const digest = (data) => createHash('sha256').update(data).digest('hex');
console.log(`echo of ${received} bytes intact: ${digest(Buffer.concat(echoed)) === digest(payload)}`);
// Each end counts the change once the new path proved itself (the server
// validates it, RFC 9000 §8.2), which can come just after the echo ended.
for (let i = 0; i < 500 && (conn.stats().pathChanges === 0 || serverConn.stats().pathChanges === 0); i++) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
console.log(`pathChanges: client ${conn.stats().pathChanges}, server ${serverConn.stats().pathChanges}`);

await conn.close();
await Promise.all([first.close(), second.close(), server.close()]);
