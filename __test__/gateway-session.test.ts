// The UDP gateway's sessions (lib/gateway/gateway-session.ts, gateway.ts)
// driven through a stand-in WebTransport session, against real UDP sockets
// on loopback. Time for the rate limits and mappings is a clock the tests
// move; idle timeouts use the real one.
import { UdpGateway } from '../lib/gateway/gateway';
import { MAX_BACKLOG, VIOLATION_BURST } from '../lib/gateway/gateway-session';
import { gatewayConfig, UDP_GATEWAY_CLOSE_CODES } from '../lib/gateway/options';
import type { UdpGatewayOptions, UdpGatewayTarget, UdpGatewaySessionInfo } from '../lib/gateway/options';
import { decodeDatagram, encodeDatagram } from '../lib/gateway/udp-gateway-client';
import { trackServer, withTimeout } from './helpers';
import { FakeWebTransportSession } from './support/fake-webtransport-session';
import { portIsFree, udpPeer, until } from './support/udp';

let clock = 0;

beforeEach(() => {
  clock = 1_000_000;
});

function gatewayWith(opts: Partial<UdpGatewayOptions> = {}): UdpGateway {
  const config = gatewayConfig({ key: 'k', cert: 'c', allow: ['127.0.0.0/8', '::1'], idleTimeout: 0, ...opts });
  return trackServer(new UdpGateway(config, undefined, () => clock), 'gateway');
}

