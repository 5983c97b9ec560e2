// Relayed connections (issue 10) on loopback: a relay, a target that
// registered with it, and dialers that reach the target through it. The
// symmetric-NAT version of the same lives in integration/relay-nat.test.ts.
import { randomBytes } from 'node:crypto';
import { generateCertificate, QuicSocket } from '../lib';
import type { QuicServer, RelayOptions } from '../lib';
import {
  certFor,
  Credentials,
  QuicConnection,
  QuicStream,
  readAll,
  rejectionOf,
  sha256Hex,
  sleep,
  trackServer,
  withTimeout,
} from './helpers';
import { EvilRelay } from './support/evil-relay';

const RELAY_ALPN = 'relay';
const P2P_ALPN = 'p2p';

function bind(): Promise<QuicSocket> {
  return QuicSocket.bind({ address: '127.0.0.1' }).then((s) => trackServer(s, 'socket'));
}

function identity(name: string): Credentials {
  return generateCertificate({ subjectAltNames: [name] });
}

interface Relay {
  socket: QuicSocket;
  server: QuicServer;
  creds: Credentials;
  /** The relay's side of every connection, in arrival order. */
  connections: QuicConnection[];
}

async function startRelay(relay: boolean | RelayOptions = true): Promise<Relay> {
  const creds = certFor();
  const socket = await bind();
  const server = socket.listen({ alpn: [RELAY_ALPN], key: creds.key, cert: creds.cert, relay });
  const connections: QuicConnection[] = [];
  server.on('connection', (c: QuicConnection) => connections.push(c));
  return { socket, server, creds, connections };
}

function joinRelay(socket: QuicSocket, relay: { socket: QuicSocket; creds: Credentials }, id?: Credentials): Promise<QuicConnection> {
  return withTimeout(
    socket.connect({
      host: '127.0.0.1',
      port: relay.socket.address.port,
      alpn: [RELAY_ALPN],
      ca: relay.creds.cert,
      serverName: 'localhost',
      ...(id ? { key: id.key, cert: id.cert } : {}),
    }),
    5000,
    'connect to the relay',
  );
}

interface Target {
  socket: QuicSocket;
  server: QuicServer;
  id: Credentials;
  toRelay: QuicConnection;
  /** Relayed connections the target's server accepted. */
  accepted: QuicConnection[];
}

/** A peer reachable through `relay`, echoing streams and datagrams. */
async function startTarget(relay: { socket: QuicSocket; creds: Credentials }, opts: { idleTimeout?: number } = {}): Promise<Target> {
  const id = identity('target');
  const socket = await bind();
  const server = socket.listen({ alpn: [P2P_ALPN], key: id.key, cert: id.cert, ...opts });
  const accepted: QuicConnection[] = [];
  server.on('connection', (c: QuicConnection) => {
    accepted.push(c);
    c.on('stream', (s: QuicStream) => {
      s.on('error', () => {});
      s.pipe(s);
    });
    c.on('datagram', (d: Uint8Array) => {
      c.sendDatagram(d);
    });
  });
  const toRelay = await joinRelay(socket, relay, id);
  await withTimeout(toRelay.acceptRelayed(), 5000, 'acceptRelayed()');
  return { socket, server, id, toRelay, accepted };
}

async function dial(socket: QuicSocket, via: QuicConnection, fingerprint: string, opts: { idleTimeout?: number } = {}): Promise<QuicConnection> {
  return withTimeout(socket.connect({ via, peer: fingerprint, alpn: [P2P_ALPN], ...opts }), 5000, 'relayed connect()');
}

async function echo(conn: QuicConnection, data: Buffer): Promise<Buffer> {
  const s = await conn.openStream();
  const back = readAll(s);
  s.end(data);
  return withTimeout(back, 20_000, 'stream echo');
}

