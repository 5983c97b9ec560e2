// H3Connection: the WebTransport sessions of one HTTP/3 connection, server
// or client side. The native layer (src/webtransport/) does the protocol;
// this routes its events to sessions and runs the server's `allow` policy.
import type { QuicConnection } from '../connection';
import { callNative, QuicError } from '../errors';
import type { CloseInfo } from '../errors';
import { debug } from '../debug';
import type { WebTransportRequest, WebTransportServerOptions } from './options';
import { register } from './registry';
import { WebTransportSession } from './session';

/** HTTP/3's "no error" code (RFC 9114 §8.1), for closing an HTTP/3 connection. */
const H3_NO_ERROR = 0x100;

/** The request of a `WT_REQUEST` event: `name\0value\0` pairs, pseudo-headers first. */
function parseRequest(fields: Buffer): WebTransportRequest {
  const parts = fields.toString('latin1').split('\0');
  const headers: Record<string, string> = {};
  let path = '/';
  let authority = '';
  for (let i = 0; i + 1 < parts.length; i += 2) {
    const [name, value] = [parts[i], parts[i + 1]];
    if (name === ':path') path = value;
    else if (name === ':authority') authority = value;
    else if (!name.startsWith(':')) headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  const request: WebTransportRequest = { path, authority, headers };
  if (headers.origin !== undefined) request.origin = headers.origin;
  return request;
}

/** An `allow` answer as an HTTP status. */
function statusOf(verdict: unknown): number {
  if (verdict === true) return 200;
  if (typeof verdict === 'number' && Number.isInteger(verdict) && verdict >= 200 && verdict <= 599) return verdict;
  if (typeof verdict === 'number') return 500;
  return 403;
}

/** The server side's part: its `webTransport` options and its `'session'` event. */
export interface H3Server {
  options: WebTransportServerOptions;
  /** Whether the application listens for sessions (if not, requests get 404). */
  hasListener: () => boolean;
  onSession: (session: WebTransportSession) => void;
}

interface ClientWaiter {
  /** Called synchronously, so that listeners are in place before the session's first stream or datagram. */
  onOpen: (session: WebTransportSession) => void;
  resolve: (session: WebTransportSession) => void;
  reject: (error: QuicError) => void;
  request: WebTransportRequest;
}

export class H3Connection {
  readonly connection: QuicConnection;
  readonly #sessions = new Map<number, WebTransportSession>();
  /** Server: requests whose `allow` verdict is pending. */
  readonly #requests = new Set<number>();
  /** Client: sessions waiting for the server's response. */
  readonly #waiters = new Map<number, ClientWaiter>();
  readonly #server: H3Server | undefined;
  #closing: Promise<void> | undefined;

  constructor(connection: QuicConnection, server?: H3Server) {
    this.connection = connection;
    this.#server = server;
    register(connection, this);
    connection.once('close', (info: CloseInfo) => this.#onConnectionClosed(info));
  }

  #endpoint() {
    return this.connection.socket._endpoint;
  }

  get sessionCount(): number {
    return this.#sessions.size;
  }

  /**
   * Client: opens a session; resolves once the server accepted (`onOpen`
   * runs first, synchronously). Rejects with `ERR_QUIC_WEBTRANSPORT_REFUSED`
   * (`status`: what the server answered), `ERR_QUIC_WEBTRANSPORT_UNSUPPORTED`,
   * `ERR_QUIC_WEBTRANSPORT_SESSION_RESET` (the request ended unanswered) or
   * the connection's close error.
   */
  connect(authority: string, path: string, headers: Record<string, string>, onOpen: (session: WebTransportSession) => void): Promise<WebTransportSession> {
    const flat = Object.entries(headers).flat();
    const id = callNative(() => this.#endpoint().wtConnect(this.connection.handle, authority, path, flat));
    this.connection.socket._schedule();
    const request: WebTransportRequest = { path, authority, headers };
    if (headers.origin !== undefined) request.origin = headers.origin;
    return new Promise((resolve, reject) => this.#waiters.set(id, { onOpen, resolve, reject, request }));
  }

  /** @internal Server: a session request. */
  _onRequest(id: number, fields: Buffer): void {
    const server = this.#server;
    if (!server) return;
    const request = parseRequest(fields);
    debug('WebTransport request %d on connection %d: %s', id, this.connection.handle, request.path);
    this.#requests.add(id);
    const decide = (status: number): void => {
      if (!this.#requests.delete(id)) return; // the request ended meanwhile
      try {
        callNative(() => this.#endpoint().wtRespond(this.connection.handle, id, status));
        this.connection.socket._schedule();
      } catch {
        return; // the connection is gone
      }
      if (status >= 200 && status < 300) {
        const session = new WebTransportSession(this.connection, id, request);
        this.#sessions.set(id, session);
        server.onSession(session);
      }
    };
    // Nobody listens for sessions: nothing serves this path.
    if (!server.hasListener()) return decide(404);
    const allow = server.options.allow;
    if (!allow) return decide(200);
    let verdict: ReturnType<NonNullable<typeof allow>>;
    try {
      verdict = allow(request);
    } catch {
      return decide(500);
    }
    if (verdict !== null && typeof verdict === 'object' && typeof verdict.then === 'function') {
      verdict.then(
        (v) => decide(statusOf(v)),
        () => decide(500),
      );
      return;
    }
    decide(statusOf(verdict));
  }

  /** @internal Client: the server answered a session request. */
  _onResponse(id: number, status: number): void {
    const waiter = this.#waiters.get(id);
    if (!waiter) return;
    this.#waiters.delete(id);
    if (status >= 200 && status < 300) {
      const session = new WebTransportSession(this.connection, id, waiter.request);
      this.#sessions.set(id, session);
      waiter.onOpen(session);
      waiter.resolve(session);
    } else if (status === 0) {
      waiter.reject(new QuicError('ERR_QUIC_WEBTRANSPORT_UNSUPPORTED', "The server's HTTP/3 SETTINGS do not offer WebTransport"));
    } else {
      const error = new QuicError('ERR_QUIC_WEBTRANSPORT_REFUSED', `The server refused the WebTransport session with HTTP status ${status}`);
      waiter.reject(Object.assign(error, { status }));
    }
  }

  /** Fails a client's waiting request: it ended without an answer. */
  #unanswered(id: number): void {
    this.#waiters.get(id)?.reject(new QuicError('ERR_QUIC_WEBTRANSPORT_SESSION_RESET', 'The server ended the session request without answering it'));
    this.#waiters.delete(id);
  }

  /** @internal A peer's stream of session `sessionId`. */
  _onStream(id: number, sessionId: number): void {
    const stream = this.connection._adoptRemoteStream(id);
    if (!stream) return;
    const session = this.#sessions.get(sessionId);
    if (session) session._onStream(stream);
    else stream.destroy();
  }

  /** @internal */
  _onDatagram(sessionId: number, data: Buffer): void {
    this.#sessions.get(sessionId)?._onDatagram(data);
  }

  /** @internal The session ended cleanly (or, after a local close, the peer finished too). */
  _onClosed(id: number, code: number, reason: string): void {
    this.#requests.delete(id);
    this.#unanswered(id);
    const session = this.#sessions.get(id);
    this.#sessions.delete(id);
    session?._onPeerClosed(code, reason);
  }

  /** @internal The session ended abruptly. */
  _onReset(id: number): void {
    this.#requests.delete(id);
    this.#unanswered(id);
    const session = this.#sessions.get(id);
    this.#sessions.delete(id);
    session?._onReset();
  }

  /** @internal */
  _onDraining(id: number): void {
    this.#sessions.get(id)?._onDraining();
  }

  #onConnectionClosed(info: CloseInfo): void {
    const error = info.error ?? new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection closed before the server answered');
    for (const waiter of this.#waiters.values()) waiter.reject(error);
    this.#waiters.clear();
    this.#requests.clear();
    for (const session of this.#sessions.values()) session._onConnectionClosed(info);
    this.#sessions.clear();
  }

  /**
   * Server shutdown: GOAWAY, every session closed (code 0), then the
   * connection closed with H3_NO_ERROR once the peer finished them.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    if (this.connection.destroyed) return;
    try {
      callNative(() => this.#endpoint().wtGoaway(this.connection.handle));
    } catch {
      // Not a server, or the connection is closing already.
    }
    await Promise.all([...this.#sessions.values()].map((s) => s.close()));
    await this.connection.close({ code: H3_NO_ERROR });
  }
}
