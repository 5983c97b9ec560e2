// Rendezvous signalling messages: what a peer, its rendezvous and the peer it
// dials tell each other to set up a direct (hole-punched) or relayed
// connection. They travel reliably and in order over the peers' existing
// connections to the rendezvous (src/p2p/channel.rs), never as application
// streams or datagrams.
//
// Every message is `version (1) | type (1) | body`, at most 1024 bytes. The
// decoder checks every length and value and returns undefined for anything
// malformed, so a hostile rendezvous or peer can only send messages that the
// state machines then judge on their merits.
//
//   dialer ──DIAL──► rendezvous ──INCOMING──► target
//   dialer ◄─ANSWER── rendezvous ◄──ACCEPT─── target   (or END to the dialer)
//   both ──READY──► rendezvous, which sends GO to both once both are ready
//   either ──CANCEL──► rendezvous ──END──► the other
//
// Session numbers: the dialer names its dial with its own number (`role`
// DIALER in READY/GO/CANCEL/END between it and the rendezvous); the
// rendezvous names the session toward the target with its own (`role`
// TARGET). A peer can be dialer and target on one connection at once.
import type { Address } from '../types';

export const VERSION = 1;
export const MAX_MESSAGE = 1024;
/** Candidates in one message at most. */
export const MAX_CANDIDATES = 8;
export const TOKEN_BYTES = 8;
export const FINGERPRINT_BYTES = 32;

export enum Type {
  Register = 1,
  Registered = 2,
  Dial = 3,
  Incoming = 5,
  Accept = 6,
  Decline = 7,
  Answer = 8,
  Ready = 9,
  Go = 10,
  Cancel = 11,
  End = 12,
}

/** Which side of a session a READY/GO/CANCEL/END refers to. */
export enum Role {
  Dialer = 0,
  Target = 1,
}

/** REGISTERED status. */
export enum Status {
  Ok = 0,
  NoCertificate = 1,
  Full = 2,
  NotRendezvous = 3,
}

/** Why a session ended (END), or why a target declined (DECLINE). */
export enum Reason {
  Done = 0,
  UnknownPeer = 1,
  Denied = 2,
  Declined = 3,
  TargetGone = 4,
  Busy = 5,
  Timeout = 6,
  NotRendezvous = 7,
  Cancelled = 8,
}

export type CandidateKind = 'host' | 'srflx' | 'prflx';
const KINDS: CandidateKind[] = ['host', 'srflx', 'prflx'];

/** A transport address at which a peer may be reached (ICE terms, RFC 8445 §5.1.1). */
export interface Candidate extends Address {
  kind: CandidateKind;
}

export type Message =
  | { type: Type.Register; candidates: Candidate[] }
  | { type: Type.Registered; status: Status; relay: boolean; reflexive?: Candidate }
  | { type: Type.Dial; session: number; token: Buffer; target: string; punchTime: number; upgrade: boolean; candidates: Candidate[] }
  | { type: Type.Incoming; session: number; token: Buffer; dialer?: string; punchTime: number; upgrade: boolean; candidates: Candidate[] }
  | { type: Type.Accept; session: number; candidates: Candidate[] }
  | { type: Type.Decline; session: number; reason: Reason }
  | { type: Type.Answer; session: number; relay: boolean; candidates: Candidate[] }
  | { type: Type.Ready | Type.Go | Type.Cancel; role: Role; session: number }
  | { type: Type.End; role: Role; session: number; reason: Reason };

const MAX_SESSION = 0xffffffff;
const MAX_PUNCH_TIME = 0xffff;

class Writer {
  readonly #buf = Buffer.alloc(MAX_MESSAGE);
  #at = 0;

  u8(v: number): this {
    this.#buf[this.#at++] = v;
    return this;
  }
  u16(v: number): this {
    this.#buf.writeUInt16BE(v, this.#at);
    this.#at += 2;
    return this;
  }
  u32(v: number): this {
    this.#buf.writeUInt32BE(v >>> 0, this.#at);
    this.#at += 4;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.#buf.set(b, this.#at);
    this.#at += b.length;
    return this;
  }
  candidate(c: Candidate): this {
    this.u8(KINDS.indexOf(c.kind));
    if (c.family === 'IPv4') {
      this.u8(4);
      for (const part of c.address.split('.')) this.u8(Number(part));
    } else {
      this.u8(6).bytes(ipv6Bytes(c.address));
    }
    return this.u16(c.port);
  }
  candidates(list: Candidate[]): this {
    const kept = list.slice(0, MAX_CANDIDATES);
    this.u8(kept.length);
    for (const c of kept) this.candidate(c);
    return this;
  }
  done(): Buffer {
    return this.#buf.subarray(0, this.#at);
  }
}

class Reader {
  #at = 0;
  constructor(readonly buf: Buffer) {}

