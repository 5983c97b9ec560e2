// `socket.dial({ peer, via })`: reaching a peer by its certificate's
// fingerprint, ICE-style (docs/peer-to-peer.md, "Reaching peers by key").
//
// For each rendezvous in `via`, in order, until one works:
//   1. DIAL through the rendezvous, with this socket's host candidates; the
//      answer brings the target's candidates (its host addresses and the
//      address the rendezvous sees it at), or why it cannot be dialed.
//   2. Low-TTL punches to every candidate (they open this side's NAT
//      without creating state at the target's), READY; the rendezvous sends
//      GO once both sides are ready.
//   3. Full punches every 50 ms; each address the target's punches come from
//      is a working path: connect there, the target's certificate pinned
//      by its fingerprint (an impostor fails the handshake and the next
//      path is tried), until `punchTimeout` ms after the answer.
//   4. Otherwise a relayed connection through the same rendezvous, and in
//      the background further direct attempts: the first that opens is
//      handed over as 'upgrade' on the relayed connection.
import type { QuicConnection } from '../connection';
import { debug } from '../debug';
import { QuicError } from '../errors';
import type { QuicSocket } from '../socket';
import type { Address, ConnectOptions, DialOptions } from '../types';
import { type Answer, DEFAULT_PUNCH_TTL, type DialSignal, emitUpgrade, type P2pAgent } from './agent';
import { usableCandidates } from './candidates';
import { PunchSession } from './punching';
import type { Candidate } from './signal';

export const DEFAULT_PUNCH_TIMEOUT = 3000;
/** When background upgrade attempts start, after the relayed connection opened (ms, one attempt each). */
export const UPGRADE_DELAYS_MS = [250, 5000, 15_000, 30_000];
/** The shortest handshake timeout a direct attempt gets. */
const MIN_HANDSHAKE_MS = 300;

/** Failure codes of a dial, most telling first: the dial's error is the first that occurred on any rendezvous. */
const PRIORITY = ['ERR_QUIC_DIAL_FAILED', 'ERR_QUIC_DIAL_REFUSED', 'ERR_QUIC_PEER_UNKNOWN', 'ERR_QUIC_RENDEZVOUS_GONE', 'ERR_QUIC_RENDEZVOUS_UNAVAILABLE'];

/** A relayed connection's failure, as a dial failure. */
const FROM_RELAY: Record<string, string> = {
  ERR_QUIC_RELAY_PEER_UNKNOWN: 'ERR_QUIC_PEER_UNKNOWN',
  ERR_QUIC_RELAY_DENIED: 'ERR_QUIC_DIAL_REFUSED',
  ERR_QUIC_RELAY_CLOSED: 'ERR_QUIC_RENDEZVOUS_GONE',
  ERR_QUIC_CONNECTION_CLOSED: 'ERR_QUIC_RENDEZVOUS_GONE',
};

interface Dial {
  socket: QuicSocket;
  agent: P2pAgent;
  peer: string;
  opts: DialOptions;
  /** Options for the connections themselves (direct or relayed). */
  connect: Omit<ConnectOptions, 'host' | 'port' | 'via' | 'peer'>;
}

function now(): number {
  return performance.now();
}

function aborted(): QuicError {
  return new QuicError('ABORT_ERR', 'The dial was aborted');
}

/** `promise` settled within `ms`: its value, or undefined after `ms` (rejections pass through). */
function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms)).unref();
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function connectOptions(opts: DialOptions): Dial['connect'] {
  const { peer: _peer, via: _via, punchTimeout: _pt, relay: _relay, punchTtl: _ttl, upgrade: _upgrade, ...rest } = opts;
  return rest;
}

