// The rendezvous (`listen({ rendezvous })`): peers register under their
// certificate's fingerprint; a dialer asks for one of them, and the
// rendezvous introduces the two (each one's host candidates plus the address
// the rendezvous sees it at), then coordinates their punching: each tells it
// "ready" once its low-TTL punches are out, and it tells both "go" once both
// are. It never sees application data, and it cannot make a dialer accept an
// impostor: the dialer checks the target's certificate fingerprint end to end.
//
// Bounded: at most `maxPeers` registered peers, MAX_SESSIONS_PER_CONNECTION
// dials open per dialer connection, each session ended after SESSION_TTL_MS.
import type { QuicConnection } from '../connection';
import { debug } from '../debug';
import { peerInfo } from '../tls/peer-verification';
import { certificateFingerprint } from '../tls/certificates';
import type { PeerInfo, RendezvousOptions } from '../types';
import { announced, withReflexive } from './candidates';
import { type Candidate, type Message, Reason, Role, Status, Type } from './signal';
import { sendSignal } from './transport';

export const DEFAULT_MAX_PEERS = 1024;
const MAX_SESSIONS_PER_CONNECTION = 8;
/** A session (introduction and go) lives at most this long. */
const SESSION_TTL_MS = 30_000;

interface Registered {
  conn: QuicConnection;
  hosts: Candidate[];
  relay: boolean;
}

interface Session {
  id: number;
  dialer: QuicConnection;
  dialerSession: number;
  target: QuicConnection;
  /** The target accepted (ACCEPT). */
  accepted: boolean;
  ready: [dialer: boolean, target: boolean];
  timer: NodeJS.Timeout;
}

type Hooks = Pick<RendezvousOptions, 'allow'> & { maxPeers: number; verifyPeer: boolean };

export class RendezvousService {
  #hooks: Hooks;
  readonly #peers = new Map<string, Registered>();
  readonly #fingerprintOf = new Map<QuicConnection, string>();
  readonly #sessions = new Map<number, Session>();
  /** Per dialer connection: its session numbers → ours. */
  readonly #dials = new Map<QuicConnection, Map<number, number>>();
  readonly #watched = new WeakSet<QuicConnection>();
  #nextId = 1;

  constructor(hooks: Hooks) {
    this.#hooks = hooks;
  }

  /** New options (`setSecureContext`); registrations stay. */
  configure(hooks: Hooks): void {
    this.#hooks = hooks;
  }

  /** Registered peers now. */
  get peerCount(): number {
    return this.#peers.size;
  }

  onMessage(conn: QuicConnection, m: Message): void {
    switch (m.type) {
      case Type.Register:
        return this.#register(conn, m.candidates);
      case Type.Dial:
        return void this.#dial(conn, m);
      case Type.Accept:
        return this.#accept(conn, m.session, m.candidates);
      case Type.Decline: {
        const s = this.#targetSession(conn, m.session);
        if (s) this.#end(s, Reason.Declined, 'dialer');
        return;
      }
      case Type.Ready:
        return this.#ready(conn, m.role, m.session);
      case Type.Cancel: {
        const s = m.role === Role.Dialer ? this.#dialerSession(conn, m.session) : this.#targetSession(conn, m.session);
        if (s) this.#end(s, m.role === Role.Dialer ? Reason.Cancelled : Reason.Declined, m.role === Role.Dialer ? 'target' : 'dialer');
        return;
      }
      default:
        return;
    }
  }

  #watch(conn: QuicConnection): void {
    if (this.#watched.has(conn)) return;
    this.#watched.add(conn);
    void conn.closed.then(() => this.#drop(conn));
  }

  #register(conn: QuicConnection, candidates: Candidate[]): void {
    const reflexive = { kind: 'srflx' as const, ...conn.remoteAddress };
    const leaf = conn.peerCertificates[0];
    if (leaf === undefined) {
      sendSignal(conn, { type: Type.Registered, status: Status.NoCertificate, relay: false, reflexive });
      return;
    }
    const fingerprint = certificateFingerprint(leaf);
    const previous = this.#peers.get(fingerprint);
    if (previous === undefined && this.#peers.size >= this.#hooks.maxPeers) {
      sendSignal(conn, { type: Type.Registered, status: Status.Full, relay: false, reflexive });
      return;
    }
    // A newer registration of the same identity wins (the relay does the same).
    if (previous !== undefined && previous.conn !== conn) this.#fingerprintOf.delete(previous.conn);
    const earlier = this.#fingerprintOf.get(conn);
    if (earlier !== undefined && earlier !== fingerprint) this.#peers.delete(earlier);
    let relay = false;
    try {
      relay = conn.socket._endpoint.relayAddTarget(conn.handle);
    } catch {
      // The connection ended meanwhile; its close event cleans up.
    }
    this.#peers.set(fingerprint, { conn, hosts: announced(candidates).map((c) => ({ ...c, kind: 'host' })), relay });
    this.#fingerprintOf.set(conn, fingerprint);
    this.#watch(conn);
    debug('rendezvous: %s registered from %s:%d', fingerprint.slice(0, 16), reflexive.address, reflexive.port);
    sendSignal(conn, { type: Type.Registered, status: Status.Ok, relay, reflexive });
  }

  #peerInfo(conn: QuicConnection): PeerInfo {
    return peerInfo(conn.peerCertificates, this.#hooks.verifyPeer, conn.remoteAddress);
  }

