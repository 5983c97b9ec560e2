// The README's short tour: a server that echoes streams and datagrams, and a
// client that sends "hello" on a stream and "ping" as a datagram, waits for
// both echoes, prints them and closes.
//
// Run: node examples/tour.mjs (after npm run build)
// expect: ^echoed hello$
// expect: ^datagram ping$
// expect: ^alpn echo, server 127\.0\.0\.1:\d+, rtt \d+(\.\d+)? ms$
// expect: ^closed with code 0 \(done\)$

// #region tour
import { once } from 'node:events';
import { text } from 'node:stream/consumers';
import { listen, connect, generateCertificate } from 'nquic';

const { key, cert } = generateCertificate({ subjectAltNames: ['localhost'] });

// Server: one socket, many connections. 'connection' fires only after the
// handshake (and certificate checks) succeeded. Port 0 picks a free port.
const server = await listen({ address: '127.0.0.1', port: 0, alpn: ['echo'], key, cert });
server.on('connection', (conn) => {
  conn.on('stream', (stream) => stream.pipe(stream));           // echo streams
  conn.on('datagram', (data) => conn.sendDatagram(data));        // echo datagrams
});

// Client: trusts `ca` (default: Node's bundled root CAs) and checks the name.
const conn = await connect({
  host: '127.0.0.1', port: server.address.port, alpn: ['echo'], ca: cert, serverName: 'localhost',
});

const stream = await conn.openStream();                          // waits for stream credit
stream.end('hello');                                             // write, then FIN
console.log('echoed', await text(stream));                       // reads until the peer's FIN

const echoed = once(conn, 'datagram');
conn.sendDatagram(Buffer.from('ping'));                          // false if the send queue is full
const [datagram] = await echoed;
console.log('datagram', String(datagram));

const { address, port } = conn.remoteAddress;
console.log(`alpn ${conn.alpnProtocol}, server ${address}:${port}, rtt ${conn.stats().rtt.toFixed(2)} ms`);

await conn.close({ code: 0, reason: 'done' });                   // the peer sees code and reason
const info = await conn.closed;
console.log(`closed with code ${info.code} (${info.reason})`);
await server.close();
// #endregion tour
