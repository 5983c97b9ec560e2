'use strict';
// The UDP gateway: nquic's W3C WebTransport client (the "page") keeps BENCH_DGRAM_WINDOW (64)
// datagrams of BENCH_DGRAM_SIZE (256) bytes in flight for BENCH_DGRAM_SECONDS (2) through
// createUdpGateway() to a UDP echo server on loopback and back (page -> gateway -> UDP -> echo ->
// gateway -> page). Reported: echoes per second and the median round trip; and the same with the
// WebTransport session echoing the datagrams itself (no gateway, no UDP hop), to show what the
// gateway adds. A datagram not back within 200 ms is counted lost (bench/lib/echo-window.js).

const dgram = require('node:dgram');
const { envInt, median, percentile } = require('../lib/util');
const { echoWindow } = require('../lib/echo-window');

const HEADER = 7; // the gateway format's IPv4 header

function config() {
  const seconds = envInt('BENCH_DGRAM_SECONDS', 2);
  const window = envInt('BENCH_DGRAM_WINDOW', 64);
  const size = Math.max(8, envInt('BENCH_DGRAM_SIZE', 256));
  return { seconds, window, size, label: `UDP gateway echo ${size} B, ${window} in flight` };
}

/** Windowed echo over `wt`'s datagrams; `wrap` adds the gateway header, the sequence number is at `offset` in replies. */
async function echoLoop(ctx, cfg, wt, wrap, offset) {
  const writer = wt.datagrams.writable.getWriter();
  const reader = wt.datagrams.readable.getReader();
  const payload = Buffer.alloc(cfg.size, 0x5a);
  const flight = echoWindow(ctx, cfg, (seq) => {
    payload.writeUInt32LE(seq, 0);
    writer.write(wrap(payload)).catch(() => {});
    return true;
  });
  const reading = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      flight.echoed(Buffer.from(value.buffer, value.byteOffset, value.byteLength).readUInt32LE(offset));
    }
  })();
  reading.catch(() => {});
  const { rtts, sent, lost, seconds } = await flight.done;
  if (!rtts.length) throw new Error(`no datagram echoed (sent ${sent})`);
  return { rate: rtts.length / seconds, rtt: median(rtts), p99: percentile(rtts, 99), sent, lost };
}

module.exports = {
  name: 'udp-gateway',
  config,
  metrics: [
    { key: 'rate', label: 'echoes via gateway', unit: '/s', better: 'higher', digits: 0 },
    { key: 'rtt', label: 'median RTT via gateway', unit: 'ms', better: 'lower', digits: 3 },
    { key: 'directRate', label: 'echoes, session itself', unit: '/s', better: 'higher', digits: 0 },
    { key: 'directRtt', label: 'median RTT, session itself', unit: 'ms', better: 'lower', digits: 3 },
  ],
  impls: {
    async nquic(ctx, cfg) {
      const { createUdpGateway, listen, generateCertificate, WebTransport } = ctx.nquic;
      const id = generateCertificate({ keyType: 'ecdsa-p256', days: 10 });
      const options = { serverCertificateHashes: [{ algorithm: 'sha-256', value: Buffer.from(id.fingerprint, 'hex') }] };

      const echo = dgram.createSocket('udp4');
      echo.on('message', (msg, from) => echo.send(msg, from.port, from.address));
      await new Promise((resolve) => echo.bind(0, '127.0.0.1', resolve));
      ctx.defer(() => new Promise((resolve) => echo.close(resolve)));
      const echoPort = echo.address().port;
      const gateway = await createUdpGateway({
        address: '127.0.0.1', port: 0, key: id.key, cert: id.cert,
        allow: [`127.0.0.1:${echoPort}`], maxPacketRate: 0, maxByteRate: 0,
      });
      ctx.defer(() => gateway.close());
      const viaGateway = new WebTransport(`https://127.0.0.1:${gateway.address.port}/udp`, options);
      ctx.defer(() => viaGateway.close());
      await viaGateway.ready;
      const header = Buffer.from([4, 127, 0, 0, 1, echoPort >> 8, echoPort & 255]);
      const through = await echoLoop(ctx, cfg, viaGateway, (p) => Buffer.concat([header, p]), HEADER);

      const server = await listen({ address: '127.0.0.1', port: 0, alpn: ['h3'], key: id.key, cert: id.cert, webTransport: true });
      ctx.defer(() => server.close());
      server.on('session', (s) => s.on('datagram', (d) => { try { s.sendDatagram(d); } catch { /* closing */ } }));
      const direct = new WebTransport(`https://127.0.0.1:${server.address.port}/echo`, options);
      ctx.defer(() => direct.close());
      await direct.ready;
      const itself = await echoLoop(ctx, cfg, direct, (p) => Buffer.from(p), 0);

      const stats = gateway.stats();
      return {
        rate: through.rate,
        rtt: through.rtt,
        directRate: itself.rate,
        directRtt: itself.rtt,
        extra: { viaGateway: through, direct: itself, gatewayDrops: stats.drops, packetsToUdp: stats.packetsToUdp },
      };
    },
  },
};