  get left(): number {
    return this.buf.length - this.#at;
  }
  u8(): number {
    if (this.left < 1) throw new RangeError('short');
    return this.buf[this.#at++];
  }
  u16(): number {
    if (this.left < 2) throw new RangeError('short');
    const v = this.buf.readUInt16BE(this.#at);
    this.#at += 2;
    return v;
  }
  u32(): number {
    if (this.left < 4) throw new RangeError('short');
    const v = this.buf.readUInt32BE(this.#at);
    this.#at += 4;
    return v;
  }
  bytes(n: number): Buffer {
    if (this.left < n) throw new RangeError('short');
    const b = Buffer.from(this.buf.subarray(this.#at, this.#at + n));
    this.#at += n;
    return b;
  }
  candidate(): Candidate {
    const kind = KINDS[this.u8()];
    const family = this.u8();
    if (kind === undefined || (family !== 4 && family !== 6)) throw new RangeError('bad candidate');
    const raw = this.bytes(family === 4 ? 4 : 16);
    const address = family === 4 ? [...raw].join('.') : ipv6String(raw);
    const port = this.u16();
    if (port === 0) throw new RangeError('bad port');
    return { kind, address, port, family: family === 4 ? 'IPv4' : 'IPv6' };
  }
  candidates(): Candidate[] {
    const n = this.u8();
    if (n > MAX_CANDIDATES) throw new RangeError('too many candidates');
    return Array.from({ length: n }, () => this.candidate());
  }
}

/** RFC 5952 text of an IPv6 address (the WHATWG URL parser compresses it). */
function canonical6(address: string): string {
  return new URL(`http://[${address}]/`).hostname.slice(1, -1);
}

function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  const text = canonical6(address);
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (s: string | undefined): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
  all.slice(0, 8).forEach((g, i) => out.writeUInt16BE(g & 0xffff, i * 2));
  return out;
}

function ipv6String(raw: Buffer): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(raw.readUInt16BE(i).toString(16));
  return canonical6(groups.join(':'));
}

function fingerprintBytes(hex: string | undefined): Buffer {
  return hex === undefined ? Buffer.alloc(FINGERPRINT_BYTES) : Buffer.from(hex, 'hex');
}

function fingerprintHex(raw: Buffer): string | undefined {
  return raw.every((b) => b === 0) ? undefined : raw.toString('hex');
}

/** Encodes a message (candidate lists beyond MAX_CANDIDATES are cut). */
export function encode(m: Message): Buffer {
  const w = new Writer().u8(VERSION).u8(m.type);
  switch (m.type) {
    case Type.Register:
      return w.candidates(m.candidates).done();
    case Type.Registered:
      w.u8(m.status).u8(m.relay ? 1 : 0);
      return (m.reflexive ? w.u8(1).candidate(m.reflexive) : w.u8(0)).done();
    case Type.Dial:
      return w
        .u32(m.session)
        .bytes(m.token)
        .bytes(fingerprintBytes(m.target))
        .u16(m.punchTime)
        .u8(m.upgrade ? 1 : 0)
        .candidates(m.candidates)
        .done();
    case Type.Incoming:
      return w
        .u32(m.session)
        .bytes(m.token)
        .bytes(fingerprintBytes(m.dialer))
        .u16(m.punchTime)
        .u8(m.upgrade ? 1 : 0)
        .candidates(m.candidates)
        .done();
    case Type.Accept:
      return w.u32(m.session).candidates(m.candidates).done();
    case Type.Decline:
      return w.u32(m.session).u8(m.reason).done();
    case Type.Answer:
      return w.u32(m.session).u8(m.relay ? 1 : 0).candidates(m.candidates).done();
    case Type.Ready:
    case Type.Go:
    case Type.Cancel:
      return w.u8(m.role).u32(m.session).done();
    case Type.End:
      return w.u8(m.role).u32(m.session).u8(m.reason).done();
  }
}

function role(r: Reader): Role {
  const v = r.u8();
  if (v !== Role.Dialer && v !== Role.Target) throw new RangeError('bad role');
  return v;
}

function flag(r: Reader): boolean {
  const v = r.u8();
  if (v > 1) throw new RangeError('bad flag');
  return v === 1;
}

function token(r: Reader): Buffer {
  const t = r.bytes(TOKEN_BYTES);
  if (t.every((b) => b === 0)) throw new RangeError('zero token');
  return t;
}

function decodeBody(type: number, r: Reader): Message {
  switch (type) {
    case Type.Register:
      return { type, candidates: r.candidates() };
    case Type.Registered: {
      const status = r.u8() as Status;
      const relay = flag(r);
      const reflexive = flag(r) ? r.candidate() : undefined;
      return { type, status, relay, reflexive };
    }
    case Type.Dial: {
      const session = r.u32();
      const t = token(r);
      const target = fingerprintHex(r.bytes(FINGERPRINT_BYTES));
      if (target === undefined) throw new RangeError('no target');
      return { type, session, token: t, target, punchTime: r.u16(), upgrade: flag(r), candidates: r.candidates() };
    }
    case Type.Incoming: {
      const session = r.u32();
      const t = token(r);
      const dialer = fingerprintHex(r.bytes(FINGERPRINT_BYTES));
      return { type, session, token: t, dialer, punchTime: r.u16(), upgrade: flag(r), candidates: r.candidates() };
    }
    case Type.Accept:
      return { type, session: r.u32(), candidates: r.candidates() };
    case Type.Decline:
      return { type, session: r.u32(), reason: r.u8() as Reason };
    case Type.Answer:
      return { type, session: r.u32(), relay: flag(r), candidates: r.candidates() };
    case Type.Ready:
    case Type.Go:
    case Type.Cancel:
      return { type, role: role(r), session: r.u32() };
    case Type.End:
      return { type, role: role(r), session: r.u32(), reason: r.u8() as Reason };
    default:
      throw new RangeError('unknown type');
  }
}

/** Decodes a message; undefined when it is malformed, unknown or has trailing bytes. */
export function decode(data: Buffer): Message | undefined {
  if (data.length < 2 || data.length > MAX_MESSAGE || data[0] !== VERSION) return undefined;
  try {
    const r = new Reader(data.subarray(2));
    const m = decodeBody(data[1], r);
    return r.left === 0 ? m : undefined;
  } catch {
    return undefined;
  }
}

export { MAX_SESSION, MAX_PUNCH_TIME };
