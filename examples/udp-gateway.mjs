// Web pages reach UDP servers through a WebTransport-to-UDP gateway. Here
// nquic's own W3C WebTransport client plays the browser, so this runs
// without one; a page runs the same code (examples/udp-gateway.html).
//
//   node examples/udp-gateway.mjs              the demo: gateway, UDP echo server, "page"
//   node examples/udp-gateway.mjs --echo 9000  only a UDP echo server on 127.0.0.1:9000 (for the HTML page)
//
// expect: ^gateway: https://127\.0\.0\.1:\d+/udp, certificate sha-256 [0-9a-f]{64}$
// expect: ^page: from 127\.0\.0\.1:\d+: "HELLO OVER UDP"$
// expect: ^page: the echo server saw the gateway's port \d+ for this page$
// expect: ^page: 10\.0\.0\.1 is refused \(private, no rule for it\)$
// expect: ^gateway: 1 datagram to UDP, 1 back, 1 refused$
import dgram from 'node:dgram';
import { createUdpGateway, generateCertificate, WebTransport } from 'nquic';
import { UdpGatewayClient } from 'nquic/udp-gateway-client';

/** A UDP server on 127.0.0.1 that answers each datagram upper-cased. */
async function echoServer(port = 0) {
  const socket = dgram.createSocket('udp4');
  const sources = [];
  socket.on('message', (msg, from) => {
    sources.push(from.port);
    socket.send(Buffer.from(msg.toString().toUpperCase()), from.port, from.address);
  });
  await new Promise((resolve) => socket.bind(port, '127.0.0.1', () => resolve(undefined)));
  return { socket, port: socket.address().port, sources };
}

if (process.argv[2] === '--echo') {
  const echo = await echoServer(Number(process.argv[3] ?? 9000));
  console.log(`UDP echo server on 127.0.0.1:${echo.port} (Ctrl-C ends it)`);
} else {
  const echo = await echoServer();

  // #region gateway
  // The gateway: a certificate pages pin by hash (ECDSA P-256, at most 14
  // days), and the destinations pages may reach. Loopback and private
  // addresses need a rule of their own ('0.0.0.0/0' would not open them).
  const { key, cert, fingerprint } = generateCertificate({ keyType: 'ecdsa-p256', days: 10 });
  const gateway = await createUdpGateway({
    address: '127.0.0.1', port: 0, key, cert,
    allow: [`127.0.0.1:${echo.port}`, '0.0.0.0/0'],
    maxPacketRate: 1000, maxByteRate: 1024 * 1024,
  });
  const url = `https://127.0.0.1:${gateway.address.port}/udp`;
  // #endregion gateway
  console.log(`gateway: ${url}, certificate sha-256 ${fingerprint}`);

  // #region page
  // The page (a browser's WebTransport has the same API).
  const wt = new WebTransport(url, { serverCertificateHashes: [{ algorithm: 'sha-256', value: Buffer.from(fingerprint, 'hex') }] });
  await wt.ready;
  const udp = new UdpGatewayClient(wt);
  const reply = new Promise((resolve) => udp.addEventListener('message', resolve, { once: true }));
  await udp.send('127.0.0.1', echo.port, new TextEncoder().encode('hello over udp'));
  const { address, port, data } = await reply;
  console.log(`page: from ${address}:${port}: "${new TextDecoder().decode(data)}"`);
  // #endregion page
  console.log(`page: the echo server saw the gateway's port ${echo.sources[0]} for this page`);

  // A private address with no rule of its own is dropped (and counted).
  await udp.send('10.0.0.1', 53, new Uint8Array(1));
  while (gateway.stats().drops.refused === 0) await new Promise((resolve) => setTimeout(resolve, 10));
  console.log('page: 10.0.0.1 is refused (private, no rule for it)');

  const stats = gateway.stats();
  console.log(`gateway: ${stats.packetsToUdp} datagram to UDP, ${stats.packetsToSessions} back, ${stats.drops.refused} refused`);
  wt.close();
  await gateway.close();
  echo.socket.close();
}
