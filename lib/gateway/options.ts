// Options, statistics and close codes of the WebTransport-to-UDP gateway,
// and the validation of `createUdpGateway()`'s options.
import { invalidArgType, invalidArgValue } from '../errors';
import type { PemOrDer } from '../types';
import { validateInteger, validateObject, validatePemOrDer, validatePort, validateString } from '../validate';
import { parseAllowRule } from './target-policy';
import type { AddressRange, AllowRule } from './target-policy';

export type { AddressRange };

/** A UDP destination a page asked for, as the gateway's `allow` policy sees it. */
export interface UdpGatewayTarget {
  /** The destination address (IPv4-mapped IPv6 addresses are given as IPv4; IPv6 in RFC 5952 form). */
  address: string;
  /** The destination UDP port, 1-65535. */
  port: number;
  /** `'IPv4'` or `'IPv6'`. */
  family: 'IPv4' | 'IPv6';
  /** The special-purpose range the address lies in (loopback, private…), absent for a global unicast address. */
  range?: AddressRange;
}

/** The WebTransport session a target was asked for by. */
export interface UdpGatewaySessionInfo {
  /** The request's path (and query). */
  path: string;
  /** The page's origin (the request's `origin` header), if sent. */
  origin?: string;
  /** The request's headers, lower-case names. */
  headers: Record<string, string>;
}

/**
 * Decides whether a session may send to `target`. Called for the first
 * datagram to a destination (and again once the destination's mapping
 * expired), not for each datagram. A throw or rejection refuses.
 */
export type UdpGatewayAllow = (target: UdpGatewayTarget, session: UdpGatewaySessionInfo) => boolean | Promise<boolean>;

/** Options of {@link createUdpGateway}. */
export interface UdpGatewayOptions {
  /** Local address of the WebTransport (HTTP/3) server. Default `'::'` (dual-stack). */
  address?: string;
  /** Its UDP port; 0 (default) picks a free one (see {@link UdpGateway.address}). */
  port?: number;
  /** The server's private key (PEM or DER). */
  key: PemOrDer;
  /** The server's certificate (PEM or DER). For pages that pin it with `serverCertificateHashes`: ECDSA P-256, valid at most 14 days. */
  cert: PemOrDer;
  /** The URL path of the gateway (the query is ignored); other paths get 404. Default `'/udp'`. */
  path?: string;
  /**
   * Which destinations pages may reach: a function ({@link UdpGatewayAllow}),
   * or rules `ADDRESS[/PREFIX][:PORT[-PORT]]` like the CLI's `--allow`
   * (`'0.0.0.0/0'`, `'10.1.0.0/16:9000-9100'`, `'[::1]:5353'`). A rule opens
   * a special-purpose address (loopback, private, link-local, multicast,
   * broadcast, reserved, unspecified: {@link AddressRange}) only when it lies
   * inside that range, so `'0.0.0.0/0'` opens public IPv4 and nothing else.
   * A function decides alone (`target.range` names such ranges). Required.
   */
  allow: UdpGatewayAllow | readonly string[];
  /** Sessions served at once; more are refused with HTTP status 429. Default 100. */
  maxSessions?: number;
  /** Datagrams per second one session may send, and receive, each direction on its own (bursts of one second's worth); excess ones are dropped. 0 = no limit. Default 1000. */
  maxPacketRate?: number;
  /** UDP payload bytes per second one session may send, and receive, each direction on its own (bursts of one second's worth, at least 65507); excess datagrams are dropped. 0 = no limit. Default 1 MiB/s. */
  maxByteRate?: number;
  /** A session with no datagram either way for this many ms is closed (code `IDLE`). 0 = never. Default 300000 (5 min). */
  idleTimeout?: number;
  /** Destinations one session may have at once (a destination lasts `mappingTimeout` after the session last sent to it); datagrams to more are dropped. Default 1024. */
  maxTargets?: number;
  /** How long after a session last sent to a destination its replies are still let in, ms (RFC 4787 §4.3 asks at least 2 min). Default 120000. */
  mappingTimeout?: number;
}

/** Why the gateway dropped a datagram ({@link UdpGatewayStats.drops}). */
export interface UdpGatewayDrops {
  /** From a page: not in the datagram format, port 0 or an unspecified address. */
  malformed: number;
  /** From a page: the `allow` policy refused the destination. */
  refused: number;
  /** Either way: over `maxPacketRate` or `maxByteRate`. */
  rateLimited: number;
  /** From a page: a new destination while the session has `maxTargets`. */
  targetLimit: number;
  /** From a page: more than 64 datagrams waiting for asynchronous `allow` verdicts. */
  backlog: number;
  /** From the network: from an address and port the session has not sent to (or not within `mappingTimeout`). */
  unsolicited: number;
  /** From the network: too large for the session's `maxDatagramSize` with the header. */
  tooLarge: number;
  /** From the network: the session's datagram send queue was full. */
  congested: number;
  /** From a page: the UDP send failed (no route, the family is not available…). */
  sendFailed: number;
}

