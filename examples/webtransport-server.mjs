// A WebTransport server for browsers: HTTP/3 on a self-signed certificate
// that pages pin by hash (no domain, no CA), echoing streams and datagrams.
// It also serves examples/webtransport-page.html over http://127.0.0.1.
// Then the page's own script runs here, in Node, against nquic's W3C
// WebTransport class: the same code a browser runs.
//
// Run: node examples/webtransport-server.mjs          (runs the page in Node, exits)
//      node examples/webtransport-server.mjs --keep   (stays up: open the printed URL in Chrome)
// expect: ^WebTransport server on https://127\.0\.0\.1:\d+/echo$
// expect: ^certificate SHA-256 [0-9a-f]{64}$
// expect: ^session /echo from a non-browser client$
// expect: ^page: echoed "hello over WebTransport"$
// expect: ^page: datagram echoed \[1,2,3\]$
// expect: ^session closed: code 0, reason "done"$

import { readFileSync } from 'node:fs';
import http from 'node:http';
import { listen, generateCertificate, WebTransport } from 'nquic';

const keep = process.argv.includes('--keep');

// #region webtransport-server
// ECDSA P-256, valid 10 days: what browsers accept with serverCertificateHashes.
const { key, cert, fingerprint } = generateCertificate({ keyType: 'ecdsa-p256', days: 10 });
const server = await listen({
  address: '127.0.0.1',
  port: 0,
  alpn: ['h3'],
  key,
  cert,
  webTransport: { allow: (request) => request.path === '/echo' || 404 },
});
server.on('session', (session) => {
  console.log(`session ${session.path} from ${session.origin ?? 'a non-browser client'}`);
  session.on('stream', (stream) => stream.on('error', () => {}).pipe(stream)); // echo streams
  session.on('datagram', (datagram) => session.sendDatagram(datagram)); // echo datagrams
  session.closed.then(({ code, reason }) => console.log(`session closed: code ${code}, reason "${reason}"`));
});
// #endregion webtransport-server
console.log(`WebTransport server on https://127.0.0.1:${server.address.port}/echo`);
console.log(`certificate SHA-256 ${fingerprint}`);

const page = readFileSync(new URL('./webtransport-page.html', import.meta.url), 'utf8')
  .replace('{{PORT}}', String(server.address.port))
  .replace('{{HASH}}', fingerprint);
const web = http.createServer((_req, res) => {
  res.setHeader('content-type', 'text/html');
  res.end(page);
});
await new Promise((resolve) => web.listen(0, '127.0.0.1', () => resolve(undefined)));
const webPort = /** @type {import('node:net').AddressInfo} */ (web.address()).port;

if (keep) {
  console.log(`open http://127.0.0.1:${webPort}/ in Chrome or Edge (Ctrl-C to stop)`);
} else {
  // The page's script, unchanged, with nquic's WebTransport in place of the browser's.
  const script = /<script type="module">([\s\S]*)<\/script>/.exec(page)[1];
  const document = { getElementById: () => ({ textContent: '' }) }; // the page's log element
  const AsyncFunction = /** @type {FunctionConstructor} */ ((async () => {}).constructor);
  await new AsyncFunction('WebTransport', 'document', script)(WebTransport, document);
  await new Promise((resolve) => setTimeout(resolve, 50)); // the server hears the close
  await server.close();
  web.close();
}
