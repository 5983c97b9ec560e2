// Streams as WHATWG (Web) streams: `stream.toWeb()` gives a ReadableStream and
// a WritableStream over the same QUIC stream, with the same backpressure, so
// code written for fetch() bodies, WebTransport or browsers works unchanged.
// The server upper-cases what it reads through a TransformStream; the client
// writes three chunks and reads the answer with a reader.
//
// Run: node examples/web-streams.mjs (after npm run build)
// expect: ^client: read "HELLO, WEB STREAMS!"$
// expect: ^client: the readable ended when the server finished$

import { listen, connect, generateCertificate } from 'nquic';

const { key, cert } = generateCertificate({ subjectAltNames: ['localhost'] });
const server = await listen({ address: '127.0.0.1', port: 0, alpn: ['web'], key, cert });
const options = { host: '127.0.0.1', port: server.address.port, alpn: ['web'], ca: cert, serverName: 'localhost' };

// #region web-streams
server.on('connection', (conn) => {
  conn.on('stream', (stream) => {
    const { readable, writable } = stream.toWeb();           // ReadableStream<Uint8Array>, WritableStream<Uint8Array>
    const upper = new TransformStream({ transform: (text, controller) => controller.enqueue(text.toUpperCase()) });
    // pipeTo() closes `writable` (FIN) when `readable` ends (the client's FIN).
    void readable
      .pipeThrough(new TextDecoderStream())
      .pipeThrough(upper)
      .pipeThrough(new TextEncoderStream())
      .pipeTo(writable);
  });
});

const conn = await connect(options);
const { readable, writable } = (await conn.openStream()).toWeb();
const writer = writable.getWriter();
for (const part of ['hello', ', web', ' streams!']) await writer.write(new TextEncoder().encode(part));
await writer.close();                                        // sends FIN

let answer = '';
const reader = readable.pipeThrough(new TextDecoderStream()).getReader();
for (let r = await reader.read(); !r.done; r = await reader.read()) answer += r.value;
console.log(`client: read "${answer}"`);
// #endregion web-streams
console.log('client: the readable ended when the server finished');

await conn.close();
await server.close();
