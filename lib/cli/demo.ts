// The loopback demo behind `npm start` / `nquic demo`: a server and a client
// in one process exchanging streams and datagrams, then a bulk transfer, then
// the same through a relay to a second peer, then a third peer reached by its
// key (the demo server is its rendezvous), with live progress and a summary.
import { performance } from 'node:perf_hooks';
import { connect, listen } from '../api';
import { QuicSocket } from '../socket';
import { generateCertificate, type GeneratedCertificate } from '../tls/certificates';
import type { QuicConnection } from '../connection';
import type { QuicServer } from '../server';
import type { QuicStream } from '../stream';

export interface DemoOptions {
  /** Bytes for the bulk transfer. Default 64 MiB. */
  bulkBytes?: number;
  /** Datagram round trips to time. Default 1000. */
  datagrams?: number;
  /** Parallel request/response streams. Default 100. */
  streams?: number;
  log?: (line: string) => void;
}

export interface DemoResult {
  handshakeMs: number;
  streamsEchoed: number;
  streamRoundTripMs: number;
  datagramsSent: number;
  datagramsEchoed: number;
  datagramRttMedianMs: number;
  bulkBytes: number;
  bulkMBps: number;
  /** The same exchanges through a relay (the demo server relays for a second peer). */
  relayedConnectMs: number;
  relayedStreamsEchoed: number;
  relayedBulkBytes: number;
  relayedBulkMBps: number;
  /** A peer registered with the demo server (a rendezvous too), dialed by its certificate fingerprint. */
  dialMs: number;
  dialPath: 'direct' | 'relayed';
  dialStreamsEchoed: number;
}

const ALPN = ['nquic-demo'];
const CHUNK = 64 * 1024;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : sorted[Math.floor(sorted.length / 2)];
}

async function readAll(stream: QuicStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('error', reject);
  });
  return Buffer.concat(chunks);
}

/** Server side: echo streams upper-cased, echo datagrams, count bulk bytes. */
function serve(server: QuicServer): void {
  server.on('connection', (conn: QuicConnection) => {
    conn.on('datagram', (d: Uint8Array) => conn.sendDatagram(d));
    conn.on('stream', (stream: QuicStream) => {
      if (!stream.bidirectional) {
        let bytes = 0;
        stream.on('data', (c: Buffer) => (bytes += c.length));
        stream.on('end', () => void conn.openStream({ unidirectional: true }).then((reply) => reply.end(String(bytes))));
        return;
      }
      void readAll(stream).then((request) => stream.end(request.toString().toUpperCase()));
    });
  });
}

async function echoStreams(conn: QuicConnection, count: number): Promise<{ ok: number; ms: number }> {
  const start = performance.now();
  const results = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const stream = await conn.openStream();
      stream.end(`request ${i}`);
      return (await readAll(stream)).toString() === `REQUEST ${i}`;
    }),
  );
  return { ok: results.filter(Boolean).length, ms: performance.now() - start };
}

async function pingDatagrams(conn: QuicConnection, count: number): Promise<{ echoed: number; rtts: number[] }> {
  const sentAt = new Map<number, number>();
  const rtts: number[] = [];
  conn.on('datagram', (d: Uint8Array) => {
    const seq = Buffer.from(d.buffer, d.byteOffset, d.byteLength).readUInt32BE(0);
    const t = sentAt.get(seq);
    if (t !== undefined) rtts.push(performance.now() - t);
  });
  for (let seq = 0; seq < count; seq++) {
    const d = Buffer.alloc(64);
    d.writeUInt32BE(seq, 0);
    sentAt.set(seq, performance.now());
    conn.sendDatagram(d);
    // One in flight at a time measures latency, not queueing.
    const deadline = performance.now() + 100;
    while (rtts.length <= seq && performance.now() < deadline) await new Promise((r) => setImmediate(r));
  }
  return { echoed: rtts.length, rtts };
}