/** Counters of a gateway ({@link UdpGateway.stats}), from its start unless said otherwise. */
export interface UdpGatewayStats {
  /** Sessions open now. */
  sessions: number;
  /** Sessions accepted. */
  sessionsAccepted: number;
  /** Session requests refused because `maxSessions` were open (HTTP 429). */
  sessionsRefused: number;
  /** Sessions the gateway closed because they kept breaking the rules (code `VIOLATIONS`). */
  sessionsClosedForViolations: number;
  /** Sessions the gateway closed for `idleTimeout` (code `IDLE`). */
  sessionsClosedIdle: number;
  /** UDP sockets open now (one or two per session: one per address family it used). */
  udpSockets: number;
  /** Datagrams sent to UDP destinations. */
  packetsToUdp: number;
  /** UDP payload bytes sent. */
  bytesToUdp: number;
  /** Datagrams from UDP destinations delivered to pages. */
  packetsToSessions: number;
  /** UDP payload bytes of those. */
  bytesToSessions: number;
  /** Datagrams dropped, by reason. */
  drops: UdpGatewayDrops;
}

/**
 * The WebTransport close codes (CLOSE_WEBTRANSPORT_SESSION) a gateway
 * closes sessions with; a page reads them as `WebTransportCloseInfo.closeCode`.
 */
export const UDP_GATEWAY_CLOSE_CODES = {
  /** The gateway is shutting down ({@link UdpGateway.close}). */
  SHUTDOWN: 0,
  /** The session kept breaking the rules: more than 100 dropped datagrams (malformed, refused, over a rate or limit) in a burst, or more than 10 a second for longer. */
  VIOLATIONS: 1,
  /** No datagram either way for `idleTimeout` ms. */
  IDLE: 2,
  /** The session's UDP socket failed. */
  UDP_SOCKET_ERROR: 3,
  /** `maxSessions` were already open (the request raced past the 429 check). */
  SESSION_LIMIT: 4,
} as const;

/** The options after validation, defaults applied, rules parsed. */
export interface GatewayConfig {
  path: string;
  allow: UdpGatewayAllow | readonly AllowRule[];
  maxSessions: number;
  maxPacketRate: number;
  maxByteRate: number;
  idleTimeout: number;
  maxTargets: number;
  mappingTimeout: number;
}

const MAX_INT = 2 ** 31 - 1;

/** Validates `createUdpGateway()`'s options (throws `ERR_INVALID_ARG_*` / `ERR_OUT_OF_RANGE` naming the option). */
export function gatewayConfig(opts: unknown): GatewayConfig {
  validateObject(opts, 'options');
  if (opts.address !== undefined) validateString(opts.address, 'options.address');
  validatePort(opts.port, 'options.port', true);
  for (const name of ['key', 'cert']) {
    if (opts[name] === undefined) throw invalidArgType(`options.${name}`, 'a string or Buffer', undefined);
    validatePemOrDer(opts[name], `options.${name}`);
  }
  const path = opts.path ?? '/udp';
  validateString(path, 'options.path');
  if (!path.startsWith('/') || path.includes('?')) throw invalidArgValue('options.path', `must start with '/' and have no query. Received '${path}'`);
  let allow: GatewayConfig['allow'];
  if (typeof opts.allow === 'function') {
    allow = opts.allow as UdpGatewayAllow;
  } else if (Array.isArray(opts.allow)) {
    allow = opts.allow.map((rule: unknown, i) => {
      validateString(rule, `options.allow[${i}]`);
      return parseAllowRule(rule, `options.allow[${i}]`);
    });
  } else {
    throw invalidArgType('options.allow', 'a function or an array of rule strings', opts.allow);
  }
  validateInteger(opts.maxSessions, 'options.maxSessions', 1, MAX_INT);
  validateInteger(opts.maxPacketRate, 'options.maxPacketRate', 0, MAX_INT);
  validateInteger(opts.maxByteRate, 'options.maxByteRate', 0, MAX_INT);
  validateInteger(opts.idleTimeout, 'options.idleTimeout', 0, MAX_INT);
  validateInteger(opts.maxTargets, 'options.maxTargets', 1, 1 << 20);
  validateInteger(opts.mappingTimeout, 'options.mappingTimeout', 1, MAX_INT);
  return {
    path,
    allow,
    maxSessions: opts.maxSessions ?? 100,
    maxPacketRate: opts.maxPacketRate ?? 1000,
    maxByteRate: opts.maxByteRate ?? 1024 * 1024,
    idleTimeout: opts.idleTimeout ?? 300_000,
    maxTargets: opts.maxTargets ?? 1024,
    mappingTimeout: opts.mappingTimeout ?? 120_000,
  };
}