/** One connection attempt to `to`, the target pinned by fingerprint; undefined when it fails. */
async function attempt(d: Dial, to: Address, ms: number): Promise<QuicConnection | undefined> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), ms).unref();
  const user = d.opts.signal;
  const onAbort = (): void => controller.abort();
  user?.addEventListener('abort', onAbort, { once: true });
  try {
    return await d.socket._connect({ ...d.connect, host: to.address, port: to.port, timeout: Math.ceil(Math.max(ms, MIN_HANDSHAKE_MS)), signal: controller.signal }, false, false, d.peer);
  } catch (err) {
    if (user?.aborted) throw aborted();
    debug('p2p: direct attempt to %s:%d failed: %s', to.address, to.port, (err as Error).message);
    return undefined;
  } finally {
    clearTimeout(timer);
    user?.removeEventListener('abort', onAbort);
  }
}

/**
 * Steps 2 and 3: punching toward `candidates` and connecting to the first
 * address of the target that punches back. Undefined when no direct
 * connection opened by `deadline`; rejects when the signalling failed
 * before go (the rendezvous or the target went away).
 */
async function punchAndConnect(d: Dial, signal: DialSignal, candidates: Candidate[], deadline: number): Promise<QuicConnection | undefined> {
  if (candidates.length === 0) return undefined;
  let wake: () => void = () => {};
  const punch = new PunchSession(d.agent.send, signal.token, candidates, () => wake());
  const untrack = d.agent.track(punch);
  const woken = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  try {
    let reached = woken();
    await punch.lowTtl(d.opts.punchTtl ?? DEFAULT_PUNCH_TTL);
    signal.ready();
    // Full punches once both sides are ready (go), or as soon as the
    // target's punches arrive: it had its go, so both NATs are open.
    const started = Promise.race([signal.go, reached]).then(() => true);
    if ((await within(started, deadline - now())) === undefined && punch.reached.length === 0) return undefined;
    punch.start(deadline - now());
    for (let tried = 0; ; ) {
      while (tried < punch.reached.length) {
        const to = punch.reached[tried++];
        const left = deadline - now();
        if (left <= 0) return undefined;
        const conn = await attempt(d, to, left);
        if (conn) return conn;
      }
      reached = woken();
      if (punch.reached.length > tried) continue;
      const left = deadline - now();
      if (left <= 0) return undefined;
      await within(reached, left);
      if (d.opts.signal?.aborted) throw aborted();
    }
  } finally {
    untrack();
  }
}

/**
 * Steps 1-3 through `via`. Resolves with the direct connection (if one
 * opened) and the rendezvous's answer; rejects when the dial cannot go on
 * through this rendezvous at all.
 */
async function directThrough(d: Dial, via: QuicConnection, punchTimeout: number, upgrade: boolean): Promise<{ conn?: QuicConnection; answer: Answer }> {
  const signal = d.agent.openDial(via, d.peer, punchTimeout, upgrade);
  const onAbort = (): void => signal._end(aborted());
  d.opts.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const answer = await signal.answer;
    const deadline = now() + punchTimeout;
    const candidates = usableCandidates(answer.candidates, d.socket.address, d.agent.allowLoopback(via));
    debug('p2p: dial %d answered: %d usable candidates, relay %s', signal.session, candidates.length, answer.relay);
    const conn = await punchAndConnect(d, signal, candidates, deadline);
    return { conn, answer };
  } finally {
    d.opts.signal?.removeEventListener('abort', onAbort);
    // Ends the session at the rendezvous, which tells the target to stop.
    signal.cancel();
  }
}

async function relayedThrough(d: Dial, via: QuicConnection): Promise<QuicConnection> {
  try {
    return await d.socket._connect({ ...d.connect, via, peer: d.peer }, false);
  } catch (err) {
    const code = (err as QuicError).code;
    if (code === 'ABORT_ERR') throw err;
    const mapped = FROM_RELAY[code] ?? 'ERR_QUIC_DIAL_FAILED';
    throw new QuicError(mapped, `no relayed connection: ${(err as Error).message}`);
  }
}

function failure(failures: QuicError[]): QuicError {
  const code = PRIORITY.find((c) => failures.some((f) => f.code === c)) ?? 'ERR_QUIC_DIAL_FAILED';
  const detail = failures.map((f, i) => `rendezvous ${i + 1}: ${f.message}`).join('; ');
  return new QuicError(code, `The dial failed (${detail})`);
}

