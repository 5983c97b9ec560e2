// UdpGateway: a WebTransport server whose sessions at one path are pages'
// UDP sockets (see gateway-session.ts), with a session limit and the
// counters of all sessions.
import { performance } from 'node:perf_hooks';
import { listen } from '../api';
import type { PemOrDer, Address } from '../types';
import { GatewaySession } from './gateway-session';
import type { GatewayTransport, SessionContext } from './gateway-session';
import { gatewayConfig, UDP_GATEWAY_CLOSE_CODES } from './options';
import type { GatewayConfig, UdpGatewayOptions, UdpGatewayStats } from './options';

/** The server a gateway runs on: nquic's `QuicServer` listening with `webTransport`. */
export interface GatewayServer {
  readonly address: Address;
  setSecureContext(tls: { key: PemOrDer; cert: PemOrDer }): void;
  close(): Promise<void>;
}

function emptyStats(): UdpGatewayStats {
  return {
    sessions: 0,
    sessionsAccepted: 0,
    sessionsRefused: 0,
    sessionsClosedForViolations: 0,
    sessionsClosedIdle: 0,
    udpSockets: 0,
    packetsToUdp: 0,
    bytesToUdp: 0,
    packetsToSessions: 0,
    bytesToSessions: 0,
    drops: { malformed: 0, refused: 0, rateLimited: 0, targetLimit: 0, backlog: 0, unsolicited: 0, tooLarge: 0, congested: 0, sendFailed: 0 },
  };
}

/** The path of a request path and query. */
function pathOf(path: string): string {
  const query = path.indexOf('?');
  return query === -1 ? path : path.slice(0, query);
}

/**
 * A WebTransport-to-UDP gateway ({@link createUdpGateway}): each WebTransport
 * session at its path is one page's UDP socket, with its own UDP port. See
 * `docs/browsers.md`, "UDP from web pages: the gateway", for the datagram
 * format, the rules and the close codes ({@link UDP_GATEWAY_CLOSE_CODES}).
 */
export class UdpGateway {
  readonly #server: GatewayServer | undefined;
  readonly #sessions = new Set<GatewaySession>();
  readonly #stats = emptyStats();
  readonly #context: SessionContext;
  #closing: Promise<void> | undefined;

  /** @internal `createUdpGateway()` makes gateways; `server` is absent in unit tests. */
  constructor(config: GatewayConfig, server?: GatewayServer, now: () => number = () => performance.now()) {
    this.#server = server;
    this.#context = {
      config,
      stats: this.#stats,
      now,
      onEnd: (session) => {
        if (this.#sessions.delete(session)) this.#stats.sessions--;
      },
    };
  }

  /** The local address of the gateway's WebTransport (HTTP/3) server. */
  get address(): Address {
    if (this.#server === undefined) return { address: '::', port: 0, family: 'IPv6' };
    return this.#server.address;
  }

  /** A snapshot of the gateway's counters. */
  stats(): UdpGatewayStats {
    return { ...this.#stats, drops: { ...this.#stats.drops } };
  }

  /**
   * Replaces the server's key and certificate (a renewed certificate) for new
   * connections; sessions already open keep theirs. Throws like the server's
   * `setSecureContext` (`ERR_QUIC_INVALID_KEY`, `ERR_QUIC_INVALID_CERTIFICATE`,
   * the old ones then stay).
   */
  setSecureContext(tls: { key: PemOrDer; cert: PemOrDer }): void {
    this.#server?.setSecureContext(tls);
  }

  /**
   * Closes every session (code `SHUTDOWN`, 0) and their UDP sockets, then
   * the server. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const session of [...this.#sessions]) session.close(UDP_GATEWAY_CLOSE_CODES.SHUTDOWN, 'the gateway is shutting down');
      await this.#server?.close();
    })();
    return this.#closing;
  }

  /** @internal The server's `allow` for a session request: true, or the HTTP status that refuses it. */
  _admit(request: { path: string }): true | number {
    if (pathOf(request.path) !== this.#context.config.path) return 404;
    if (this.#closing !== undefined) return 503;
    if (this.#sessions.size >= this.#context.config.maxSessions) {
      this.#stats.sessionsRefused++;
      return 429;
    }
    return true;
  }

  /** @internal A session the server accepted. */
  _accept(transport: GatewayTransport): void {
    const refusal = this.#closing !== undefined ? UDP_GATEWAY_CLOSE_CODES.SHUTDOWN : this.#sessions.size >= this.#context.config.maxSessions ? UDP_GATEWAY_CLOSE_CODES.SESSION_LIMIT : undefined;
    if (refusal !== undefined || pathOf(transport.path) !== this.#context.config.path) {
      if (refusal === UDP_GATEWAY_CLOSE_CODES.SESSION_LIMIT) this.#stats.sessionsRefused++;
      transport.close({ code: refusal ?? UDP_GATEWAY_CLOSE_CODES.SHUTDOWN, reason: 'refused' }).catch(() => {});
      return;
    }
    this.#stats.sessions++;
    this.#stats.sessionsAccepted++;
    this.#sessions.add(new GatewaySession(transport, this.#context));
  }
}

/**
 * Starts a WebTransport-to-UDP gateway: an HTTP/3 server (ALPN `h3`) whose
 * WebTransport sessions at `opts.path` are pages' UDP sockets. Each session
 * gets its own UDP socket (its own outside port), closed with the session;
 * datagrams use the format of `nquic/udp-gateway-client` (byte 0 = 4 or 6,
 * the address, the port big-endian, the payload: the destination from the
 * page, the source towards it). Only destinations `opts.allow` allows are
 * reached, one UDP datagram per page datagram, within the rate limits; only
 * replies from destinations the session sent to come back. Bad options throw
 * synchronously (`ERR_INVALID_ARG_TYPE`, `ERR_INVALID_ARG_VALUE`,
 * `ERR_OUT_OF_RANGE`, naming the option); rejects like `listen()`
 * (`ERR_QUIC_INVALID_KEY`, `ERR_QUIC_INVALID_CERTIFICATE`, `EADDRINUSE`…).
 */
export function createUdpGateway(opts: UdpGatewayOptions): Promise<UdpGateway> {
  const config = gatewayConfig(opts);
  return (async () => {
    let gateway: UdpGateway | undefined;
    const server = await listen({
      address: opts.address,
      port: opts.port,
      key: opts.key,
      cert: opts.cert,
      alpn: ['h3'],
      webTransport: { allow: (request) => gateway?._admit(request) ?? 503 },
    });
    gateway = new UdpGateway(config, server);
    const accept = gateway._accept.bind(gateway);
    server.on('session', accept);
    return gateway;
  })();
}
