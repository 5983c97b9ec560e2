// WebTransportSession: one WebTransport session (draft-ietf-webtrans-http3)
// on an HTTP/3 connection. Its streams are ordinary QuicStream Duplexes
// whose WebTransport header nquic writes and strips; its datagrams are HTTP
// datagrams (RFC 9297) of the session.
import { EventEmitter } from 'node:events';
import type { QuicConnection } from '../connection';
import { callNative, QuicError } from '../errors';
import type { CloseInfo } from '../errors';
import type { QuicStream } from '../stream';
import type { StreamOptions } from '../types';
import { validateBytes, validateInteger, validateObject, validateString } from '../validate';
import type { WebTransportRequest } from './options';

/** How a session ended. `code` and `reason` are the CLOSE_WEBTRANSPORT_SESSION capsule's (0 and '' without one). */
export interface WebTransportCloseInfo {
  /** The WebTransport close code, 0 to 2^32-1. */
  code: number;
  /** The close reason (UTF-8, at most 1024 bytes). */
  reason: string;
  /** Whether the peer ended it. */
  remote: boolean;
  /** Set when it ended abruptly: `ERR_QUIC_WEBTRANSPORT_SESSION_RESET`, or the connection's close error. */
  error?: QuicError;
}

/** Longest close reason sent (W3C WebTransport truncates to 1024 bytes of UTF-8). */
const MAX_REASON_BYTES = 1024;
/** How long `close()` waits for the peer to finish the session's CONNECT stream. */
const CLOSE_WAIT_MS = 2000;
const MAX_CODE = 0xffff_ffff;

/** `reason` cut to at most `max` bytes of UTF-8, on a character boundary. */
export function truncateUtf8(reason: string, max = MAX_REASON_BYTES): string {
  const bytes = Buffer.from(reason);
  if (bytes.length <= max) return reason;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}

function sessionClosed(): QuicError {
  return new QuicError('ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED', 'The WebTransport session is closed');
}

/**
 * One WebTransport session at a server (`listen({ webTransport })`, the
 * `'session'` event): an extended CONNECT (RFC 9220) that `allow` accepted,
 * on an HTTP/3 connection that may carry others. Its streams are the same
 * {@link QuicStream} Duplexes as elsewhere (nquic writes and strips their
 * WebTransport header; their reset and stop codes are WebTransport codes,
 * 0 to 2^32-1); its datagrams are HTTP datagrams (RFC 9297). It never emits
 * `'error'`.
 *
 * Events: {@link WebTransportSessionEvents} (`'stream'`, `'datagram'`,
 * `'draining'`, `'close'`).
 *
 * {@includeCode ../../examples/webtransport-server.mjs#webtransport-server}
 */
export class WebTransportSession extends EventEmitter {
  /** The session ID (its CONNECT stream's ID). */
  readonly id: number;
  /** Path and query of the request URL. */
  readonly path: string;
  /** The request's `origin` header (browsers send the page's origin). */
  readonly origin: string | undefined;
  /** Host and port the client addressed (`:authority`). */
  readonly authority: string;
  /** Request headers, lower-case names. */
  readonly headers: Record<string, string>;
  /** The HTTP/3 connection carrying the session (it may carry others). */
  readonly connection: QuicConnection;
  /** Resolves (never rejects) once the session has ended. */
  readonly closed: Promise<WebTransportCloseInfo>;
  #resolveClosed!: (info: WebTransportCloseInfo) => void;
  #closeInfo: WebTransportCloseInfo | undefined;
  readonly #streams = new Set<QuicStream>();
  /** Local close: settles once the peer finished too (or gave up). */
  #peerDone: { promise: Promise<void>; resolve: () => void } | undefined;
  #draining = false;

  /** @internal */
  constructor(connection: QuicConnection, id: number, request: WebTransportRequest) {
    super();
    this.connection = connection;
    this.id = id;
    this.path = request.path;
    this.origin = request.origin;
    this.authority = request.authority;
    this.headers = request.headers;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  #endpoint() {
    return this.connection.socket._endpoint;
  }