function asQuicError(err: unknown): QuicError {
  if (err instanceof QuicError) return err;
  return new QuicError('ERR_QUIC_DIAL_FAILED', err instanceof Error ? err.message : String(err));
}

export async function dial(socket: QuicSocket, agent: P2pAgent, opts: DialOptions): Promise<QuicConnection> {
  const d: Dial = { socket, agent, peer: opts.peer.toLowerCase(), opts, connect: connectOptions(opts) };
  const vias = Array.isArray(opts.via) ? opts.via : [opts.via];
  const punchTimeout = opts.punchTimeout ?? DEFAULT_PUNCH_TIMEOUT;
  const failures: QuicError[] = [];
  // Punching does not depend on the rendezvous beyond the introduction:
  // once it failed through one, later ones only try their relay.
  let punched = punchTimeout === 0;
  for (const via of vias) {
    if (opts.signal?.aborted) throw aborted();
    if (socket.closed) throw new QuicError('ERR_QUIC_SOCKET_CLOSED', 'The socket closed during the dial');
    if (via.destroyed) {
      failures.push(new QuicError('ERR_QUIC_RENDEZVOUS_GONE', 'the connection to the rendezvous is closed'));
      continue;
    }
    let relay = true;
    if (!punched) {
      try {
        const r = await directThrough(d, via, punchTimeout, false);
        if (r.conn) return r.conn;
        punched = true;
        relay = r.answer.relay;
        failures.push(new QuicError('ERR_QUIC_DIAL_FAILED', `no direct path within ${punchTimeout} ms${relay && opts.relay !== false ? '' : ' and no relay'}`));
      } catch (err) {
        if (opts.signal?.aborted || (err as QuicError).code === 'ABORT_ERR') throw aborted();
        failures.push(asQuicError(err));
        continue;
      }
    }
    if (opts.relay === false || !relay) continue;
    try {
      const conn = await relayedThrough(d, via);
      if (opts.upgrade !== false) upgradeInBackground(d, conn, via);
      return conn;
    } catch (err) {
      if (opts.signal?.aborted || (err as QuicError).code === 'ABORT_ERR') throw aborted();
      failures.push(asQuicError(err));
    }
  }
  if (socket.closed) throw new QuicError('ERR_QUIC_SOCKET_CLOSED', 'The socket closed during the dial');
  throw failure(failures);
}

/**
 * Keeps trying for a direct path behind a relayed connection, at
 * UPGRADE_DELAYS_MS, while the application listens for 'upgrade'; the first
 * direct connection is emitted as 'upgrade'. Ends with the relayed
 * connection, the rendezvous connection or the socket.
 */
function upgradeInBackground(d: Dial, relayed: QuicConnection, via: QuicConnection): void {
  const punchTimeout = d.opts.punchTimeout || DEFAULT_PUNCH_TIMEOUT;
  const background: Dial = { ...d, opts: { ...d.opts, signal: undefined }, connect: { ...d.connect, signal: undefined } };
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    stopped = true;
    clearTimeout(timer);
  };
  void relayed.closed.then(stop);
  void via.closed.then(stop);
  let round = 0;
  const schedule = (): void => {
    if (stopped || round >= UPGRADE_DELAYS_MS.length) return;
    timer = setTimeout(() => void run(), UPGRADE_DELAYS_MS[round++]).unref();
  };
  const run = async (): Promise<void> => {
    if (stopped || d.socket.closed) return;
    // Nobody would take the direct connection: the target would see one come and go.
    if (relayed.listenerCount('upgrade') === 0) return schedule();
    try {
      const { conn } = await directThrough(background, via, punchTimeout, true);
      if (conn !== undefined) {
        if (stopped || relayed.listenerCount('upgrade') === 0) {
          void conn.close();
        } else {
          stop();
          debug('p2p: relayed connection %d upgraded to direct connection %d', relayed.handle, conn.handle);
          emitUpgrade(relayed, conn);
        }
        return;
      }
    } catch (err) {
      debug('p2p: upgrade attempt failed: %s', (err as Error).message);
    }
    schedule();
  };
  schedule();
}