async function bulk(conn: QuicConnection, bytes: number, log: (l: string) => void): Promise<number> {
  const reply = new Promise<QuicStream>((resolve) => conn.once('stream', resolve));
  const stream = await conn.openStream({ unidirectional: true });
  const chunk = Buffer.alloc(CHUNK, 0x5a);
  const start = performance.now();
  let sent = 0;
  let lastReport = start;
  while (sent < bytes) {
    const n = Math.min(CHUNK, bytes - sent);
    if (!stream.write(n === CHUNK ? chunk : chunk.subarray(0, n))) await new Promise((r) => stream.once('drain', r));
    sent += n;
    const now = performance.now();
    if (now - lastReport > 250) {
      lastReport = now;
      const mbps = sent / 1e6 / ((now - start) / 1000);
      log(`  bulk: ${(sent / 2 ** 20).toFixed(0).padStart(4)} / ${(bytes / 2 ** 20).toFixed(0)} MiB  ${mbps.toFixed(1)} MB/s`);
    }
  }
  stream.end();
  const received = Number((await readAll(await reply)).toString());
  const seconds = (performance.now() - start) / 1000;
  if (received !== bytes) throw new Error(`bulk transfer: server counted ${received} bytes, expected ${bytes}`);
  return bytes / 1e6 / seconds;
}

interface RelayedRun {
  connectMs: number;
  streamsEchoed: number;
  bulkMBps: number;
}

/** Another peer of the demo: its own socket, identity and serving server, connected to the demo server with its certificate. */
async function demoPeer(name: string, serverPort: number, serverCert: string): Promise<{ identity: GeneratedCertificate; socket: QuicSocket; toServer: QuicConnection }> {
  const identity = generateCertificate({ subjectAltNames: [name] });
  const socket = await QuicSocket.bind({ address: '127.0.0.1' });
  try {
    serve(socket.listen({ alpn: ALPN, key: identity.key, cert: identity.cert }));
    const toServer = await socket.connect({ host: '127.0.0.1', port: serverPort, alpn: ALPN, ca: serverCert, serverName: 'localhost', key: identity.key, cert: identity.cert });
    return { identity, socket, toServer };
  } catch (err) {
    await socket.close();
    throw err;
  }
}

/**
 * A second peer registers with the demo server, which also relays; the
 * client then reaches that peer through the relay on its existing connection.
 */
async function relayed(via: QuicConnection, relayPort: number, relayCert: string, bytes: number, log: (l: string) => void): Promise<RelayedRun> {
  const { identity, socket: peerSocket, toServer: toRelay } = await demoPeer('demo-peer', relayPort, relayCert);
  try {
    await toRelay.acceptRelayed();
    const t0 = performance.now();
    const conn = await via.socket.connect({ via, peer: identity.fingerprint, alpn: ALPN });
    const connectMs = performance.now() - t0;
    log(`  relayed: connected to peer ${identity.fingerprint.slice(0, 16)}… through the relay in ${connectMs.toFixed(2)} ms`);
    const streams = await echoStreams(conn, 20);
    const bulkMBps = await bulk(conn, bytes, (line) => log(line.replace('bulk:', 'relayed bulk:')));
    log(`  relayed: ${streams.ok} streams echoed, ${(bytes / 2 ** 20).toFixed(0)} MiB at ${bulkMBps.toFixed(1)} MB/s`);
    await conn.close();
    return { connectMs, streamsEchoed: streams.ok, bulkMBps };
  } finally {
    await peerSocket.close();
  }
}

interface DialRun {
  ms: number;
  path: 'direct' | 'relayed';
  streamsEchoed: number;
}

/**
 * A third peer registers with the demo server, which is also a rendezvous;
 * the client dials it by its certificate's fingerprint through its existing
 * connection (`docs/peer-to-peer.md`, "Reaching peers by key").
 */
async function dialByKey(via: QuicConnection, rendezvousPort: number, rendezvousCert: string, log: (l: string) => void): Promise<DialRun> {
  const { identity, socket: peerSocket, toServer: toRendezvous } = await demoPeer('demo-peer-2', rendezvousPort, rendezvousCert);
  try {
    await toRendezvous.register();
    const t0 = performance.now();
    const conn = await via.socket.dial({ peer: identity.fingerprint, via, alpn: ALPN });
    const ms = performance.now() - t0;
    log(`  dial by key: reached peer ${identity.fingerprint.slice(0, 16)}… (${conn.path}) through the rendezvous in ${ms.toFixed(2)} ms`);
    const streams = await echoStreams(conn, 20);
    log(`  dial by key: ${streams.ok} streams echoed`);
    await conn.close();
    return { ms, path: conn.path, streamsEchoed: streams.ok };
  } finally {
    await peerSocket.close();
  }
}

