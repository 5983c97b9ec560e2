// One side's hole punching for one dial by key: punches toward the other
// peer's candidates, first with a low TTL, then (after the rendezvous's go)
// at full TTL every `interval` ms; and the punches that arrive from the other
// peer, which tell which of its addresses works (ICE's connectivity check,
// with punch packets instead of STUN).
//
// The recipe for conntrack NATs (docs/peer-to-peer.md, "Hole punching"): a low-TTL punch
// leaves this side's NAT, creating its mapping toward the peer with the
// source port kept, and expires before the peer's NAT, where it could
// otherwise create state that makes that NAT remap the peer's own packets.
// Only when both sides have done this (both told the rendezvous "ready")
// do full punches go out.
//
// Bounded: punches go only to the candidates the peer announced and at most
// MAX_PEER_REFLEXIVE addresses its punches came from; every send draws on the
// socket's PunchBudget.
import type { Address } from '../types';
import { addressKey, MAX_PEER_REFLEXIVE } from './candidates';
import { punchPacket } from './punch';
import type { Candidate } from './signal';

/** Low-TTL rounds, and the gap between them. */
const LOW_TTL_ROUNDS = 3;
const LOW_TTL_GAP_MS = 10;
export const PUNCH_INTERVAL_MS = 50;

/** Sends one punch; false when it could not be sent (budget, TTL unsupported, closed). */
export type PunchSend = (packet: Buffer, to: Address, ttl?: number) => boolean;

/**
 * A socket's punch rate limit (token bucket): whatever a rendezvous asks, a
 * socket sends at most `rate` punches per second (bursts of `burst`).
 */
export class PunchBudget {
  #tokens: number;
  #at = performance.now();

  constructor(
    readonly rate = 400,
    readonly burst = 200,
  ) {
    this.#tokens = burst;
  }

  take(): boolean {
    const now = performance.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.rate);
    this.#at = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

export class PunchSession {
  readonly packet: Buffer;
  readonly #send: PunchSend;
  readonly #targets: Candidate[];
  readonly #known = new Set<string>();
  readonly #answered = new Set<string>();
  #learned = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  /** Addresses the peer's punches came from, first first. */
  readonly reached: Address[] = [];
  #onReached: ((from: Address) => void) | undefined;

  constructor(send: PunchSend, token: Buffer, candidates: Candidate[], onReached?: (from: Address) => void) {
    this.#send = send;
    this.packet = punchPacket(token);
    this.#targets = [...candidates];
    for (const c of candidates) this.#known.add(addressKey(c));
    this.#onReached = onReached;
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  get candidates(): readonly Candidate[] {
    return this.#targets;
  }

  set onReached(fn: (from: Address) => void) {
    this.#onReached = fn;
  }

  /**
   * Low-TTL punches to every candidate, LOW_TTL_ROUNDS times. Resolves with
   * whether any could be sent with that TTL (not where the socket cannot
   * limit the TTL toward the candidate: then the step is skipped).
   */
  async lowTtl(ttl: number): Promise<boolean> {
    let sent = false;
    for (let round = 0; round < LOW_TTL_ROUNDS && !this.#stopped; round++) {
      if (round > 0) await sleep(LOW_TTL_GAP_MS);
      for (const c of this.#targets) if (!this.#stopped && this.#send(this.packet, c, ttl)) sent = true;
    }
    return sent;
  }

  /** Full-TTL punches to every candidate every `interval` ms for `duration` ms (or until stopped). */
  start(duration: number, interval = PUNCH_INTERVAL_MS): void {
    if (this.#stopped || this.#timer !== undefined) return;
    const until = performance.now() + duration;
    const round = (): void => {
      this.#timer = undefined;
      if (this.#stopped) return;
      for (const c of this.#targets) this.#send(this.packet, c);
      if (performance.now() + interval <= until) this.#timer = setTimeout(round, interval).unref();
    };
    round();
  }

  /**
   * A punch with this session's token arrived from `from`: that address of
   * the peer reaches us. It is answered once at once (so the peer learns the
   * path without waiting for the next round), and, if the peer did not
   * announce it (a NAT that picked a new port), punched from now on too.
   */
  onPunch(from: Address): void {
    if (this.#stopped) return;
    const key = addressKey(from);
    if (!this.#known.has(key)) {
      if (this.#learned >= MAX_PEER_REFLEXIVE) return;
      this.#learned++;
      this.#known.add(key);
      this.#targets.push({ kind: 'prflx', address: from.address, port: from.port, family: from.family });
    }
    if (!this.#answered.has(key)) {
      this.#answered.add(key);
      this.#send(this.packet, from);
      this.reached.push(from);
      this.#onReached?.(from);
    }
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
