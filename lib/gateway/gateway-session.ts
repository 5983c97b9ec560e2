// One page's UDP presence at the gateway: a WebTransport session and its own
// UDP socket(s) (one per address family it sends to, bound to a free port).
// Datagrams from the page go out one for one to the destinations the policy
// allows, within the session's rate limits; datagrams come back only from
// destinations the session sent to within `mappingTimeout` (address- and
// port-dependent filtering, RFC 4787 §5). A session that keeps breaking the
// rules, idles or loses its socket is closed with a code from
// UDP_GATEWAY_CLOSE_CODES.
import * as dgram from 'node:dgram';
import type { RemoteInfo } from 'node:dgram';
import { debug } from '../debug';
import { UDP_GATEWAY_CLOSE_CODES } from './options';
import type { GatewayConfig, UdpGatewayDrops, UdpGatewaySessionInfo, UdpGatewayStats, UdpGatewayTarget } from './options';
import { rulesAllow, specialRange } from './target-policy';
import { TokenBucket } from './token-bucket';
import { decodeDatagram, encodeHeader, formatIp, MAX_UDP_PAYLOAD, parseIp } from './udp-gateway-client';

/** What the gateway needs of a WebTransport session; nquic's `WebTransportSession` has it. */
export interface GatewayTransport {
  readonly path: string;
  readonly origin?: string;
  readonly headers: Record<string, string>;
  on(event: 'datagram', listener: (data: Uint8Array) => void): unknown;
  /** Queues a datagram; false when the queue is full (dropped); throws `ERR_QUIC_DATAGRAM_TOO_LARGE` above the session's `maxDatagramSize`. */
  sendDatagram(data: Uint8Array): boolean;
  close(opts?: { code?: number; reason?: string }): Promise<void>;
  /** Settles once the session has ended, from either side. */
  readonly closed: Promise<unknown>;
}

/** What the sessions of one gateway share. */
export interface SessionContext {
  readonly config: GatewayConfig;
  /** The gateway's counters, which sessions update in place. */
  readonly stats: UdpGatewayStats;
  /** Monotonic clock, ms. */
  now(): number;
  /** The session ended (from either side); called once. */
  onEnd(session: GatewaySession): void;
}

/** Datagrams at most waiting for asynchronous `allow` verdicts, per session. */
export const MAX_BACKLOG = 64;
/** Rule-breaking datagrams a session may send in a burst, and per second for longer. */
export const VIOLATION_BURST = 100;
export const VIOLATION_RATE = 10;

type Family = 'IPv4' | 'IPv6';

interface Target extends UdpGatewayTarget {
  /** Family byte, address and port: the header of replies to the page. */
  header: Uint8Array;
  /** Until when replies are let in (ms, the context's clock); 0 while the verdict is pending. */
  expires: number;
  /** Datagrams waiting for an asynchronous verdict. */
  pending?: Uint8Array[];
}

interface Limits {
  packets: TokenBucket | undefined;
  bytes: TokenBucket | undefined;
}

function limits(config: GatewayConfig, now: number): Limits {
  return {
    packets: config.maxPacketRate > 0 ? new TokenBucket(config.maxPacketRate, config.maxPacketRate, now) : undefined,
    bytes: config.maxByteRate > 0 ? new TokenBucket(config.maxByteRate, Math.max(config.maxByteRate, MAX_UDP_PAYLOAD), now) : undefined,
  };
}

/** Takes one packet and `size` bytes from `limits`, or nothing when either is short. */
function withinLimits(limits: Limits, size: number, now: number): boolean {
  if (limits.packets && !limits.packets.has(1, now)) return false;
  if (limits.bytes && !limits.bytes.take(size, now)) return false;
  limits.packets?.take(1, now);
  return true;
}

function targetKey(address: string, port: number): string {
  return `${address} ${port}`;
}

export class GatewaySession {
  readonly #transport: GatewayTransport;
  readonly #context: SessionContext;
  readonly #info: UdpGatewaySessionInfo;
  readonly #targets = new Map<string, Target>();
  /** Per family: the socket, or null once it failed to bind (the family is unusable). */
  readonly #sockets: Partial<Record<Family, dgram.Socket | null>> = {};
  readonly #outgoing: Limits;
  readonly #incoming: Limits;
  readonly #violations: TokenBucket;
  #backlog = 0;
  #lastActivity: number;
  #idleTimer: NodeJS.Timeout | undefined;
  #ended = false;