export async function runDemo(opts: DemoOptions = {}): Promise<DemoResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const bulkBytes = opts.bulkBytes ?? 64 * 2 ** 20;
  const { key, cert } = generateCertificate({ subjectAltNames: ['localhost'] });
  const server = await listen({ address: '127.0.0.1', port: 0, alpn: ALPN, key, cert, relay: true, rendezvous: true });
  serve(server);
  log(`nquic demo: server on 127.0.0.1:${server.address.port}`);
  try {
    const t0 = performance.now();
    const conn = await connect({ host: '127.0.0.1', port: server.address.port, alpn: ALPN, ca: cert, serverName: 'localhost' });
    const handshakeMs = performance.now() - t0;
    log(`  connected in ${handshakeMs.toFixed(2)} ms (TLS 1.3, ALPN ${conn.alpnProtocol})`);

    const streams = await echoStreams(conn, opts.streams ?? 100);
    log(`  streams: ${streams.ok} request/response streams answered in ${streams.ms.toFixed(1)} ms`);

    const dg = await pingDatagrams(conn, opts.datagrams ?? 1000);
    log(`  datagrams: ${dg.echoed} of ${opts.datagrams ?? 1000} echoed, median round trip ${median(dg.rtts).toFixed(3)} ms`);

    const mbps = await bulk(conn, bulkBytes, log);
    log(`  bulk: ${(bulkBytes / 2 ** 20).toFixed(0)} MiB on one stream at ${mbps.toFixed(1)} MB/s`);

    const stats = conn.stats();
    const relayedBulkBytes = Math.max(1, Math.floor(bulkBytes / 4));
    const relay = await relayed(conn, server.address.port, cert, relayedBulkBytes, log);
    const dialed = await dialByKey(conn, server.address.port, cert, log);
    await conn.close({ code: 0, reason: 'demo done' });
    const result: DemoResult = {
      handshakeMs,
      streamsEchoed: streams.ok,
      streamRoundTripMs: streams.ms,
      datagramsSent: opts.datagrams ?? 1000,
      datagramsEchoed: dg.echoed,
      datagramRttMedianMs: median(dg.rtts),
      bulkBytes,
      bulkMBps: mbps,
      relayedConnectMs: relay.connectMs,
      relayedStreamsEchoed: relay.streamsEchoed,
      relayedBulkBytes,
      relayedBulkMBps: relay.bulkMBps,
      dialMs: dialed.ms,
      dialPath: dialed.path,
      dialStreamsEchoed: dialed.streamsEchoed,
    };
    log('');
    log('summary');
    log(`  handshake            ${result.handshakeMs.toFixed(2)} ms`);
    log(`  streams              ${result.streamsEchoed} echoed, ${result.streamRoundTripMs.toFixed(1)} ms for all`);
    log(`  datagrams            ${result.datagramsEchoed}/${result.datagramsSent} echoed, median RTT ${result.datagramRttMedianMs.toFixed(3)} ms`);
    log(`  bulk throughput      ${result.bulkMBps.toFixed(1)} MB/s (${(bulkBytes / 2 ** 20).toFixed(0)} MiB)`);
    log(`  relayed connection   ${result.relayedConnectMs.toFixed(2)} ms to connect, ${result.relayedStreamsEchoed} streams echoed, ${result.relayedBulkMBps.toFixed(1)} MB/s (${(relayedBulkBytes / 2 ** 20).toFixed(0)} MiB)`);
    log(`  dial by key          ${result.dialMs.toFixed(2)} ms to a ${result.dialPath} connection, ${result.dialStreamsEchoed} streams echoed`);
    log(`  client packets       ${stats.packetsSent} sent, ${stats.packetsReceived} received, ${stats.packetsLost} lost; rtt ${stats.rtt.toFixed(2)} ms`);
    return result;
  } finally {
    await server.close();
  }
}
