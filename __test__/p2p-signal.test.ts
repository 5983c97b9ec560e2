// Dial by key, the pure parts (issue 16): the signalling codec (bounded,
// validated: malformed input decodes to nothing, never throws) and the
// candidate logic (which addresses a peer offers and which it accepts).
import fc from 'fast-check';
import type { NetworkInterfaceInfo } from 'node:os';
import { addressKey, hostCandidates, isLoopback, usableCandidates, withReflexive } from '../lib/p2p/candidates';
import { PunchBudget, PunchSession } from '../lib/p2p/punching';
import { type Candidate, decode, encode, MAX_CANDIDATES, MAX_MESSAGE, type Message, Reason, Role, Status, Type } from '../lib/p2p/signal';
import type { Address } from '../lib';

const v4 = (address: string, port: number, kind: Candidate['kind'] = 'host'): Candidate => ({ kind, address, port, family: 'IPv4' });
const v6 = (address: string, port: number, kind: Candidate['kind'] = 'host'): Candidate => ({ kind, address, port, family: 'IPv6' });
const token = Buffer.from('0102030405060708', 'hex');
const fp = 'ab'.repeat(32);

describe('signalling messages', () => {
  const samples: Message[] = [
    { type: Type.Register, candidates: [v4('192.168.1.2', 4000), v6('2001:db8::1', 4000)] },
    { type: Type.Registered, status: Status.Ok, relay: true, reflexive: v4('203.0.113.5', 61000, 'srflx') },
    { type: Type.Registered, status: Status.Full, relay: false, reflexive: undefined },
    { type: Type.Dial, session: 7, token, target: fp, punchTime: 3000, upgrade: false, candidates: [v4('10.0.0.1', 1)] },
    { type: Type.Incoming, session: 0xffffffff, token, dialer: fp, punchTime: 0, upgrade: true, candidates: [v4('10.0.0.1', 1), v4('198.51.100.1', 2, 'srflx')] },
    { type: Type.Incoming, session: 1, token, dialer: undefined, punchTime: 65535, upgrade: false, candidates: [] },
    { type: Type.Accept, session: 9, candidates: [v6('fd00::2', 65535)] },
    { type: Type.Decline, session: 9, reason: Reason.Busy },
    { type: Type.Answer, session: 3, relay: false, candidates: [v4('192.0.2.1', 443, 'srflx')] },
    { type: Type.Ready, role: Role.Dialer, session: 3 },
    { type: Type.Go, role: Role.Target, session: 4 },
    { type: Type.Cancel, role: Role.Target, session: 5 },
    { type: Type.End, role: Role.Dialer, session: 6, reason: Reason.UnknownPeer },
  ];

  test('every message type round-trips, within MAX_MESSAGE', () => {
    for (const m of samples) {
      const bytes = encode(m);
      expect(bytes.length).toBeLessThanOrEqual(MAX_MESSAGE);
      expect(decode(bytes)).toEqual(m);
    }
  });

  test('a full candidate list is the longest message, and lists beyond MAX_CANDIDATES are cut', () => {
    const many = Array.from({ length: 20 }, (_, i) => v6(`2001:db8::${i + 1}`, 1000 + i));
    const bytes = encode({ type: Type.Incoming, session: 1, token, dialer: fp, punchTime: 1, upgrade: false, candidates: many });
    expect(bytes.length).toBeLessThan(MAX_MESSAGE / 2);
    const back = decode(bytes);
    expect(back?.type === Type.Incoming && back.candidates).toEqual(many.slice(0, MAX_CANDIDATES));
  });

  test('malformed messages decode to undefined: truncated, trailing bytes, bad version, type, flag, port, count, zero token', () => {
    const dial = encode(samples[3]);
    for (let n = 0; n < dial.length; n++) expect(decode(dial.subarray(0, n))).toBeUndefined();
    expect(decode(Buffer.concat([dial, Buffer.from([0])]))).toBeUndefined();
    const patched = (at: number, value: number): Buffer => {
      const b = Buffer.from(dial);
      b[at] = value;
      return b;
    };
    expect(decode(patched(0, 2))).toBeUndefined(); // version
    expect(decode(patched(1, 99))).toBeUndefined(); // type
    expect(decode(Buffer.from([1, Type.Ready, 2, 0, 0, 0, 1]))).toBeUndefined(); // role
    expect(decode(Buffer.from([1, Type.Answer, 0, 0, 0, 1, 2, 0]))).toBeUndefined(); // relay flag
    expect(decode(Buffer.from([1, Type.Register, MAX_CANDIDATES + 1]))).toBeUndefined(); // count
    expect(decode(Buffer.from([1, Type.Register, 1, 0, 4, 10, 0, 0, 1, 0, 0]))).toBeUndefined(); // port 0
    expect(decode(Buffer.from([1, Type.Register, 1, 0, 5, 10, 0, 0, 1, 0, 1]))).toBeUndefined(); // family
    expect(decode(Buffer.from([1, Type.Register, 1, 7, 4, 10, 0, 0, 1, 0, 1]))).toBeUndefined(); // kind
    const zeroToken = Buffer.from(dial);
    zeroToken.fill(0, 6, 14);
    expect(decode(zeroToken)).toBeUndefined();
    expect(decode(Buffer.alloc(MAX_MESSAGE + 1, 1))).toBeUndefined();
  });

  test('random bytes never throw', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 1, max: 12 }), (bytes, type) => {
        const data = Buffer.concat([Buffer.from([1, type]), Buffer.from(bytes)]);
        const m = decode(data);
        // Whatever decodes re-encodes to the same bytes: nothing is invented.
        if (m !== undefined) expect(encode(m).equals(data)).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('candidates', () => {
  const interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = {
    lo: [
      { address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '255.0.0.0', mac: '', cidr: null },
      { address: '::1', family: 'IPv6', internal: true, netmask: '', mac: '', cidr: null, scopeid: 0 },
    ],
    eth0: [
      { address: '192.168.1.20', family: 'IPv4', internal: false, netmask: '255.255.255.0', mac: '', cidr: null },
      { address: 'fe80::1', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 2 },
      { address: '2001:db8::20', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 0 },
    ],
  };
  const bound = (address: string, family: Address['family']): Address => ({ address, port: 5000, family });

  test('host candidates: the bound address, or every usable interface address of the families the socket can use', () => {
    expect(hostCandidates(bound('10.1.2.3', 'IPv4'), interfaces)).toEqual([v4('10.1.2.3', 5000)]);
    expect(hostCandidates(bound('0.0.0.0', 'IPv4'), interfaces)).toEqual([v4('192.168.1.20', 5000)]);
    // Dual-stack: IPv4 first; no loopback, no link-local.
    expect(hostCandidates(bound('::', 'IPv6'), interfaces)).toEqual([v4('192.168.1.20', 5000), v6('2001:db8::20', 5000)]);
  });

  test('usable candidates: deduplicated, bounded, reachable from the socket, loopback only from a loopback rendezvous', () => {
    const offered = [
      v4('192.168.1.5', 1),
      v4('192.168.1.5', 1, 'srflx'),
      v4('0.0.0.0', 2),
      v4('224.0.0.1', 3),
      v4('255.255.255.255', 4),
      v6('ff02::1', 5),
      v6('100::1', 6),
      v4('127.0.0.1', 7),
      v6('::1', 8),
      v6('2001:db8::9', 9),
    ];
    expect(usableCandidates(offered, bound('0.0.0.0', 'IPv4'), false)).toEqual([v4('192.168.1.5', 1)]);
    expect(usableCandidates(offered, bound('::', 'IPv6'), false)).toEqual([v4('192.168.1.5', 1), v6('2001:db8::9', 9)]);
    expect(usableCandidates(offered, bound('::', 'IPv6'), true).map(addressKey)).toEqual(['192.168.1.5|1', '127.0.0.1|7', '::1|8', '2001:db8::9|9']);
    const many = Array.from({ length: 30 }, (_, i) => v4('10.0.0.1', 100 + i));
    expect(usableCandidates(many, bound('0.0.0.0', 'IPv4'), false)).toHaveLength(MAX_CANDIDATES);
    expect(isLoopback('127.9.9.9') && isLoopback('::1') && !isLoopback('10.0.0.1')).toBe(true);
  });

  test('withReflexive: host candidates first, then the address the rendezvous sees (a host one when it is the same)', () => {
    const hosts = [v4('192.168.1.5', 4000)];
    expect(withReflexive(hosts, { address: '203.0.113.9', port: 61000, family: 'IPv4' })).toEqual([v4('192.168.1.5', 4000), v4('203.0.113.9', 61000, 'srflx')]);
    expect(withReflexive(hosts, { address: '192.168.1.5', port: 4000, family: 'IPv4' })).toEqual([v4('192.168.1.5', 4000)]);
    const full = Array.from({ length: MAX_CANDIDATES }, (_, i) => v4('10.0.0.1', 100 + i));
    expect(withReflexive(full, { address: '203.0.113.9', port: 1, family: 'IPv4' })).toHaveLength(MAX_CANDIDATES);
  });
});

describe('punching', () => {
  test('a punch session punches only its candidates and a bounded number of addresses that punched it, answering each once', async () => {
    const sent: string[] = [];
    const reached: string[] = [];
    const session = new PunchSession(
      (_packet, to, ttl) => {
        sent.push(`${to.address}:${to.port}${ttl ? `/ttl${ttl}` : ''}`);
        return true;
      },
      token,
      [v4('192.0.2.1', 1), v4('198.51.100.1', 2, 'srflx')],
      (from) => reached.push(`${from.address}:${from.port}`),
    );
    expect(session.packet.subarray(8).equals(token)).toBe(true);
    await session.lowTtl(2);
    expect(sent).toEqual(Array.from({ length: 3 }, () => ['192.0.2.1:1/ttl2', '198.51.100.1:2/ttl2']).flat());
    sent.length = 0;
    // A punch from an announced address, twice: answered once.
    session.onPunch({ address: '198.51.100.1', port: 2, family: 'IPv4' });
    session.onPunch({ address: '198.51.100.1', port: 2, family: 'IPv4' });
    // Punches from unannounced addresses (a NAT that chose a new port): learned, up to the bound.
    for (let port = 10; port < 20; port++) session.onPunch({ address: '198.51.100.1', port, family: 'IPv4' });
    expect(reached).toEqual(['198.51.100.1:2', ...[10, 11, 12, 13].map((p) => `198.51.100.1:${p}`)]);
    expect(sent).toEqual(reached);
    expect(session.candidates.map((c) => c.kind)).toEqual(['host', 'srflx', 'prflx', 'prflx', 'prflx', 'prflx']);
    session.stop();
    session.onPunch({ address: '203.0.113.1', port: 1, family: 'IPv4' });
    expect(reached).toHaveLength(5);
  });

  test('the punch budget caps a burst and refills at its rate', () => {
    const budget = new PunchBudget(100, 10);
    let taken = 0;
    while (budget.take() && taken < 1000) taken++;
    expect(taken).toBe(10);
  });
});