  /** Whether the peer asked to wind the session down (GOAWAY or DRAIN_WEBTRANSPORT_SESSION). */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Opens a stream of this session, waiting for stream credit like
   * `QuicConnection.openStream`. Rejects with
   * `ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED` once the session is over.
   */
  openStream(opts: StreamOptions = {}): Promise<QuicStream> {
    validateObject(opts, 'options');
    if (this.#closeInfo) return Promise.reject(sessionClosed());
    return this.#openStream(opts);
  }

  async #openStream(opts: StreamOptions): Promise<QuicStream> {
    const stream = await this.connection.openStream({ unidirectional: opts.unidirectional === true });
    if (this.#closeInfo) {
      stream.destroy();
      throw sessionClosed();
    }
    let header: Buffer;
    try {
      header = callNative(() => this.#endpoint().wtBindStream(this.connection.handle, stream.id, this.id));
    } catch (err) {
      stream.destroy();
      throw err;
    }
    // The stream type (or bidirectional signal) and session ID go first.
    stream.write(header);
    this.#track(stream);
    return stream;
  }

  #track(stream: QuicStream): void {
    this.#streams.add(stream);
    stream.once('close', () => this.#streams.delete(stream));
  }

  /**
   * Sends an HTTP datagram of this session; `false` when the send queue is
   * full and it was dropped. Throws `ERR_QUIC_DATAGRAM_TOO_LARGE` above
   * `maxDatagramSize`, `ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED` once closed.
   */
  sendDatagram(data: Uint8Array): boolean {
    validateBytes(data, 'data');
    if (this.#closeInfo) throw sessionClosed();
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const queued = callNative(() => this.#endpoint().wtSendDatagram(this.connection.handle, this.id, buf));
    this.connection.socket._schedule();
    return queued;
  }

  /** The largest datagram payload `sendDatagram` accepts now (0 once closed). */
  get maxDatagramSize(): number {
    if (this.#closeInfo) return 0;
    try {
      return this.#endpoint().wtMaxDatagramSize(this.connection.handle, this.id);
    } catch {
      return 0;
    }
  }

  /**
   * Closes the session with a WebTransport code (0 to 2^32-1, default 0)
   * and a reason (UTF-8, cut to 1024 bytes): the peer receives a
   * CLOSE_WEBTRANSPORT_SESSION capsule. The session's streams end at once
   * (without errors here; the peer's are reset). Resolves once the peer has
   * finished its side too (or after 2 s). Idempotent.
   */
  close(opts: { code?: number; reason?: string } = {}): Promise<void> {
    validateObject(opts, 'options');
    validateInteger(opts.code, 'options.code', 0, MAX_CODE);
    if (opts.reason !== undefined) validateString(opts.reason, 'options.reason');
    if (this.#closeInfo === undefined) {
      const code = opts.code ?? 0;
      const reason = truncateUtf8(opts.reason ?? '');
      let resolve!: () => void;
      const promise = new Promise<void>((r) => {
        resolve = r;
      });
      this.#peerDone = { promise, resolve };
      const timer = setTimeout(resolve, CLOSE_WAIT_MS);
      timer.unref();
      void promise.then(() => clearTimeout(timer));
      try {
        callNative(() => this.#endpoint().wtCloseSession(this.connection.handle, this.id, code, reason));
        this.connection.socket._schedule();
      } catch {
        resolve(); // the connection is already gone
      }
      this.#finish({ code, reason, remote: false });
    }
    return this.#peerDone?.promise ?? Promise.resolve();
  }

  /** Ends the session for the application; streams end with `streamError` (quietly without). */
  #finish(info: WebTransportCloseInfo, streamError?: QuicError): void {
    if (this.#closeInfo !== undefined) return;
    this.#closeInfo = info;
    const ending: CloseInfo = { code: info.code, reason: info.reason, remote: info.remote, application: true };
    if (streamError) ending.error = streamError;
    for (const stream of this.#streams) stream._onConnectionClosed(ending);
    this.#streams.clear();
    this.#resolveClosed(info);
    this.emit('close', info);
  }

  /** @internal A peer's stream of this session. */
  _onStream(stream: QuicStream): void {
    // Nobody accepts it: refused (STOP_SENDING and RESET_STREAM, WebTransport code 0).
    if (this.#closeInfo !== undefined || this.listenerCount('stream') === 0) {
      stream.destroy();
      return;
    }
    this.#track(stream);
    this.emit('stream', stream);
  }

  /** @internal */
  _onDatagram(data: Buffer): void {
    if (this.#closeInfo === undefined) this.emit('datagram', data);
  }

  /** @internal The peer closed the session (capsule or FIN), or finished after our close. */
  _onPeerClosed(code: number, reason: string): void {
    this.#peerDone?.resolve();
    const error = new QuicError('ERR_QUIC_WEBTRANSPORT_SESSION_CLOSED', `The peer closed the WebTransport session (code ${code})`);
    this.#finish({ code, reason, remote: true }, error);
  }

  /** @internal The session ended abruptly (its CONNECT stream was reset or malformed). */
  _onReset(): void {
    this.#peerDone?.resolve();
    const error = new QuicError('ERR_QUIC_WEBTRANSPORT_SESSION_RESET', 'The WebTransport session ended abruptly (its CONNECT stream was reset)');
    this.#finish({ code: 0, reason: '', remote: true, error }, error);
  }

  /** @internal */
  _onDraining(): void {
    if (this.#draining || this.#closeInfo !== undefined) return;
    this.#draining = true;
    this.emit('draining');
  }

  /** @internal The connection ended under the session. */
  _onConnectionClosed(info: CloseInfo): void {
    this.#peerDone?.resolve();
    const error = info.error ?? new QuicError('ERR_QUIC_CONNECTION_CLOSED', 'The connection closed before the WebTransport session ended');
    this.#finish({ code: 0, reason: '', remote: info.remote, error }, error);
  }
}