  constructor(transport: GatewayTransport, context: SessionContext) {
    this.#transport = transport;
    this.#context = context;
    this.#info = { path: transport.path, origin: transport.origin, headers: transport.headers };
    const now = context.now();
    this.#outgoing = limits(context.config, now);
    this.#incoming = limits(context.config, now);
    this.#violations = new TokenBucket(VIOLATION_RATE, VIOLATION_BURST, now);
    this.#lastActivity = now;
    transport.on('datagram', (data) => this.#onDatagram(data));
    const ended = (): void => this.#cleanup();
    transport.closed.then(ended, ended);
    if (context.config.idleTimeout > 0) this.#armIdle(context.config.idleTimeout);
  }

  /** Closes the session with `code` (UDP_GATEWAY_CLOSE_CODES) and `reason`; idempotent. */
  close(code: number, reason: string): void {
    if (this.#ended) return;
    debug('udp gateway: closing session %s (code %d, %s)', this.#transport.path, code, reason);
    const { stats } = this.#context;
    if (code === UDP_GATEWAY_CLOSE_CODES.VIOLATIONS) stats.sessionsClosedForViolations++;
    if (code === UDP_GATEWAY_CLOSE_CODES.IDLE) stats.sessionsClosedIdle++;
    this.#cleanup();
    this.#transport.close({ code, reason }).catch(() => {});
  }

  #cleanup(): void {
    if (this.#ended) return;
    this.#ended = true;
    clearTimeout(this.#idleTimer);
    for (const socket of Object.values(this.#sockets)) if (socket) this.#closeSocket(socket);
    this.#targets.clear();
    this.#context.onEnd(this);
  }

  #closeSocket(socket: dgram.Socket): void {
    this.#context.stats.udpSockets--;
    socket.removeAllListeners('message');
    try {
      socket.close();
    } catch {
      // Already closed (a failed bind closes it).
    }
  }

  #armIdle(delay: number): void {
    this.#idleTimer = setTimeout(() => {
      const idle = this.#context.now() - this.#lastActivity;
      const timeout = this.#context.config.idleTimeout;
      if (idle >= timeout) this.close(UDP_GATEWAY_CLOSE_CODES.IDLE, `no datagram for ${timeout} ms`);
      else this.#armIdle(timeout - idle);
    }, delay);
    this.#idleTimer.unref();
  }

  #drop(reason: keyof UdpGatewayDrops): void {
    this.#context.stats.drops[reason]++;
  }

  /** A datagram from the page broke a rule: dropped, and the session closed if it keeps doing so. */
  #violation(reason: keyof UdpGatewayDrops, now: number): void {
    this.#drop(reason);
    if (!this.#violations.take(1, now)) {
      this.close(UDP_GATEWAY_CLOSE_CODES.VIOLATIONS, `too many datagrams dropped (the last one: ${reason})`);
    }
  }