  async #dial(conn: QuicConnection, m: Extract<Message, { type: Type.Dial }>): Promise<void> {
    const fail = (reason: Reason): void => void sendSignal(conn, { type: Type.End, role: Role.Dialer, session: m.session, reason });
    let dials = this.#dials.get(conn);
    if (dials?.has(m.session) || (dials?.size ?? 0) >= MAX_SESSIONS_PER_CONNECTION) return fail(Reason.Busy);
    const target = this.#peers.get(m.target);
    if (target === undefined) return fail(Reason.UnknownPeer);
    if (target.conn === conn) return fail(Reason.Declined);
    // Hold the dialer's session number while the policy decides.
    dials ??= new Map();
    this.#dials.set(conn, dials);
    dials.set(m.session, 0);
    this.#watch(conn);
    const allowed = await this.#allow(conn, target.conn);
    if (dials.get(m.session) !== 0) return; // the dialer cancelled, or left
    dials.delete(m.session);
    if (!allowed) return fail(Reason.Denied);
    if (conn.destroyed) return;
    if (target.conn.destroyed || this.#peers.get(m.target) !== target) return fail(Reason.UnknownPeer);
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0xffffffff ? 1 : this.#nextId + 1;
    const session: Session = {
      id,
      dialer: conn,
      dialerSession: m.session,
      target: target.conn,
      accepted: false,
      ready: [false, false],
      timer: setTimeout(() => this.#end(session, Reason.Timeout, 'both'), SESSION_TTL_MS).unref(),
    };
    this.#sessions.set(id, session);
    dials.set(m.session, id);
    const leaf = conn.peerCertificates[0];
    sendSignal(target.conn, {
      type: Type.Incoming,
      session: id,
      token: m.token,
      dialer: leaf === undefined ? undefined : certificateFingerprint(leaf),
      punchTime: m.punchTime,
      upgrade: m.upgrade,
      candidates: withReflexive(announced(m.candidates), conn.remoteAddress),
    });
  }

  /** The `allow` policy's answer; false when it throws, rejects or takes longer than a session may live. */
  async #allow(dialer: QuicConnection, target: QuicConnection): Promise<boolean> {
    const allow = this.#hooks.allow;
    if (allow === undefined) return true;
    let timer: NodeJS.Timeout | undefined;
    try {
      const verdict = Promise.resolve(allow(this.#peerInfo(dialer), this.#peerInfo(target)));
      const late = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), SESSION_TTL_MS).unref();
      });
      return (await Promise.race([verdict, late])) === true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  #targetSession(conn: QuicConnection, id: number): Session | undefined {
    const s = this.#sessions.get(id);
    return s?.target === conn ? s : undefined;
  }

  #dialerSession(conn: QuicConnection, id: number): Session | undefined {
    const ours = this.#dials.get(conn)?.get(id);
    if (ours === 0) {
      // Cancelled while the policy decides: forget it, the policy's answer is ignored.
      this.#dials.get(conn)?.delete(id);
      return undefined;
    }
    return ours === undefined ? undefined : this.#sessions.get(ours);
  }

  #accept(conn: QuicConnection, id: number, candidates: Candidate[]): void {
    const s = this.#targetSession(conn, id);
    if (s === undefined || s.accepted) return;
    s.accepted = true;
    const fingerprint = this.#fingerprintOf.get(conn);
    const relay = fingerprint !== undefined && this.#peers.get(fingerprint)?.relay === true;
    sendSignal(s.dialer, {
      type: Type.Answer,
      session: s.dialerSession,
      relay,
      candidates: withReflexive(announced(candidates), conn.remoteAddress),
    });
  }

  #ready(conn: QuicConnection, role: Role, id: number): void {
    const s = role === Role.Dialer ? this.#dialerSession(conn, id) : this.#targetSession(conn, id);
    if (s === undefined || !s.accepted) return;
    s.ready[role] = true;
    if (!s.ready[0] || !s.ready[1]) return;
    debug('rendezvous: go for session %d', s.id);
    sendSignal(s.dialer, { type: Type.Go, role: Role.Dialer, session: s.dialerSession });
    sendSignal(s.target, { type: Type.Go, role: Role.Target, session: s.id });
  }

  /** Ends a session, telling `tell` about it. */
  #end(s: Session, reason: Reason, tell: 'dialer' | 'target' | 'both'): void {
    if (this.#sessions.get(s.id) !== s) return;
    this.#sessions.delete(s.id);
    clearTimeout(s.timer);
    this.#dials.get(s.dialer)?.delete(s.dialerSession);
    if (tell !== 'target') sendSignal(s.dialer, { type: Type.End, role: Role.Dialer, session: s.dialerSession, reason });
    if (tell !== 'dialer') sendSignal(s.target, { type: Type.End, role: Role.Target, session: s.id, reason });
  }

  /** A connection ended: its registration and its sessions go; the other side of each session is told. */
  #drop(conn: QuicConnection): void {
    const fingerprint = this.#fingerprintOf.get(conn);
    this.#fingerprintOf.delete(conn);
    if (fingerprint !== undefined && this.#peers.get(fingerprint)?.conn === conn) this.#peers.delete(fingerprint);
    this.#dials.delete(conn);
    for (const s of [...this.#sessions.values()]) {
      if (s.dialer === conn) this.#end(s, Reason.Cancelled, 'target');
      else if (s.target === conn) this.#end(s, Reason.TargetGone, 'dialer');
    }
  }

  /** The server closes: every session ends. */
  close(): void {
    for (const s of [...this.#sessions.values()]) {
      this.#sessions.delete(s.id);
      clearTimeout(s.timer);
    }
    this.#dials.clear();
    this.#peers.clear();
    this.#fingerprintOf.clear();
  }
}
