// Dial by key on loopback (issue 16): a rendezvous, peers that register with
// it and dial each other by certificate fingerprint. The NAT topologies live
// in integration/dial-nat.test.ts; here: the protocol's outcomes and errors,
// its security properties against a scripted (hostile) rendezvous, and that
// none of it is visible to the application.
import dgram from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { generateCertificate, QuicSocket } from '../lib';
import type { PeerInfo, QuicServer, RendezvousOptions } from '../lib';
import { withReflexive } from '../lib/p2p/candidates';
import { Role, Type } from '../lib/p2p/signal';
import { certFor, Credentials, QuicConnection, readAll, rejectionOf, sha256Hex, sleep, trackDgram, trackServer, withTimeout } from './helpers';
import { ScriptedRendezvous } from './support/scripted-rendezvous';
import { hashCredentials, nextSession, startWebTransportServer } from './support/webtransport';
import { WebTransport } from '../lib';

const RDV_ALPN = 'rdv';
const P2P_ALPN = 'p2p';

function bind(address = '127.0.0.1'): Promise<QuicSocket> {
  return QuicSocket.bind({ address }).then((s) => trackServer(s, 'socket'));
}

interface Rendezvous {
  socket: QuicSocket;
  server: QuicServer;
  creds: Credentials;
  /** What the rendezvous's own application saw on its connections (it must see nothing). */
  appEvents: string[];
}

async function startRendezvous(rendezvous: boolean | RendezvousOptions = true, relay = true): Promise<Rendezvous> {
  const creds = certFor();
  const socket = await bind();
  const server = socket.listen({ alpn: [RDV_ALPN], key: creds.key, cert: creds.cert, rendezvous, relay });
  const appEvents: string[] = [];
  server.on('connection', (c: QuicConnection) => {
    c.on('datagram', () => appEvents.push('datagram'));
    c.on('stream', () => appEvents.push('stream'));
  });
  return { socket, server, creds, appEvents };
}

interface Peer {
  socket: QuicSocket;
  id: Credentials;
  server: QuicServer;
  /** Connections the server accepted. */
  accepted: QuicConnection[];
  /** What the application saw that it must not: dial punches, stray datagrams. */
  appEvents: string[];
}

async function startPeer(opts: { address?: string; verify?: (peer: PeerInfo) => boolean } = {}): Promise<Peer> {
  const id = generateCertificate({ subjectAltNames: ['peer'] });
  const socket = await bind(opts.address);
  const server = socket.listen({ alpn: [P2P_ALPN], key: id.key, cert: id.cert, verify: opts.verify ?? (() => true) });
  const accepted: QuicConnection[] = [];
  server.on('connection', (c: QuicConnection) => {
    accepted.push(c);
    c.on('stream', (s) => s.pipe(s));
  });
  const appEvents: string[] = [];
  socket.on('punch', () => appEvents.push('punch'));
  socket.on('message', () => appEvents.push('message'));
  return { socket, id, server, accepted, appEvents };
}

function join(peer: Peer, rdv: { socket: QuicSocket; creds: Credentials }, withCert = true): Promise<QuicConnection> {
  return withTimeout(
    peer.socket.connect({
      host: '127.0.0.1',
      port: rdv.socket.address.port,
      alpn: [RDV_ALPN],
      ca: rdv.creds.cert,
      serverName: 'localhost',
      ...(withCert ? { key: peer.id.key, cert: peer.id.cert } : {}),
    }),
    5000,
    'connect to the rendezvous',
  );
}

async function registered(peer: Peer, rdv: { socket: QuicSocket; creds: Credentials }): Promise<QuicConnection> {
  const conn = await join(peer, rdv);
  await withTimeout(conn.register(), 5000, 'register');
  return conn;
}

function dial(from: Peer, to: Peer, via: QuicConnection | QuicConnection[], extra: Record<string, unknown> = {}): Promise<QuicConnection> {
  return withTimeout(from.socket.dial({ peer: to.id.fingerprint, via, alpn: [P2P_ALPN], key: from.id.key, cert: from.id.cert, ...extra }), 15_000, 'dial');
}

async function echoes(conn: QuicConnection): Promise<boolean> {
  const payload = randomBytes(32 * 1024);
  const s = await conn.openStream();
  const back = readAll(s);
  s.end(payload);
  return sha256Hex(await withTimeout(back, 5000, 'echo')) === sha256Hex(payload);
}