  #onDatagram(datagram: Uint8Array): void {
    if (this.#ended) return;
    const now = this.#context.now();
    this.#lastActivity = now;
    const decoded = decodeDatagram(datagram);
    if (decoded === null) return this.#violation('malformed', now);
    const { data } = decoded;
    if (!withinLimits(this.#outgoing, data.byteLength, now)) return this.#violation('rateLimited', now);
    const key = targetKey(decoded.address, decoded.port);
    let target = this.#targets.get(key);
    if (target?.pending) {
      if (this.#backlog >= MAX_BACKLOG) return this.#violation('backlog', now);
      target.pending.push(data);
      this.#backlog++;
      return;
    }
    if (target !== undefined && target.expires > now) return this.#send(target, data, now);
    if (target !== undefined) this.#targets.delete(key);
    if (this.#targets.size >= this.#context.config.maxTargets) {
      this.#sweep(now);
      if (this.#targets.size >= this.#context.config.maxTargets) return this.#violation('targetLimit', now);
    }
    const bytes = parseIp(decoded.address)!;
    target = {
      address: decoded.address,
      port: decoded.port,
      family: decoded.family,
      header: encodeHeader(bytes, decoded.port),
      expires: 0,
    };
    const range = specialRange(bytes)?.range;
    if (range !== undefined) target.range = range;
    const verdict = this.#decide(target, bytes);
    if (verdict === false) return this.#violation('refused', now);
    this.#targets.set(key, target);
    if (verdict === true) return this.#send(target, data, now);
    target.pending = [data];
    this.#backlog++;
    void verdict.then((allowed) => this.#settle(key, target, allowed));
  }

  /** The policy's verdict on `target`: a boolean, or a promise of one that never rejects. */
  #decide(target: Target, bytes: Uint8Array): boolean | Promise<boolean> {
    const { allow } = this.#context.config;
    if (typeof allow !== 'function') return rulesAllow(allow, bytes, target.port);
    const shown: UdpGatewayTarget = { address: target.address, port: target.port, family: target.family };
    if (target.range !== undefined) shown.range = target.range;
    try {
      const verdict = allow(shown, this.#info);
      if (typeof verdict === 'boolean') return verdict;
      return Promise.resolve(verdict).then(
        (v) => v === true,
        () => false,
      );
    } catch {
      return false;
    }
  }

  #settle(key: string, target: Target, allowed: boolean): void {
    const queued = target.pending ?? [];
    target.pending = undefined;
    this.#backlog -= queued.length;
    if (this.#ended) return;
    const now = this.#context.now();
    if (allowed) {
      for (const data of queued) this.#send(target, data, now);
      return;
    }
    this.#targets.delete(key);
    for (let i = 0; i < queued.length && !this.#ended; i++) this.#violation('refused', now);
  }

  /** Forgets destinations whose mappings expired. */
  #sweep(now: number): void {
    for (const [key, target] of this.#targets) {
      if (target.pending === undefined && target.expires <= now) this.#targets.delete(key);
    }
  }

  #send(target: Target, data: Uint8Array, now: number): void {
    target.expires = now + this.#context.config.mappingTimeout;
    const socket = this.#socket(target.family);
    if (socket === null) return this.#drop('sendFailed');
    const { stats } = this.#context;
    socket.send(data, target.port, target.address, (err) => {
      if (err) {
        debug('udp gateway: send to %s:%d failed: %s', target.address, target.port, err.message);
        stats.drops.sendFailed++;
      } else {
        stats.packetsToUdp++;
        stats.bytesToUdp += data.byteLength;
      }
    });
  }

  /** The session's socket for `family`, bound on first use; null when that family is unusable here. */
  #socket(family: Family): dgram.Socket | null {
    const existing = this.#sockets[family];
    if (existing !== undefined) return existing;
    const socket = dgram.createSocket({ type: family === 'IPv4' ? 'udp4' : 'udp6', ipv6Only: family === 'IPv6' });
    let bound = false;
    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => this.#onMessage(msg, rinfo, family));
    socket.once('listening', () => {
      bound = true;
    });
    socket.on('error', (err: Error) => {
      if (this.#sockets[family] !== socket) return;
      debug('udp gateway: %s socket error: %s', family, err.message);
      if (bound) {
        this.close(UDP_GATEWAY_CLOSE_CODES.UDP_SOCKET_ERROR, `UDP socket error: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
        return;
      }
      // It could not bind (no IPv6 here, say): drop datagrams to this family.
      this.#sockets[family] = null;
      this.#closeSocket(socket);
    });
    socket.bind(0);
    this.#context.stats.udpSockets++;
    this.#sockets[family] = socket;
    return socket;
  }

  #onMessage(msg: Buffer, rinfo: RemoteInfo, family: Family): void {
    if (this.#ended) return;
    const now = this.#context.now();
    let address = rinfo.address;
    if (family === 'IPv6') {
      // Node writes some IPv6 addresses its own way (e.g. `::1.2.3.4`).
      const bytes = parseIp(address);
      address = bytes === null ? '' : formatIp(bytes);
    }
    const target = this.#targets.get(targetKey(address, rinfo.port));
    if (target === undefined || target.pending !== undefined || target.expires <= now) return this.#drop('unsolicited');
    if (!withinLimits(this.#incoming, msg.byteLength, now)) return this.#drop('rateLimited');
    const datagram = Buffer.allocUnsafe(target.header.byteLength + msg.byteLength);
    datagram.set(target.header, 0);
    datagram.set(msg, target.header.byteLength);
    let queued: boolean;
    try {
      // No maxDatagramSize check first: it asks the native layer each time; a too-large datagram throws.
      queued = this.#transport.sendDatagram(datagram);
    } catch (err) {
      // Too large, or the session is ending.
      if ((err as { code?: unknown }).code === 'ERR_QUIC_DATAGRAM_TOO_LARGE') this.#drop('tooLarge');
      return;
    }
    if (!queued) return this.#drop('congested');
    this.#lastActivity = now;
    this.#context.stats.packetsToSessions++;
    this.#context.stats.bytesToSessions += msg.byteLength;
  }
}
