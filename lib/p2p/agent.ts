// A socket's peer-to-peer agent: everything of a dial by key that is not
// the dial itself. It routes signalling messages (requests to the socket's
// rendezvous, answers to the dials and registrations waiting for them),
// keeps this socket's registrations at rendezvous peers, answers the punch
// requests they pass on (the target's side of a dial), and hands each
// arriving dial punch to the session whose token it carries.
//
// None of this is visible to the application except through the promises
// and connections it was handed: nothing here emits 'error', and a hostile
// rendezvous can make this socket punch only the candidates of a peer that
// dials it, a bounded number of times (MAX_TARGET_SESSIONS at once, at most
// SESSIONS_PER_SECOND new ones, every punch drawn from the PunchBudget).
import { randomBytes } from 'node:crypto';
import type { QuicConnection } from '../connection';
import { debug } from '../debug';
import { QuicError } from '../errors';
import type { QuicSocket } from '../socket';
import type { Address } from '../types';
import { certificateFingerprint } from '../tls/certificates';
import { addressKey, hostCandidates, isLoopback, usableCandidates } from './candidates';
import { PunchBudget, PunchSession } from './punching';
import { type Candidate, decode, type Message, Reason, Role, Status, Type } from './signal';
import { sendSignal } from './transport';

/** How long a registration or a dial waits for the rendezvous to answer. */
export const ANSWER_TIMEOUT_MS = 5000;
/** Low-TTL punches: enough hops to leave this side's NAT, too few to reach the peer's. */
export const DEFAULT_PUNCH_TTL = 2;
const MAX_TARGET_SESSIONS = 16;
const MAX_TARGET_SESSIONS_PER_CONNECTION = 8;
const SESSIONS_PER_SECOND = 20;
/** The target punches at most this long after go, whatever the dialer asked. */
const MAX_TARGET_PUNCH_MS = 10_000;
const MIN_TARGET_PUNCH_MS = 500;
/** Extra time the target keeps punching beyond the dialer's punch timeout. */
const TARGET_PUNCH_SLACK_MS = 500;
/** How long the addresses that punched in an upgrade session still mark their connection as its result. */
const UPGRADE_MEMORY_MS = 10_000;
const MAX_UPGRADE_MEMORY = 64;

