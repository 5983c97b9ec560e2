// Mutation fuzzing of the peer-to-peer parsers on the JavaScript side: what a
// rendezvous or any host on the network can send a socket that is not QUIC
// (STUN responses, punch packets) and the signalling messages a rendezvous
// or peer sends. Each starts from valid messages made by the encoders,
// mutates them (bit flips, edge values, truncation, insertion, duplication,
// length fields), with fixed seeds. A throw here would escape the socket's
// receive path, so nothing may throw; whatever is accepted must be sane.
// The native parsers are fuzzed in src/tests/fuzz.rs.
import fc from 'fast-check';
import { isIP } from 'node:net';
import { isPunch, punchPacket, punchToken, PUNCH_PACKET } from '../lib/p2p/punch';
import { decode, encode, type Message, Reason, Role, Status, Type } from '../lib/p2p/signal';
import { bindingRequest, bindingResponse, isBindingRequest, isStun, parseBindingResponse, transactionOf } from '../lib/p2p/stun';

const EDGES = [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff];

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'edge'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'duplicate'; at: number; length: number }
  | { kind: 'delete'; at: number; length: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('edge' as const), at: fc.nat(), value: fc.constantFrom(...EDGES) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
);

function apply(seed: Buffer, mutations: Mutation[]): Buffer {
  let out = Buffer.from(seed);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % (out.length + 1);
    switch (m.kind) {
      case 'flip':
        if (at < out.length) out[at] ^= 1 << m.bit;
        break;
      case 'edge':
        if (at < out.length) out[at] = m.value;
        break;
      case 'truncate':
        out = out.subarray(0, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
        break;
      case 'duplicate':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at, at + m.length), out.subarray(at)]);
        break;
      case 'delete':
        out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.length)]);
        break;
    }
  }
  return out;
}

const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 });

describe('STUN and punch datagrams', () => {
  const { packet: request } = bindingRequest();
  const seeds = [
    bindingResponse(request, { address: '203.0.113.9', port: 61000, family: 'IPv4' }),
    request,
    PUNCH_PACKET,
    punchPacket(Buffer.from('0102030405060708', 'hex')),
  ];

  test('mutated datagrams never throw; a parsed mapped address is an address', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds), mutations, (seed, ms) => {
        const data = apply(seed, ms);
        isPunch(data);
        if (isPunch(data)) {
          const token = punchToken(data);
          expect(token === undefined || /^[0-9a-f]{16}$/.test(token)).toBe(true);
        }
        isBindingRequest(data);
        if (isStun(data)) {
          expect(transactionOf(data)).toMatch(/^[0-9a-f]{24}$/);
          const mapped = parseBindingResponse(data);
          if (mapped !== undefined) {
            expect(isIP(mapped.address)).toBe(mapped.family === 'IPv4' ? 4 : 6);
            expect(Number.isInteger(mapped.port) && mapped.port >= 0 && mapped.port <= 0xffff).toBe(true);
          }
        }
      }),
      { seed: 0x5eed, numRuns: 20_000 },
    );
  });

  test('a response with many tiny attributes is parsed in one bounded pass', () => {
    // 16 380 empty attributes (about the most a 16-bit length allows), then
    // the mapped address: the parser walks them without throwing.
    const body = Buffer.alloc(0xfff0);
    const response = bindingResponse(request, { address: '198.51.100.1', port: 1234, family: 'IPv4' });
    const packet = Buffer.concat([response.subarray(0, 20), body, response.subarray(20)]);
    packet.writeUInt16BE(packet.length - 20, 2);
    expect(parseBindingResponse(packet)).toEqual({ address: '198.51.100.1', port: 1234, family: 'IPv4' });
  });
});

describe('signalling messages', () => {
  const token = Buffer.from('0102030405060708', 'hex');
  const candidate = { kind: 'host' as const, address: '192.0.2.1', port: 4000, family: 'IPv4' as const };
  const v6 = { kind: 'srflx' as const, address: '2001:db8::1', port: 4001, family: 'IPv6' as const };
  const samples: Message[] = [
    { type: Type.Register, candidates: [candidate, v6] },
    { type: Type.Registered, status: Status.Ok, relay: true, reflexive: candidate },
    { type: Type.Dial, session: 7, token, target: 'ab'.repeat(32), punchTime: 3000, upgrade: true, candidates: [candidate] },
    { type: Type.Incoming, session: 9, token, dialer: 'cd'.repeat(32), punchTime: 1, upgrade: false, candidates: [v6] },
    { type: Type.Accept, session: 9, candidates: [candidate, v6] },
    { type: Type.Decline, session: 9, reason: Reason.Busy },
    { type: Type.Answer, session: 3, relay: false, candidates: [candidate] },
    { type: Type.Go, role: Role.Target, session: 4 },
    { type: Type.End, role: Role.Dialer, session: 6, reason: Reason.Timeout },
  ];
  const seeds = samples.map(encode);

  test('mutated messages never throw, and whatever decodes re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...seeds), mutations, (seed, ms) => {
        const data = apply(seed, ms);
        const m = decode(data);
        if (m !== undefined) expect(encode(m).equals(data)).toBe(true);
      }),
      { seed: 0x5eed, numRuns: 20_000 },
    );
  });
});
