// Session resumption and 0-RTT: the first connection receives a session
// ticket; the second presents it, resumes the session and, with earlyData on
// both sides, sends its request in 0-RTT, before the handshake completes.
//
// Run: node examples/resumption.mjs (after npm run build)
// expect: ^first: resumed=false, ticket of \d+ bytes$
// expect: ^second: connect\(\) resolved before the handshake completed: true$
// expect: ^second: resumed=true, earlyDataAccepted=true$
// expect: ^second: answer "got GET /index \(0-RTT\)"$

import { once } from 'node:events';
import { text } from 'node:stream/consumers';
import { listen, connect, generateCertificate } from 'nquic';

const { key, cert } = generateCertificate({ subjectAltNames: ['localhost'] });
// earlyData: the server takes 0-RTT data. It can be replayed by an attacker,
// so only idempotent requests belong in it.
const server = await listen({ address: '127.0.0.1', port: 0, alpn: ['demo'], key, cert, earlyData: true });
server.on('connection', (conn) => {
  conn.on('stream', async (stream) => {
    let request = '';
    // Not `for await (… of stream)` nor `text(stream)`: those destroy the
    // stream when the loop ends, which would reset our (unsent) answer.
    for await (const chunk of stream.iterator({ destroyOnReturn: false })) request += chunk;
    stream.end(`got ${request}`);
  });
});
const options = { host: '127.0.0.1', port: server.address.port, alpn: ['demo'], ca: cert, serverName: 'localhost' };

// #region resumption
// First connection: a full handshake. The server sends a ticket after it.
const first = await connect(options);
const ticket = first.sessionTicket ?? (await once(first, 'sessionTicket'))[0];
console.log(`first: resumed=${first.resumed}, ticket of ${ticket.length} bytes`);
await first.close();

// Second connection: resumes, and connect() resolves as soon as 0-RTT data
// may be sent. What is written now travels in 0-RTT packets.
const second = await connect({ ...options, sessionTicket: ticket, earlyData: true });
const handshake = once(second, 'handshake');
console.log(`second: connect() resolved before the handshake completed: ${second.alpnProtocol === undefined}`);
const stream = await second.openStream();
stream.end('GET /index (0-RTT)');
await handshake;                                                        // the handshake completed
console.log(`second: resumed=${second.resumed}, earlyDataAccepted=${second.earlyDataAccepted}`);
console.log(`second: answer "${await text(stream)}"`);                  // rejected 0-RTT data is sent again, never lost
// #endregion resumption

await second.close();
await server.close();