function openSession(gateway: UdpGateway, path = '/udp'): FakeWebTransportSession {
  const session = new FakeWebTransportSession(path);
  expect(gateway._admit({ path })).toBe(true);
  gateway._accept(session);
  return session;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('UDP gateway sessions', () => {
  test('each datagram from the page goes out as one UDP datagram; the reply comes back with its source in the header', async () => {
    const gateway = gatewayWith();
    const peer = await udpPeer();
    const page = openSession(gateway);
    for (let i = 0; i < 3; i++) page.fromPage(encodeDatagram('127.0.0.1', peer.port, text(`ping ${i}`)));
    await until(() => page.toPage.length === 3, 'three replies');
    expect(peer.received.map((r) => r.data.toString())).toEqual(['ping 0', 'ping 1', 'ping 2']);
    expect(page.toPage.map((d) => decodeDatagram(d))).toEqual(
      [0, 1, 2].map((i) => ({ family: 'IPv4', address: '127.0.0.1', port: peer.port, data: text(`ping ${i}`) })),
    );
    expect([...page.toPage[0].subarray(0, 7)]).toEqual([4, 127, 0, 0, 1, peer.port >> 8, peer.port & 255]);
    const stats = gateway.stats();
    expect(stats).toMatchObject({ sessions: 1, sessionsAccepted: 1, udpSockets: 1, packetsToUdp: 3, bytesToUdp: 18, packetsToSessions: 3, bytesToSessions: 18 });
    expect(Object.values(stats.drops).every((n) => n === 0)).toBe(true);
  });

  test('IPv6 destinations go out of an IPv6 socket, and come back with a family 6 header', async () => {
    const gateway = gatewayWith();
    const peer = await udpPeer(true, 'udp6');
    const page = openSession(gateway);
    page.fromPage(encodeDatagram('::1', peer.port, text('six')));
    await until(() => page.toPage.length === 1, 'the reply');
    expect(decodeDatagram(page.toPage[0])).toEqual({ family: 'IPv6', address: '::1', port: peer.port, data: text('six') });
    expect(page.toPage[0][0]).toBe(6);
  });

  test('each session has its own UDP socket, so its own source port', async () => {
    const gateway = gatewayWith();
    const peer = await udpPeer();
    const pages = [openSession(gateway), openSession(gateway), openSession(gateway)];
    pages.forEach((page, i) => page.fromPage(encodeDatagram('127.0.0.1', peer.port, text(`page ${i}`))));
    await until(() => pages.every((p) => p.toPage.length === 1), 'a reply on each page');
    // Each page got its own datagram back, and the peer saw three source ports.
    pages.forEach((page, i) => expect(decodeDatagram(page.toPage[0])?.data).toEqual(text(`page ${i}`)));
    expect(new Set(peer.received.map((r) => r.from.port)).size).toBe(3);
    expect(gateway.stats()).toMatchObject({ sessions: 3, udpSockets: 3 });
  });

  test('refused destinations are dropped and counted; nothing leaves for them', async () => {
    const gateway = gatewayWith({ allow: ['127.0.0.1:1-2'] });
    const peer = await udpPeer();
    const allowed = await udpPeer();
    const page = openSession(gateway);
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('refused')));
    page.fromPage(encodeDatagram('127.0.0.2', 1, text('refused too')));
    expect(gateway.stats().drops.refused).toBe(2);
    expect(gateway.stats().udpSockets).toBe(0);
    await gateway.close();

    // The same page on a gateway that allows one of the two ports.
    const open = gatewayWith({ allow: [`127.0.0.1:${allowed.port}`] });
    const page2 = openSession(open);
    page2.fromPage(encodeDatagram('127.0.0.1', peer.port, text('refused')));
    page2.fromPage(encodeDatagram('127.0.0.1', allowed.port, text('allowed')));
    await until(() => page2.toPage.length === 1, 'the allowed reply');
    expect(peer.received).toEqual([]);
    expect(allowed.received.map((r) => r.data.toString())).toEqual(['allowed']);
    expect(open.stats().drops.refused).toBe(1);
  });

  test('malformed datagrams are dropped and counted', () => {
    const gateway = gatewayWith();
    const page = openSession(gateway);
    for (const bytes of [[], [5, 1, 2, 3, 4, 0, 1], [4, 127, 0, 0, 1, 0, 0], [4, 0, 0, 0, 0, 0, 9], [6, 0, 0]]) page.fromPage(Uint8Array.from(bytes));
    expect(gateway.stats().drops.malformed).toBe(5);
    expect(gateway.stats().udpSockets).toBe(0);
  });

  test('only replies from an address and port the session sent to come back, until the mapping expires', async () => {
    const gateway = gatewayWith({ mappingTimeout: 60_000 });
    const peer = await udpPeer(false);
    const stranger = await udpPeer(false);
    const page = openSession(gateway);
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('hello')));
    await until(() => peer.received.length === 1, 'the datagram at the peer');
    const gatewayPort = peer.received[0].from.port;

    // A stranger (another port on the same address) is filtered.
    stranger.socket.send('unsolicited', gatewayPort, '127.0.0.1');
    await until(() => gateway.stats().drops.unsolicited === 1, 'the stranger dropped');
    // The peer gets through.
    peer.socket.send('reply', gatewayPort, '127.0.0.1');
    await until(() => page.toPage.length === 1, 'the reply');
    expect(decodeDatagram(page.toPage[0])?.data).toEqual(text('reply'));

    // 60 s after the page last sent to it, the peer is a stranger too.
    clock += 60_000;
    peer.socket.send('late', gatewayPort, '127.0.0.1');
    await until(() => gateway.stats().drops.unsolicited === 2, 'the late reply dropped');
    expect(page.toPage.length).toBe(1);
  });

  test('maxPacketRate: a burst beyond one second of datagrams is dropped, and the rate refills', async () => {
    const gateway = gatewayWith({ maxPacketRate: 10 });
    const peer = await udpPeer(false);
    const page = openSession(gateway);
    for (let i = 0; i < 25; i++) page.fromPage(encodeDatagram('127.0.0.1', peer.port, text(`${i}`)));
    expect(gateway.stats().drops.rateLimited).toBe(15);
    clock += 100; // one more datagram's worth
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('after')));
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('too soon')));
    await until(() => peer.received.length === 11, 'eleven datagrams at the peer');
    expect(peer.received.map((r) => r.data.toString())).toEqual([...Array.from({ length: 10 }, (_, i) => `${i}`), 'after']);
    expect(gateway.stats().drops.rateLimited).toBe(16);
  });

  test('maxByteRate: bytes beyond one second (at least one largest datagram) are dropped', async () => {
    const gateway = gatewayWith({ maxByteRate: 100_000 });
    const peer = await udpPeer(false);
    const page = openSession(gateway);
    const kilobyte = new Uint8Array(1000);
    for (let i = 0; i < 150; i++) page.fromPage(encodeDatagram('127.0.0.1', peer.port, kilobyte));
    expect(gateway.stats().drops.rateLimited).toBe(50);
    await until(() => gateway.stats().packetsToUdp === 100, 'a hundred datagrams sent');
    expect(gateway.stats().bytesToUdp).toBe(100_000);
  });

  test('replies are rate-limited too (without counting against the page)', async () => {
    const gateway = gatewayWith({ maxPacketRate: 5 });
    const peer = await udpPeer(false);
    const page = openSession(gateway);
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('open')));
    await until(() => peer.received.length === 1, 'the datagram at the peer');
    for (let i = 0; i < 8; i++) peer.socket.send(`${i}`, peer.received[0].from.port, '127.0.0.1');
    await until(() => page.toPage.length + gateway.stats().drops.rateLimited === 8, 'all eight handled');
    expect(page.toPage.length).toBe(5);
    expect(page.closeInfo).toBeUndefined();
  });

  test(`a session that keeps breaking the rules is closed with code VIOLATIONS after ${VIOLATION_BURST} drops`, async () => {
    const gateway = gatewayWith({ allow: [] });
    const page = openSession(gateway);
    for (let i = 0; i < VIOLATION_BURST; i++) page.fromPage(encodeDatagram('127.0.0.1', 9, text('x')));
    expect(page.closeInfo).toBeUndefined();
    page.fromPage(encodeDatagram('127.0.0.1', 9, text('x')));
    expect(page.closeInfo).toEqual({ code: UDP_GATEWAY_CLOSE_CODES.VIOLATIONS, reason: expect.stringContaining('refused'), remote: false });
    await until(() => gateway.stats().sessions === 0, 'the session gone');
    expect(gateway.stats()).toMatchObject({ sessionsClosedForViolations: 1, udpSockets: 0 });
    expect(gateway.stats().drops.refused).toBe(VIOLATION_BURST + 1);
  });

  test('violations are forgiven over time: 10 a second for ever do not close a session', () => {
    const gateway = gatewayWith({ allow: [] });
    const page = openSession(gateway);
    for (let second = 0; second < 60; second++) {
      for (let i = 0; i < 10; i++) page.fromPage(Uint8Array.of(9));
      clock += 1000;
    }
    expect(page.closeInfo).toBeUndefined();
    expect(gateway.stats().drops.malformed).toBe(600);
  });

  test('allow: called once per destination with the target and the session, until its mapping expires', async () => {
    const calls: [UdpGatewayTarget, UdpGatewaySessionInfo][] = [];
    const gateway = gatewayWith({
      mappingTimeout: 1000,
      allow: (target, session) => {
        calls.push([target, session]);
        return target.range === 'loopback';
      },
    });
    const peer = await udpPeer(false);
    const page = openSession(gateway);
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('1')));
    page.fromPage(encodeDatagram('::ffff:127.0.0.1', peer.port, text('2')));
    page.fromPage(encodeDatagram('192.0.2.1', 9, text('3')));
    expect(calls).toEqual([
      [{ address: '127.0.0.1', port: peer.port, family: 'IPv4', range: 'loopback' }, { path: '/udp', origin: 'https://page.test', headers: { origin: 'https://page.test' } }],
      [{ address: '192.0.2.1', port: 9, family: 'IPv4', range: 'reserved' }, expect.anything()],
    ]);
    clock += 1000;
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('4')));
    expect(calls.length).toBe(3);
    await until(() => peer.received.length === 3, 'three datagrams at the peer');
    expect(gateway.stats().drops.refused).toBe(1);
  });

  test('an asynchronous allow: datagrams wait for the verdict in order; a refusal drops them all; a throw refuses', async () => {
    const verdicts: ((allowed: boolean) => void)[] = [];
    const gateway = gatewayWith({
      allow: (target) => {
        if (target.port === 7) throw new Error('policy bug');
        return new Promise<boolean>((resolve) => verdicts.push(resolve));
      },
    });
    const peer = await udpPeer(false);
    const refused = await udpPeer(false);
    const page = openSession(gateway);
    for (let i = 0; i < 3; i++) page.fromPage(encodeDatagram('127.0.0.1', peer.port, text(`a${i}`)));
    for (let i = 0; i < 2; i++) page.fromPage(encodeDatagram('127.0.0.1', refused.port, text(`b${i}`)));
    page.fromPage(encodeDatagram('127.0.0.1', 7, text('c')));
    expect(verdicts.length).toBe(2);
    expect(gateway.stats().drops.refused).toBe(1);
    verdicts[1](false);
    verdicts[0](true);
    await until(() => peer.received.length === 3, 'the three waiting datagrams');
    expect(peer.received.map((r) => r.data.toString())).toEqual(['a0', 'a1', 'a2']);
    expect(gateway.stats().drops.refused).toBe(3);
    expect(refused.received).toEqual([]);
  });

  test(`at most ${MAX_BACKLOG} datagrams wait for verdicts`, () => {
    const gateway = gatewayWith({ allow: () => new Promise<boolean>(() => {}) });
    const page = openSession(gateway);
    for (let i = 0; i < MAX_BACKLOG + 5; i++) page.fromPage(encodeDatagram('127.0.0.1', 1000 + (i % 3), text('x')));
    expect(gateway.stats().drops.backlog).toBe(5);
  });

  test('maxTargets: datagrams to more destinations are dropped until a mapping expires', async () => {
    const gateway = gatewayWith({ maxTargets: 2, mappingTimeout: 1000 });
    const peers = [await udpPeer(false), await udpPeer(false), await udpPeer(false)];
    const page = openSession(gateway);
    for (const peer of peers) page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('x')));
    expect(gateway.stats().drops.targetLimit).toBe(1);
    clock += 1000;
    page.fromPage(encodeDatagram('127.0.0.1', peers[2].port, text('y')));
    await until(() => peers[2].received.length === 1, 'the third peer reached');
    expect(gateway.stats().drops.targetLimit).toBe(1);
  });

  test('replies too large for the session, or meeting a full queue, are dropped and counted', async () => {
    const gateway = gatewayWith();
    const peer = await udpPeer(false);
    const page = openSession(gateway);
    page.maxDatagramSize = 7 + 100;
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('open')));
    await until(() => peer.received.length === 1, 'the datagram at the peer');
    const port = peer.received[0].from.port;
    peer.socket.send(Buffer.alloc(101), port, '127.0.0.1');
    await until(() => gateway.stats().drops.tooLarge === 1, 'the large reply dropped');
    peer.socket.send(Buffer.alloc(100), port, '127.0.0.1');
    await until(() => page.toPage.length === 1, 'the fitting reply');
    page.queueFull = true;
    peer.socket.send(Buffer.alloc(10), port, '127.0.0.1');
    await until(() => gateway.stats().drops.congested === 1, 'the reply dropped on a full queue');
  });

  test('a failed UDP send is counted (broadcast without SO_BROADCAST)', async () => {
    const gateway = gatewayWith({ allow: ['255.255.255.255'] });
    const page = openSession(gateway);
    page.fromPage(encodeDatagram('255.255.255.255', 9, text('x')));
    await until(() => gateway.stats().drops.sendFailed === 1, 'the send failed');
    expect(gateway.stats().packetsToUdp).toBe(0);
    expect(page.closeInfo).toBeUndefined();
  });

  test('a session the page closes frees its UDP socket and port', async () => {
    const gateway = gatewayWith();
    const peer = await udpPeer(false);
    const page = openSession(gateway);
    page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('x')));
    await until(() => peer.received.length === 1, 'the datagram at the peer');
    const port = peer.received[0].from.port;
    expect(await portIsFree(port)).toBe(false);
    page.closeFromPage();
    await until(() => gateway.stats().sessions === 0, 'the session gone');
    expect(gateway.stats().udpSockets).toBe(0);
    // The port is free again: another socket can bind it.
    expect(await portIsFree(port)).toBe(true);
  });

  test('idleTimeout: a session with no datagram either way is closed with code IDLE', async () => {
    // On the real clock: the idle timer is a real timer.
    const gateway = trackServer(new UdpGateway(gatewayConfig({ key: 'k', cert: 'c', allow: [], idleTimeout: 30 })), 'gateway');
    const page = openSession(gateway);
    const info = await withTimeout(page.closed, 5000, 'the idle session closed');
    expect(info).toEqual({ code: UDP_GATEWAY_CLOSE_CODES.IDLE, reason: 'no datagram for 30 ms', remote: false });
    expect(gateway.stats()).toMatchObject({ sessions: 0, sessionsClosedIdle: 1 });
  });

  test('maxSessions: further requests get 429, other paths 404; a session past the limit is closed', () => {
    const gateway = gatewayWith({ maxSessions: 2 });
    expect(gateway._admit({ path: '/other' })).toBe(404);
    expect(gateway._admit({ path: '/udp?room=1' })).toBe(true);
    openSession(gateway);
    openSession(gateway);
    expect(gateway._admit({ path: '/udp' })).toBe(429);
    const late = new FakeWebTransportSession();
    gateway._accept(late);
    expect(late.closeInfo?.code).toBe(UDP_GATEWAY_CLOSE_CODES.SESSION_LIMIT);
    expect(gateway.stats()).toMatchObject({ sessions: 2, sessionsRefused: 2 });
  });

  test('close() closes every session with code SHUTDOWN and their sockets', async () => {
    const gateway = gatewayWith();
    const peer = await udpPeer();
    const pages = [openSession(gateway), openSession(gateway)];
    for (const page of pages) page.fromPage(encodeDatagram('127.0.0.1', peer.port, text('x')));
    await until(() => pages.every((p) => p.toPage.length === 1), 'replies');
    await gateway.close();
    for (const page of pages) expect(page.closeInfo).toEqual({ code: UDP_GATEWAY_CLOSE_CODES.SHUTDOWN, reason: 'the gateway is shutting down', remote: false });
    await until(() => gateway.stats().sessions === 0, 'sessions gone');
    expect(gateway.stats().udpSockets).toBe(0);
    expect(gateway._admit({ path: '/udp' })).toBe(503);
  });
});