async function eventually(check: () => boolean, ms: number, label: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${label}: not true within ${ms} ms`);
    await sleep(20);
  }
}

function codeOf(err: unknown): string | undefined {
  return (err as { code?: string } | undefined)?.code;
}

describe('relayed connections', () => {
  test('a dialer reaches a registered target through the relay: streams and datagrams intact, both sides relayed', async () => {
    const relay = await startRelay();
    const target = await startTarget(relay);
    expect(relay.server.relayStats()).toEqual({ flows: 0, peers: 1 });

    const dialer = await bind();
    const via = await joinRelay(dialer, relay);
    const conn = await dial(dialer, via, target.id.fingerprint);
    expect(conn.relayed).toBe(true);
    expect(via.relayed).toBe(false);
    // The end-to-end peer is the target, proven by its own certificate.
    expect(sha256Hex(conn.peerCertificates[0])).toBe(target.id.fingerprint);
    // On the network, packets go to the relay.
    expect(conn.remoteAddress.port).toBe(relay.socket.address.port);

    const data = randomBytes(3 * 1024 * 1024);
    const back = await echo(conn, data);
    expect(sha256Hex(back)).toBe(sha256Hex(data));
    expect(target.accepted).toHaveLength(1);
    expect(target.accepted[0].relayed).toBe(true);
    expect(target.accepted[0].remoteAddress.port).toBe(relay.socket.address.port);
    expect(relay.server.relayStats().flows).toBe(1);

    // Datagrams: as large as allowed, echoed byte for byte.
    const max = conn.maxDatagramSize;
    expect(max).toBeGreaterThan(1000);
    expect(max).toBeLessThan(via.maxDatagramSize);
    expect(() => conn.sendDatagram(Buffer.alloc(max + 1))).toThrow(expect.objectContaining({ code: 'ERR_QUIC_DATAGRAM_TOO_LARGE' }));
    const echoed = new Set<string>();
    conn.on('datagram', (d: Uint8Array) => echoed.add(Buffer.from(d).toString('hex')));
    const sent = Array.from({ length: 20 }, (_, i) => randomBytes(i === 0 ? max : 64 + i));
    for (let attempt = 0; attempt < 5 && echoed.size < sent.length; attempt++) {
      for (const d of sent) if (!echoed.has(d.toString('hex'))) conn.sendDatagram(d);
      await sleep(100);
    }
    expect([...echoed].sort()).toEqual(sent.map((d) => d.toString('hex')).sort());

    const stats = conn.stats();
    expect(stats.bytesSent).toBeGreaterThan(data.length);
    expect(stats.datagramsSent).toBeGreaterThanOrEqual(sent.length);
  });

  test('close codes travel end to end, and the flow is freed at the relay', async () => {
    const relay = await startRelay();
    const target = await startTarget(relay);
    const dialer = await bind();
    const conn = await dial(dialer, await joinRelay(dialer, relay), target.id.fingerprint);
    await eventually(() => target.accepted.length === 1, 3000, 'target accepted');
    await conn.close({ code: 42, reason: 'done' });
    const info = await withTimeout(target.accepted[0].closed, 3000, 'target side closed');
    expect(info.error?.code).toBe('ERR_QUIC_APPLICATION_ERROR');
    expect(info.error?.appCode).toBe(42);
    expect(info.reason).toBe('done');
    await eventually(() => relay.server.relayStats().flows === 0, 3000, 'flow freed');
    expect(relay.server.relayStats().peers).toBe(1);
  });

  test('application datagrams on the connections to the relay still reach the application', async () => {
    const relay = await startRelay();
    const target = await startTarget(relay);
    const dialer = await bind();
    const via = await joinRelay(dialer, relay);
    const conn = await dial(dialer, via, target.id.fingerprint);
    const relaySide = relay.connections[relay.connections.length - 1];
    const atRelay: string[] = [];
    relaySide.on('datagram', (d: Uint8Array) => atRelay.push(Buffer.from(d).toString()));
    const atDialer: string[] = [];
    via.on('datagram', (d: Uint8Array) => atDialer.push(Buffer.from(d).toString()));
    const transfer = echo(conn, randomBytes(512 * 1024));
    for (let i = 0; i < 5 && (atRelay.length === 0 || atDialer.length === 0); i++) {
      via.sendDatagram(Buffer.from('to the relay'));
      relaySide.sendDatagram(Buffer.from('from the relay'));
      await sleep(50);
    }
    expect((await transfer).length).toBe(512 * 1024);
    expect(atRelay).toContain('to the relay');
    expect(atDialer).toContain('from the relay');
    // Relay traffic (hundreds of datagrams for 512 KiB) is not counted as the
    // application's. (A datagram still on its way may be counted before its
    // event: wait for the events to catch up.)
    const counted = () => [via.stats().datagramsReceived, relaySide.stats().datagramsReceived];
    for (let i = 0; i < 40 && counted().join() !== [atDialer.length, atRelay.length].join(); i++) await sleep(50);
    expect(counted()).toEqual([atDialer.length, atRelay.length]);
  });

  test('an unknown fingerprint is refused by the relay (ERR_QUIC_RELAY_PEER_UNKNOWN)', async () => {
    const relay = await startRelay();
    await startTarget(relay);
    const dialer = await bind();
    const via = await joinRelay(dialer, relay);
    const err = await rejectionOf(dialer.connect({ via, peer: 'ab'.repeat(32), alpn: [P2P_ALPN] }), 5000, 'connect to nobody');
    expect(codeOf(err)).toBe('ERR_QUIC_RELAY_PEER_UNKNOWN');
    expect(relay.server.relayStats().flows).toBe(0);
  });

  test('maxFlows: one flow too many is refused (ERR_QUIC_RELAY_LIMIT) until one ends', async () => {
    const relay = await startRelay({ maxFlows: 1 });
    const target = await startTarget(relay);
    const dialer = await bind();
    const via = await joinRelay(dialer, relay);
    const first = await dial(dialer, via, target.id.fingerprint);
    const err = await rejectionOf(dialer.connect({ via, peer: target.id.fingerprint, alpn: [P2P_ALPN] }), 5000, 'second flow');
    expect(codeOf(err)).toBe('ERR_QUIC_RELAY_LIMIT');
    await first.close();
    await eventually(() => relay.server.relayStats().flows === 0, 3000, 'flow freed');
    const again = await dial(dialer, via, target.id.fingerprint);
    expect((await echo(again, Buffer.from('again'))).toString()).toBe('again');
  });

  test('an (async) allow policy sees both identities and can refuse (ERR_QUIC_RELAY_DENIED)', async () => {
    const banned = identity('banned');
    const seen: Array<{ from?: string; to?: string }> = [];
    const relay = await startRelay({
      allow: async (from, to) => {
        seen.push({ from: from.fingerprint, to: to.fingerprint });
        await sleep(10);
        return from.fingerprint !== banned.fingerprint;
      },
    });
    const target = await startTarget(relay);

    const good = identity('good');
    const okSocket = await bind();
    const ok = await dial(okSocket, await joinRelay(okSocket, relay, good), target.id.fingerprint);
    expect((await echo(ok, Buffer.from('hello'))).toString()).toBe('hello');

    const badSocket = await bind();
    const badVia = await joinRelay(badSocket, relay, banned);
    const err = await rejectionOf(badSocket.connect({ via: badVia, peer: target.id.fingerprint, alpn: [P2P_ALPN] }), 5000, 'denied flow');
    expect(codeOf(err)).toBe('ERR_QUIC_RELAY_DENIED');
    expect(seen).toEqual([
      { from: good.fingerprint, to: target.id.fingerprint },
      { from: banned.fingerprint, to: target.id.fingerprint },
    ]);
    expect(target.accepted).toHaveLength(1);
  });

  test('maxFlowRate caps a flow: 512 KiB at 256 KiB/s cannot take less than the limit allows', async () => {
    const rate = 256 * 1024;
    const relay = await startRelay({ maxFlowRate: rate });
    const target = await startTarget(relay);
    const dialer = await bind();
    const conn = await dial(dialer, await joinRelay(dialer, relay), target.id.fingerprint);
    const data = randomBytes(512 * 1024);
    const started = Date.now();
    const back = await echo(conn, data);
    const elapsed = Date.now() - started;
    expect(back.equals(data)).toBe(true);
    // Both directions share the budget: 1 MiB in all, minus the 64 KiB burst.
    const floor = ((2 * data.length - 64 * 1024) / rate) * 1000;
    expect(elapsed).toBeGreaterThanOrEqual(floor * 0.9);
    expect(conn.stats().packetsLost).toBeGreaterThan(0);
  });

  test('when the target leaves the relay, its relayed connections end (ERR_QUIC_RELAY_CLOSED) and the relay forgets it', async () => {
    const relay = await startRelay();
    const target = await startTarget(relay);
    const dialer = await bind();
    const conn = await dial(dialer, await joinRelay(dialer, relay), target.id.fingerprint);
    await eventually(() => target.accepted.length === 1, 3000, 'target accepted');
    await target.toRelay.close();
    const [dialerEnd, targetEnd] = await withTimeout(Promise.all([conn.closed, target.accepted[0].closed]), 5000, 'relayed ends closed');
    expect(dialerEnd.error?.code).toBe('ERR_QUIC_RELAY_CLOSED');
    expect(targetEnd.error?.code).toBe('ERR_QUIC_RELAY_CLOSED');
    await eventually(() => relay.server.relayStats().peers === 0 && relay.server.relayStats().flows === 0, 3000, 'relay cleaned up');
    expect(dialer.nativeConnectionCount).toBe(1);
  });

  test('when the dialer leaves the relay, both ends of its relayed connection end', async () => {
    const relay = await startRelay();
    const target = await startTarget(relay);
    const dialer = await bind();
    const via = await joinRelay(dialer, relay);
    const conn = await dial(dialer, via, target.id.fingerprint);
    await eventually(() => target.accepted.length === 1, 3000, 'target accepted');
    await via.close();
    const [dialerEnd, targetEnd] = await withTimeout(Promise.all([conn.closed, target.accepted[0].closed]), 5000, 'relayed ends closed');
    expect(dialerEnd.error?.code).toBe('ERR_QUIC_RELAY_CLOSED');
    expect(targetEnd.error?.code).toBe('ERR_QUIC_RELAY_CLOSED');
    await eventually(() => relay.server.relayStats().flows === 0, 3000, 'flow freed');
    expect(relay.server.relayStats().peers).toBe(1);
    await eventually(() => dialer.nativeConnectionCount === 0, 3000, 'dialer state freed');
  });

  test('many relayed connections at once, to two targets, each echo their own data', async () => {
    const relay = await startRelay();
    const targets = [await startTarget(relay), await startTarget(relay)];
    const dialer = await bind();
    const via = await joinRelay(dialer, relay);
    const conns = await Promise.all(Array.from({ length: 6 }, (_, i) => dial(dialer, via, targets[i % 2].id.fingerprint)));
    const payloads = conns.map(() => randomBytes(200 * 1024));
    const backs = await Promise.all(conns.map((c, i) => echo(c, payloads[i])));
    backs.forEach((b, i) => expect(b.equals(payloads[i])).toBe(true));
    expect(targets.map((t) => t.accepted.length)).toEqual([3, 3]);
    expect(relay.server.relayStats().flows).toBe(6);
    await Promise.all(conns.map((c) => c.close()));
    await eventually(() => relay.server.relayStats().flows === 0, 3000, 'flows freed');
  });
});

describe('a relay cannot read or alter what it carries', () => {
  test('a relay that sends the flow to an impostor instead is caught by the fingerprint (ERR_QUIC_CERT_FINGERPRINT_MISMATCH)', async () => {
    const evil = await EvilRelay.start(certFor());
    trackServer(evil, 'evil relay');
    // The impostor registers under its own identity; the evil relay sends
    // every flow to it whatever fingerprint the dialer asked for.
    const impostor = await startTarget(evil);
    const wanted = identity('wanted');
    const dialer = await bind();
    const via = await joinRelay(dialer, evil);
    const err = await rejectionOf(dialer.connect({ via, peer: wanted.fingerprint, alpn: [P2P_ALPN] }), 5000, 'connect via impostor');
    expect(codeOf(err)).toBe('ERR_QUIC_CERT_FINGERPRINT_MISMATCH');
    expect(evil.forwarded).toBeGreaterThan(0);
    expect(impostor.accepted).toHaveLength(0);
  });

  test('flipped bits in some forwarded packets are dropped by QUIC: the data still arrives intact', async () => {
    const evil = await EvilRelay.start(certFor());
    trackServer(evil, 'evil relay');
    const target = await startTarget(evil);
    const dialer = await bind();
    const conn = await dial(dialer, await joinRelay(dialer, evil), target.id.fingerprint);
    evil.tamperEvery = 5;
    const data = randomBytes(512 * 1024);
    const back = await echo(conn, data);
    expect(evil.tampered).toBeGreaterThan(10);
    expect(sha256Hex(back)).toBe(sha256Hex(data));
  });

  test('a relay that flips bits in every packet ends the connection with an error, never with corrupted data', async () => {
    const evil = await EvilRelay.start(certFor());
    trackServer(evil, 'evil relay');
    const target = await startTarget(evil, { idleTimeout: 1500 });
    const dialer = await bind();
    const conn = await dial(dialer, await joinRelay(dialer, evil), target.id.fingerprint, { idleTimeout: 1500 });
    await eventually(() => target.accepted.length === 1, 3000, 'target accepted');
    const received: Buffer[] = [];
    target.accepted[0].on('stream', (s: QuicStream) => s.on('data', (d: Buffer) => received.push(d)));
    const data = randomBytes(2 * 1024 * 1024);
    const s = await conn.openStream();
    s.on('error', () => {});
    s.write(data);
    await eventually(() => received.length > 0, 3000, 'first bytes arrived');
    evil.tamperEvery = 1;
    const info = await withTimeout(conn.closed, 8000, 'dialer closed');
    expect(info.error?.code).toBe('ERR_QUIC_IDLE_TIMEOUT');
    const got = Buffer.concat(received);
    expect(got.length).toBeLessThan(data.length);
    expect(got.equals(data.subarray(0, got.length))).toBe(true);
  });
});

describe('relay API errors', () => {
  test('acceptRelayed() needs a server on the socket, a certificate, and a relay at the other end', async () => {
    const relay = await startRelay();
    const noServer = await bind();
    const a = await joinRelay(noServer, relay, identity('a'));
    expect(codeOf(await rejectionOf(a.acceptRelayed(), 2000, 'no server'))).toBe('ERR_QUIC_RELAY_NO_SERVER');

    const noCert = await bind();
    noCert.listen({ alpn: [P2P_ALPN], ...identity('b') });
    const b = await joinRelay(noCert, relay);
    expect(codeOf(await rejectionOf(b.acceptRelayed(), 3000, 'no certificate'))).toBe('ERR_QUIC_RELAY_CERT_REQUIRED');

    const plain = await startRelay(false);
    const c = await joinRelay(noCert, plain, identity('c'));
    expect(codeOf(await rejectionOf(c.acceptRelayed(), 8000, 'not a relay'))).toBe('ERR_QUIC_RELAY_UNAVAILABLE');
  }, 20_000);

  test('connect({ via }) validates its options', async () => {
    const relay = await startRelay();
    const one = await bind();
    const via = await joinRelay(one, relay);
    const other = await bind();
    const peer = 'cd'.repeat(32);
    await expect(other.connect({ via, peer, alpn: [P2P_ALPN] })).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_VALUE' });
    expect(() => one.connect({ via, peer: 'xyz', alpn: [P2P_ALPN] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => one.connect({ via: {} as QuicConnection, peer, alpn: [P2P_ALPN] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    expect(() => one.connect({ via, peer, alpn: [P2P_ALPN], verifyPeer: false })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => one.listen({ alpn: ['x'], ...identity('d'), relay: { maxFlows: 0 } })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    expect(() => one.listen({ alpn: ['x'], ...identity('d'), relay: { allow: 'yes' as never } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});