/** 'upgrade' on `relayed`; a listener's exception surfaces as an uncaught exception, as from any event. */
export function emitUpgrade(relayed: QuicConnection, direct: QuicConnection): void {
  try {
    relayed.emit('upgrade', direct);
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}

/** What a registration answers with (`register()`). */
interface Registration {
  promise: Promise<void>;
  settle?: (err?: Error) => void;
  punchTtl: number;
  registered: boolean;
}

/** The answer to a dial: the target's candidates and whether the rendezvous can relay to it. */
export interface Answer {
  candidates: Candidate[];
  relay: boolean;
}

/** The dialer's end of one dial's signalling with one rendezvous. */
export class DialSignal {
  readonly session: number;
  readonly token = randomBytes(8);
  readonly answer: Promise<Answer>;
  readonly go: Promise<void>;
  #settleAnswer!: { resolve: (a: Answer) => void; reject: (e: Error) => void };
  #settleGo!: { resolve: () => void; reject: (e: Error) => void };
  #ended = false;
  #answered = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    readonly agent: P2pAgent,
    readonly via: QuicConnection,
    session: number,
  ) {
    this.session = session;
    this.answer = new Promise((resolve, reject) => {
      this.#settleAnswer = { resolve, reject };
    });
    this.go = new Promise((resolve, reject) => {
      this.#settleGo = { resolve, reject };
    });
    // Waiters come and go; an unobserved rejection is not an error here.
    this.answer.catch(() => {});
    this.go.catch(() => {});
    this.#timer = setTimeout(
      () => this._end(new QuicError('ERR_QUIC_RENDEZVOUS_UNAVAILABLE', `The rendezvous did not answer the dial within ${ANSWER_TIMEOUT_MS} ms (does it listen with the rendezvous option?)`)),
      ANSWER_TIMEOUT_MS,
    ).unref();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** @internal */
  _onAnswer(answer: Answer): void {
    if (this.#ended || this.#answered) return;
    this.#answered = true;
    clearTimeout(this.#timer);
    this.#settleAnswer.resolve(answer);
  }

  /** @internal */
  _onGo(): void {
    if (!this.#ended) this.#settleGo.resolve();
  }

  /** @internal The session ended (END, the connection closed, no answer). */
  _end(err: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#timer);
    this.agent._forgetDial(this);
    this.#settleAnswer.reject(err);
    this.#settleGo.reject(err);
  }

  ready(): void {
    if (!this.#ended) sendSignal(this.via, { type: Type.Ready, role: Role.Dialer, session: this.session });
  }

  /** Ends the session at the rendezvous too (which tells the target to stop punching). */
  cancel(): void {
    if (this.#ended) return;
    sendSignal(this.via, { type: Type.Cancel, role: Role.Dialer, session: this.session });
    this._end(new QuicError('ERR_QUIC_DIAL_FAILED', 'The dial was cancelled'));
  }
}

/** The target's side of one dial: punching back toward the dialer. */
interface TargetSession {
  id: number;
  via: QuicConnection;
  punch: PunchSession;
  untrack: () => void;
  upgrade: boolean;
  /** How long to punch after go. */
  duration: number;
  /** Before go: when the session expires; after go: when punching ends. */
  timer: NodeJS.Timeout;
  started: boolean;
}

function endError(reason: Reason): QuicError {
  switch (reason) {
    case Reason.UnknownPeer:
    case Reason.TargetGone:
      return new QuicError('ERR_QUIC_PEER_UNKNOWN', reason === Reason.UnknownPeer ? 'No peer with that fingerprint is registered at the rendezvous' : 'The peer left the rendezvous during the dial');
    case Reason.Denied:
      return new QuicError('ERR_QUIC_DIAL_REFUSED', "The rendezvous's allow policy refused the dial");
    case Reason.Declined:
      return new QuicError('ERR_QUIC_DIAL_REFUSED', 'The peer declined the dial');
    case Reason.Busy:
      return new QuicError('ERR_QUIC_DIAL_REFUSED', 'The rendezvous or the peer is busy (too many dials at once)');
    case Reason.NotRendezvous:
      return new QuicError('ERR_QUIC_RENDEZVOUS_UNAVAILABLE', 'The peer is not a rendezvous (it does not listen with the rendezvous option)');
    default:
      return new QuicError('ERR_QUIC_DIAL_FAILED', 'The rendezvous ended the dial');
  }
}

export class P2pAgent {
  readonly #socket: QuicSocket;
  readonly budget = new PunchBudget();
  readonly #registrations = new Map<QuicConnection, Registration>();
  readonly #dials = new Map<QuicConnection, Map<number, DialSignal>>();
  readonly #targets = new Map<QuicConnection, Map<number, TargetSession>>();
  /** Punch sessions (either side) by token. */
  readonly #byToken = new Map<string, PunchSession>();
  readonly #watched = new WeakSet<QuicConnection>();
  /** The target's relayed server connections, by the dialer's certificate fingerprint. */
  readonly #relayed = new Map<string, Set<QuicConnection>>();
  /** Addresses that punched in upgrade sessions (address key → until when). */
  readonly #upgradeFrom = new Map<string, number>();
  #nextDial = 1;
  #sessionStarts: number[] = [];
  #closed = false;

  constructor(socket: QuicSocket) {
    this.#socket = socket;
  }

  get socket(): QuicSocket {
    return this.#socket;
  }

  /** Sends one punch packet; false when not sent (budget spent, TTL impossible, socket closed). */
  readonly send = (packet: Buffer, to: Address, ttl?: number): boolean => {
    if (this.#closed || !this.budget.take()) return false;
    return this.#socket._sendPunch(packet, to, ttl);
  };

  /** Whether candidates on loopback are acceptable from `via`'s rendezvous: only when it is itself reached over loopback. */
  allowLoopback(via: QuicConnection): boolean {
    try {
      return isLoopback(via.remoteAddress.address);
    } catch {
      return false;
    }
  }

  hosts(): Candidate[] {
    return hostCandidates(this.#socket.address);
  }

  /** Registers a punch session under its token, so arriving punches reach it. */
  track(punch: PunchSession): () => void {
    const key = punch.packet.subarray(8).toString('hex');
    this.#byToken.set(key, punch);
    return () => {
      if (this.#byToken.get(key) === punch) this.#byToken.delete(key);
      punch.stop();
    };
  }

  /** A dial punch arrived. */
  onPunch(token: string, from: Address): void {
    this.#byToken.get(token)?.onPunch(from);
  }

  #watch(conn: QuicConnection): void {
    if (this.#watched.has(conn)) return;
    this.#watched.add(conn);
    void conn.closed.then((info) => this.#connectionClosed(conn, info.error));
  }

  #connectionClosed(conn: QuicConnection, error: Error | undefined): void {
    const registration = this.#registrations.get(conn);
    this.#registrations.delete(conn);
    registration?.settle?.(error ?? new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection to the rendezvous closed'));
    for (const dial of [...(this.#dials.get(conn)?.values() ?? [])]) {
      dial._end(new QuicError('ERR_QUIC_RENDEZVOUS_GONE', 'The connection to the rendezvous closed during the dial'));
    }
    this.#dials.delete(conn);
    // A session whose go already came needs the rendezvous no more.
    for (const t of [...(this.#targets.get(conn)?.values() ?? [])]) if (!t.started) this.#endTarget(t, false);
  }

  // ---------------------------------------------------------------------------
  // Signalling in

  onSignal(conn: QuicConnection, data: Buffer): void {
    const m = decode(data);
    if (m === undefined) {
      debug('malformed signalling message on connection %d dropped', conn.handle);
      return;
    }
    switch (m.type) {
      case Type.Register:
      case Type.Dial:
      case Type.Accept:
      case Type.Decline:
      case Type.Ready:
      case Type.Cancel:
        return this.#toRendezvous(conn, m);
      case Type.Registered:
        return this.#onRegistered(conn, m.status);
      case Type.Answer:
        return this.#dials.get(conn)?.get(m.session)?._onAnswer({ candidates: m.candidates, relay: m.relay });
      case Type.Incoming:
        return this.#onIncoming(conn, m);
      case Type.Go:
        if (m.role === Role.Dialer) this.#dials.get(conn)?.get(m.session)?._onGo();
        else this.#onGo(conn, m.session);
        return;
      case Type.End:
        if (m.role === Role.Dialer) this.#dials.get(conn)?.get(m.session)?._end(endError(m.reason));
        else {
          const s = this.#targets.get(conn)?.get(m.session);
          if (s) this.#endTarget(s, false);
        }
        return;
    }
  }

  /** Requests go to this socket's rendezvous, if it is one and `conn` is one of its server's connections. */
  #toRendezvous(conn: QuicConnection, m: Message): void {
    const service = conn.side === 'server' ? this.#socket._server?._rendezvous : undefined;
    if (service !== undefined) return service.onMessage(conn, m);
    if (m.type === Type.Register) sendSignal(conn, { type: Type.Registered, status: Status.NotRendezvous, relay: false });
    else if (m.type === Type.Dial) sendSignal(conn, { type: Type.End, role: Role.Dialer, session: m.session, reason: Reason.NotRendezvous });
  }

  // ---------------------------------------------------------------------------
  // Registrations (`conn.register()`)

  register(conn: QuicConnection, punchTtl = DEFAULT_PUNCH_TTL): Promise<void> {
    const existing = this.#registrations.get(conn);
    if (existing !== undefined) {
      existing.punchTtl = punchTtl;
      return existing.promise;
    }
    if (conn.destroyed) return Promise.reject(new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection is closed'));
    if (this.#socket._server === undefined) {
      return Promise.reject(new QuicError('ERR_QUIC_RELAY_NO_SERVER', 'register() needs a server on this socket (socket.listen()) to accept the connections of dialing peers'));
    }
    const registration: Registration = { promise: Promise.resolve(), punchTtl, registered: false };
    registration.promise = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => registration.settle?.(new QuicError('ERR_QUIC_RENDEZVOUS_UNAVAILABLE', `The peer did not answer register() within ${ANSWER_TIMEOUT_MS} ms (does it listen with the rendezvous option?)`)),
        ANSWER_TIMEOUT_MS,
      ).unref();
      registration.settle = (err) => {
        clearTimeout(timer);
        registration.settle = undefined;
        if (err === undefined) {
          registration.registered = true;
          resolve();
          return;
        }
        if (this.#registrations.get(conn) === registration) this.#registrations.delete(conn);
        reject(err);
      };
    });
    this.#registrations.set(conn, registration);
    this.#watch(conn);
    if (!sendSignal(conn, { type: Type.Register, candidates: this.hosts() })) {
      registration.settle?.(new QuicError('ERR_QUIC_RENDEZVOUS_UNAVAILABLE', 'register() needs an established connection with datagrams enabled'));
    }
    return registration.promise;
  }

  #onRegistered(conn: QuicConnection, status: Status): void {
    const settle = this.#registrations.get(conn)?.settle;
    if (settle === undefined) return;
    if (status === Status.Ok) settle();
    else if (status === Status.NoCertificate) settle(new QuicError('ERR_QUIC_RELAY_CERT_REQUIRED', 'The rendezvous names peers by their certificate: connect to it with key and cert'));
    else if (status === Status.Full) settle(new QuicError('ERR_QUIC_RENDEZVOUS_FULL', 'The rendezvous already has its maximum number of registered peers (maxPeers)'));
    else settle(new QuicError('ERR_QUIC_RENDEZVOUS_UNAVAILABLE', 'The peer is not a rendezvous (it does not listen with the rendezvous option)'));
  }

  // ---------------------------------------------------------------------------
  // The dialer's signalling (see dial.ts)

  /** Starts a dial's signalling on `via`; the DIAL message is sent at once. */
  openDial(via: QuicConnection, target: string, punchTime: number, upgrade: boolean): DialSignal {
    const session = this.#nextDial;
    this.#nextDial = this.#nextDial >= 0xffffffff ? 1 : this.#nextDial + 1;
    const dial = new DialSignal(this, via, session);
    let dials = this.#dials.get(via);
    if (dials === undefined) {
      dials = new Map();
      this.#dials.set(via, dials);
    }
    dials.set(session, dial);
    this.#watch(via);
    if (via.destroyed) {
      dial._end(new QuicError('ERR_QUIC_RENDEZVOUS_GONE', 'The connection to the rendezvous is closed'));
      return dial;
    }
    const sent = sendSignal(via, {
      type: Type.Dial,
      session,
      token: dial.token,
      target,
      punchTime: Math.min(punchTime, 0xffff),
      upgrade,
      candidates: this.hosts(),
    });
    if (!sent) dial._end(new QuicError('ERR_QUIC_RENDEZVOUS_UNAVAILABLE', 'Signalling needs an established connection to the rendezvous with datagrams enabled'));
    return dial;
  }

  /** @internal */
  _forgetDial(dial: DialSignal): void {
    const dials = this.#dials.get(dial.via);
    if (dials?.get(dial.session) === dial) dials.delete(dial.session);
  }

  // ---------------------------------------------------------------------------
  // The target's side: punch requests passed on by a rendezvous

  #sessionRateOk(): boolean {
    const now = performance.now();
    this.#sessionStarts = this.#sessionStarts.filter((t) => now - t < 1000);
    if (this.#sessionStarts.length >= SESSIONS_PER_SECOND) return false;
    this.#sessionStarts.push(now);
    return true;
  }

  #targetCount(): number {
    let n = 0;
    for (const m of this.#targets.values()) n += m.size;
    return n;
  }

  #onIncoming(conn: QuicConnection, m: Extract<Message, { type: Type.Incoming }>): void {
    const decline = (reason: Reason): void => void sendSignal(conn, { type: Type.Decline, session: m.session, reason });
    const registration = this.#registrations.get(conn);
    let sessions = this.#targets.get(conn);
    if (sessions?.has(m.session)) return;
    if (registration?.registered !== true || this.#closed || this.#socket._server === undefined) return decline(Reason.Declined);
    if (
      this.#targetCount() >= MAX_TARGET_SESSIONS ||
      (sessions?.size ?? 0) >= MAX_TARGET_SESSIONS_PER_CONNECTION ||
      this.#byToken.has(m.token.toString('hex')) ||
      !this.#sessionRateOk()
    ) {
      return decline(Reason.Busy);
    }
    const candidates = usableCandidates(m.candidates, this.#socket.address, this.allowLoopback(conn));
    const punch = new PunchSession(this.send, m.token, candidates);
    const duration = Math.min(MAX_TARGET_PUNCH_MS, Math.max(MIN_TARGET_PUNCH_MS, m.punchTime + TARGET_PUNCH_SLACK_MS));
    const session: TargetSession = {
      id: m.session,
      via: conn,
      punch,
      untrack: this.track(punch),
      upgrade: m.upgrade,
      duration,
      // Without go, the session ends when the dialer would have given up.
      timer: setTimeout(() => this.#endTarget(session, true), ANSWER_TIMEOUT_MS + duration).unref(),
      started: false,
    };
    if (sessions === undefined) {
      sessions = new Map();
      this.#targets.set(conn, sessions);
    }
    sessions.set(m.session, session);
    debug('p2p: incoming dial %d via connection %d, %d candidates', m.session, conn.handle, candidates.length);
    sendSignal(conn, { type: Type.Accept, session: m.session, candidates: this.hosts() });
    void punch.lowTtl(registration.punchTtl).then(() => {
      if (!punch.stopped) sendSignal(conn, { type: Type.Ready, role: Role.Target, session: m.session });
    });
  }

  #onGo(conn: QuicConnection, id: number): void {
    const s = this.#targets.get(conn)?.get(id);
    if (s === undefined || s.started || s.punch.stopped) return;
    s.started = true;
    s.punch.start(s.duration);
    clearTimeout(s.timer);
    s.timer = setTimeout(() => this.#endTarget(s, false), s.duration + 100).unref();
  }

  /** Ends a target session; `cancel` tells the rendezvous (it was not told otherwise). */
  #endTarget(s: TargetSession, cancel: boolean): void {
    s.untrack();
    clearTimeout(s.timer);
    const sessions = this.#targets.get(s.via);
    if (sessions?.get(s.id) !== s) return;
    sessions.delete(s.id);
    if (sessions.size === 0) this.#targets.delete(s.via);
    this.#rememberUpgrade(s);
    if (cancel) sendSignal(s.via, { type: Type.Cancel, role: Role.Target, session: s.id });
  }

  /**
   * The server accepted `conn`. A direct connection from an address that
   * punched in an upgrade session, made with the same certificate as a
   * relayed connection of this server, is that one's successor: 'upgrade'
   * on the relayed connection (the dialer sees the same).
   */
  onAccepted(conn: QuicConnection): void {
    const leaf = conn.peerCertificates[0];
    if (leaf === undefined) return;
    const fingerprint = certificateFingerprint(leaf);
    if (conn.relayed) {
      let set = this.#relayed.get(fingerprint);
      if (set === undefined) {
        set = new Set();
        this.#relayed.set(fingerprint, set);
      }
      set.add(conn);
      void conn.closed.then(() => {
        set.delete(conn);
        if (set.size === 0 && this.#relayed.get(fingerprint) === set) this.#relayed.delete(fingerprint);
      });
      return;
    }
    const key = addressKey(conn.remoteAddress);
    const live = [...this.#targets.values()].some((m) => [...m.values()].some((s) => s.upgrade && s.punch.reached.some((r) => addressKey(r) === key)));
    if (!live && (this.#upgradeFrom.get(key) ?? 0) < performance.now()) return;
    this.#upgradeFrom.delete(key);
    const relayed = [...(this.#relayed.get(fingerprint) ?? [])].find((c) => !c.destroyed);
    if (relayed !== undefined) emitUpgrade(relayed, conn);
  }

  #rememberUpgrade(s: TargetSession): void {
    if (!s.upgrade) return;
    const now = performance.now();
    for (const [key, until] of this.#upgradeFrom) if (until < now) this.#upgradeFrom.delete(key);
    for (const r of s.punch.reached) if (this.#upgradeFrom.size < MAX_UPGRADE_MEMORY) this.#upgradeFrom.set(addressKey(r), now + UPGRADE_MEMORY_MS);
  }

  /** The socket closes: every session and registration ends quietly. */
  close(): void {
    this.#closed = true;
    for (const [conn, sessions] of this.#targets) {
      for (const s of [...sessions.values()]) this.#endTarget(s, false);
      this.#targets.delete(conn);
    }
    for (const dials of this.#dials.values()) for (const d of [...dials.values()]) d._end(new QuicError('ERR_QUIC_SOCKET_CLOSED', 'The socket closed during the dial'));
    for (const p of this.#byToken.values()) p.stop();
    this.#byToken.clear();
  }
}