async function nextAccepted(peer: Peer, count: number): Promise<QuicConnection> {
  const deadline = Date.now() + 5000;
  while (peer.accepted.length < count && Date.now() < deadline) await sleep(5);
  expect(peer.accepted.length).toBe(count);
  return peer.accepted[count - 1];
}

describe('dial by key', () => {
  test('a registered peer is reached directly and verified; path is direct on both ends; nothing of it reaches an application', async () => {
    const rdv = await startRendezvous();
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    const bVia = await registered(b, rdv);
    const aVia = await join(a, rdv);
    expect(rdv.server.rendezvousStats()).toEqual({ peers: 1 });

    const conn = await dial(a, b, aVia);
    expect(conn.path).toBe('direct');
    expect(conn.relayed).toBe(false);
    expect(conn.remoteAddress).toEqual(b.socket.address);
    expect(sha256Hex(conn.peerCertificates[0])).toBe(b.id.fingerprint);
    expect(await echoes(conn)).toBe(true);
    const served = await nextAccepted(b, 1);
    expect(served.path).toBe('direct');
    expect(served.remoteAddress).toEqual(a.socket.address);
    expect(sha256Hex(served.peerCertificates[0])).toBe(a.id.fingerprint);

    // Ten more dials: signalling never surfaces as streams, datagrams, punches or messages.
    for (let i = 0; i < 10; i++) await (await dial(a, b, aVia)).close();
    expect(rdv.appEvents).toEqual([]);
    expect([a.appEvents, b.appEvents]).toEqual([[], []]);
    for (const c of [aVia, bVia]) expect(c.stats().datagramsReceived).toBe(0);
    expect(rdv.server.relayStats().flows).toBe(0);
  });

  test('dual-stack sockets dial each other (their first punches leave with a low TTL toward IPv4 candidates)', async () => {
    const rdv = await startRendezvous();
    const [a, b] = await Promise.all([startPeer({ address: '::' }), startPeer({ address: '::' })]);
    await registered(b, rdv);
    const conn = await dial(a, b, await join(a, rdv));
    expect(conn.path).toBe('direct');
    expect(await echoes(conn)).toBe(true);
  });

  test('unknown fingerprint: ERR_QUIC_PEER_UNKNOWN; a registration ends with its connection', async () => {
    const rdv = await startRendezvous();
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    const aVia = await join(a, rdv);
    const stranger = generateCertificate().fingerprint;
    await expect(a.socket.dial({ peer: stranger, via: aVia, alpn: [P2P_ALPN] })).rejects.toMatchObject({ code: 'ERR_QUIC_PEER_UNKNOWN' });
    const bVia = await registered(b, rdv);
    await bVia.close();
    const deadline = Date.now() + 3000;
    while (rdv.server.rendezvousStats().peers > 0 && Date.now() < deadline) await sleep(10);
    expect(rdv.server.rendezvousStats().peers).toBe(0);
    expect(await rejectionOf(dial(a, b, aVia), 10_000, 'dial')).toMatchObject({ code: 'ERR_QUIC_PEER_UNKNOWN' });
    expect(b.accepted).toEqual([]);
  });

  test("the rendezvous's allow policy decides each dial with both peers' PeerInfo; a refusal is ERR_QUIC_DIAL_REFUSED", async () => {
    const asked: Array<[string | undefined, string | undefined]> = [];
    let verdict = false;
    const rdv = await startRendezvous({
      allow: async (from, to) => {
        asked.push([from.fingerprint, to.fingerprint]);
        await sleep(10);
        return verdict;
      },
    });
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    await registered(b, rdv);
    const aVia = await join(a, rdv);
    expect(await rejectionOf(dial(a, b, aVia), 10_000, 'dial')).toMatchObject({ code: 'ERR_QUIC_DIAL_REFUSED' });
    expect(asked).toEqual([[a.id.fingerprint, b.id.fingerprint]]);
    expect(b.accepted).toEqual([]);
    verdict = true;
    expect((await dial(a, b, aVia)).path).toBe('direct');
  });

  test("the target refuses a dialer in its verify: the dial's connection ends refused and the target's application never sees it", async () => {
    const rdv = await startRendezvous();
    const a = await startPeer();
    const b = await startPeer({ verify: () => false });
    await registered(b, rdv);
    const aVia = await join(a, rdv);
    // As with connect(): TLS 1.3 lets the client finish first, so the dial
    // resolves and the target's refusal ends the connection right after.
    const conn = await dial(a, b, aVia);
    expect(conn.path).toBe('direct');
    const closed = await withTimeout(conn.closed, 5000, 'closed');
    expect(closed.error?.code).toBe('ERR_QUIC_CERT_REJECTED');
    await sleep(50);
    expect(b.accepted).toEqual([]);
  });

  test('register() errors: no certificate, no server, not a rendezvous, rendezvous full', async () => {
    const rdv = await startRendezvous({ maxPeers: 1 });
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    const anonymous = await join(a, rdv, false);
    await expect(anonymous.register()).rejects.toMatchObject({ code: 'ERR_QUIC_RELAY_CERT_REQUIRED' });
    const noServer = await bind();
    const plain = await noServer.connect({ host: '127.0.0.1', port: rdv.socket.address.port, alpn: [RDV_ALPN], ca: rdv.creds.cert, serverName: 'localhost', key: a.id.key, cert: a.id.cert });
    await expect(plain.register()).rejects.toMatchObject({ code: 'ERR_QUIC_RELAY_NO_SERVER' });
    // A relay that is not a rendezvous says so at once.
    const relayOnly = await startRendezvous(false, true);
    await expect((await join(a, relayOnly)).register()).rejects.toMatchObject({ code: 'ERR_QUIC_RENDEZVOUS_UNAVAILABLE' });
    await registered(a, rdv);
    await expect((await join(b, rdv)).register()).rejects.toMatchObject({ code: 'ERR_QUIC_RENDEZVOUS_FULL' });
    expect(rdv.server.rendezvousStats()).toEqual({ peers: 1 });
    // The registration promise is shared, and register() on a closed connection rejects.
    const again = await join(b, relayOnly);
    await again.close();
    await expect(again.register()).rejects.toMatchObject({ code: 'ERR_QUIC_CONNECTION_CLOSED' });
  });

  test('dialing through a peer that is not a rendezvous: ERR_QUIC_RENDEZVOUS_UNAVAILABLE', async () => {
    const relayOnly = await startRendezvous(false, true);
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    expect(await rejectionOf(dial(a, b, await join(a, relayOnly)), 10_000, 'dial')).toMatchObject({ code: 'ERR_QUIC_RENDEZVOUS_UNAVAILABLE' });
  });

  test('a rendezvous that goes away fails only the dials that depended on it; via as an array goes on to the next', async () => {
    let dropping: QuicSocket | undefined;
    const gone = await startRendezvous({
      allow: async () => {
        await sleep(50);
        void dropping?.close();
        return new Promise<boolean>(() => {});
      },
    });
    dropping = gone.socket;
    const rdv = await startRendezvous();
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    await Promise.all([registered(b, gone), registered(b, rdv)]);
    const [aGone, aRdv] = await Promise.all([join(a, gone), join(a, rdv)]);
    const [only, either] = await Promise.allSettled([dial(a, b, aGone), dial(a, b, [aGone, aRdv])]);
    expect(only).toMatchObject({ status: 'rejected', reason: { code: 'ERR_QUIC_RENDEZVOUS_GONE' } });
    expect(either.status).toBe('fulfilled');
    if (either.status === 'fulfilled') expect(either.value.path).toBe('direct');
    // A closed rendezvous connection in via is skipped; alone, it is "gone".
    expect((await dial(a, b, [aGone, aRdv])).path).toBe('direct');
    expect(await rejectionOf(dial(a, b, aGone), 5000, 'dial')).toMatchObject({ code: 'ERR_QUIC_RENDEZVOUS_GONE' });
  });

  test("punchTimeout 0: relayed through the rendezvous at once, then 'upgrade' to a direct connection on both ends", async () => {
    const rdv = await startRendezvous();
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    await registered(b, rdv);
    const relayed = await dial(a, b, await join(a, rdv), { punchTimeout: 0 });
    const upgraded = new Promise<QuicConnection>((resolve) => relayed.once('upgrade', resolve));
    expect(relayed.path).toBe('relayed');
    expect(await echoes(relayed)).toBe(true);
    const servedRelayed = await nextAccepted(b, 1);
    expect(servedRelayed.path).toBe('relayed');
    const targetUpgrade = new Promise<QuicConnection>((resolve) => servedRelayed.once('upgrade', resolve));

    const direct = await withTimeout(upgraded, 10_000, "'upgrade'");
    expect(direct.path).toBe('direct');
    expect(sha256Hex(direct.peerCertificates[0])).toBe(b.id.fingerprint);
    expect(await echoes(direct)).toBe(true);
    const servedDirect = await withTimeout(targetUpgrade, 5000, "the target's 'upgrade'");
    expect(servedDirect.path).toBe('direct');
    expect(b.accepted).toEqual([servedRelayed, servedDirect]);
    // Moving over: the relayed connection closes, the direct one carries on.
    await relayed.close();
    expect(await echoes(direct)).toBe(true);
  });

  test('relay: false, or upgrade: false, are honoured', async () => {
    const rdv = await startRendezvous();
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    await registered(b, rdv);
    const aVia = await join(a, rdv);
    // No punching time and no relay: nothing can work.
    expect(await rejectionOf(dial(a, b, aVia, { punchTimeout: 0, relay: false }), 5000, 'dial')).toMatchObject({ code: 'ERR_QUIC_DIAL_FAILED' });
    const relayed = await dial(a, b, aVia, { punchTimeout: 0, upgrade: false });
    let upgrades = 0;
    relayed.on('upgrade', () => upgrades++);
    await sleep(1000);
    expect(upgrades).toBe(0);
    expect(b.accepted.map((c) => c.path)).toEqual(['relayed']);
  });

  test('an aborted dial rejects with ABORT_ERR and leaves no connection behind', async () => {
    const rdv = await startRendezvous({ allow: () => new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 300)) });
    const [a, b] = await Promise.all([startPeer(), startPeer()]);
    await registered(b, rdv);
    const aVia = await join(a, rdv);
    const controller = new AbortController();
    const dialing = a.socket.dial({ peer: b.id.fingerprint, via: aVia, alpn: [P2P_ALPN], signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await rejectionOf(dialing, 5000, 'dial')).toMatchObject({ code: 'ABORT_ERR' });
    await sleep(500);
    expect(b.accepted).toEqual([]);
    expect(a.socket.nativeConnectionCount).toBe(1); // its rendezvous connection only
  });

  test('bad arguments throw synchronously with Node-style codes', async () => {
    const rdv = await startRendezvous();
    const a = await startPeer();
    const via = await join(a, rdv);
    const other = await bind();
    const fp = 'ab'.repeat(32);
    const cases: Array<[Record<string, unknown>, string, RegExp]> = [
      [{ peer: 'nope', via }, 'ERR_INVALID_ARG_VALUE', /options\.peer/],
      [{ peer: fp, via: {} }, 'ERR_INVALID_ARG_TYPE', /options\.via/],
      [{ peer: fp, via: [] }, 'ERR_INVALID_ARG_VALUE', /options\.via/],
      [{ peer: fp, via: [via, 'x'] }, 'ERR_INVALID_ARG_TYPE', /options\.via\[1\]/],
      [{ peer: fp, via, punchTimeout: -1 }, 'ERR_OUT_OF_RANGE', /options\.punchTimeout/],
      [{ peer: fp, via, punchTtl: 0 }, 'ERR_OUT_OF_RANGE', /options\.punchTtl/],
      [{ peer: fp, via, relay: 'yes' }, 'ERR_INVALID_ARG_TYPE', /options\.relay/],
      [{ peer: fp, via, verifyPeer: false }, 'ERR_INVALID_ARG_VALUE', /options\.verifyPeer/],
      [{ peer: fp, via, host: '127.0.0.1', port: 1 }, 'ERR_INVALID_ARG_VALUE', /options\.peer/],
    ];
    for (const [opts, code, message] of cases) {
      let thrown: unknown;
      try {
        void a.socket.dial({ alpn: [P2P_ALPN], ...opts } as never);
      } catch (err) {
        thrown = err;
      }
      expect({ opts: Object.keys(opts), code: (thrown as { code?: string })?.code }).toEqual({ opts: Object.keys(opts), code });
      expect((thrown as Error).message).toMatch(message);
    }
    // A connection of another socket cannot be used: its rendezvous sees another address.
    expect(() => other.dial({ peer: fp, via, alpn: [P2P_ALPN] })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => via.register({ punchTtl: 300 })).toThrow(expect.objectContaining({ code: 'ERR_OUT_OF_RANGE' }));
    await expect(Promise.resolve().then(() => a.socket.listen({ alpn: ['x'], rendezvous: { maxPeers: 0 } } as never))).rejects.toMatchObject({ code: 'ERR_OUT_OF_RANGE' });
  });
});

describe('a rendezvous beside other services', () => {
  test('one server can be rendezvous, relay and WebTransport server: browsers still get their datagrams and streams', async () => {
    const creds = hashCredentials();
    const server = await startWebTransportServer(creds, { rendezvous: true, relay: true });
    const sessionP = nextSession(server);
    const wt = new WebTransport(`https://127.0.0.1:${server.address.port}/`, { serverCertificateHashes: creds.hashes });
    try {
      await withTimeout(wt.ready, 5000, 'ready');
      const session = await sessionP;
      session.on('datagram', (d: Uint8Array) => session.sendDatagram(d));
      const reader = wt.datagrams.readable.getReader();
      const writer = wt.datagrams.writable.getWriter();
      const echoed: string[] = [];
      for (let i = 0; i < 5 && echoed.length === 0; i++) {
        await writer.write(Buffer.from('ping'));
        const r = await Promise.race([reader.read(), sleep(500).then(() => undefined)]);
        if (r?.value) echoed.push(Buffer.from(r.value).toString());
      }
      expect(echoed).toEqual(['ping']);
    } finally {
      wt.close();
    }
  });
});

describe('dial by key against a hostile rendezvous', () => {
  test('it cannot make a dialer connect to an impostor: the fingerprint check fails every path it offers', async () => {
    const evil = await ScriptedRendezvous.start(certFor());
    const [a, b, impostor] = await Promise.all([startPeer(), startPeer(), startPeer()]);
    await registered(impostor, evil);
    const toImpostor = evil.registered.get(impostor.id.fingerprint)!;
    const aVia = await join(a, evil);
    // Every dial is introduced to the impostor, with go for both at once.
    evil.onRequest = (conn, m) => {
      if (m.type === Type.Dial) {
        evil.send(toImpostor, {
          type: Type.Incoming,
          session: m.session,
          token: m.token,
          dialer: undefined,
          punchTime: m.punchTime,
          upgrade: false,
          candidates: withReflexive(m.candidates, conn.remoteAddress),
        });
        evil.onRequest = (c, next) => {
          if (next.type === Type.Accept) {
            evil.send(conn, { type: Type.Answer, session: m.session, relay: false, candidates: withReflexive(next.candidates, c.remoteAddress) });
            evil.send(conn, { type: Type.Go, role: Role.Dialer, session: m.session });
            evil.send(c, { type: Type.Go, role: Role.Target, session: next.session });
          }
        };
      }
    };
    const err = await rejectionOf(dial(a, b, aVia, { punchTimeout: 1000 }), 10_000, 'dial');
    expect(err).toMatchObject({ code: 'ERR_QUIC_DIAL_FAILED' });
    // The punches met (the impostor answered them), but no connection opened on either side.
    expect(evil.requests(Type.Accept)).toHaveLength(1);
    expect(impostor.accepted).toEqual([]);
    expect(b.accepted).toEqual([]);
  });

  test('it cannot turn a registered peer into a flooder: punch requests are bounded in number, rate and targets', async () => {
    const evil = await ScriptedRendezvous.start(certFor());
    const b = await startPeer();
    await registered(b, evil);
    const toB = evil.registered.get(b.id.fingerprint)!;
    // The victim: UDP sockets counting what arrives.
    const victims = await Promise.all(
      Array.from({ length: 8 }, async () => {
        const s = trackDgram(dgram.createSocket('udp4'));
        await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
        return s;
      }),
    );
    let received = 0;
    for (const v of victims) v.on('message', () => received++);
    const candidates = victims.map((v) => ({ kind: 'host' as const, address: '127.0.0.1', port: v.address().port, family: 'IPv4' as const }));
    evil.onRequest = (conn, m) => {
      // Go for every session the target accepts, at once.
      if (m.type === Type.Accept) evil.send(conn, { type: Type.Go, role: Role.Target, session: m.session });
    };
    const started = performance.now();
    const REQUESTS = 60;
    for (let i = 1; i <= REQUESTS; i++) {
      evil.send(toB, { type: Type.Incoming, session: i, token: randomBytes(8), dialer: undefined, punchTime: 65535, upgrade: false, candidates });
    }
    await sleep(1500);
    const elapsed = (performance.now() - started) / 1000;
    const accepted = evil.requests(Type.Accept).length;
    const declined = evil.requests(Type.Decline).length;
    expect(accepted + declined).toBe(REQUESTS);
    expect(accepted).toBeLessThanOrEqual(16); // sessions at once
    expect(declined).toBeGreaterThanOrEqual(REQUESTS - 16);
    // Every punch draws on the socket's budget: 200 at once, then 400/s.
    expect(received).toBeGreaterThan(0);
    expect(received).toBeLessThanOrEqual(200 + 400 * elapsed);
    await b.socket.close();
    const after = received;
    await sleep(200);
    expect(received).toBe(after);
  });
});
